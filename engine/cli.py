"""The ``ordo`` command line.

Commands live in small modules (``cli_app``, ``cli_records``, ...), each with a
``register(subparsers)`` function; every ``engine/cli_*.py`` module is loaded. Every
user error becomes one clear message and a non-zero exit code, never a
traceback (set ``ORDO_DEBUG=1`` to see one for a genuine bug).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exc as sa_exc

from .errors import DefinitionErrors, OrdoError, SchemaChangeRefused, ValidationFailed


def command_modules() -> list[str]:
    """Every ``cli_*`` module of the engine (a new command needs no edit here)."""
    package = __package__ or "ordo.engine"
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(importlib.import_module(package).__path__)
                  if m.name.startswith("cli_"))

EXIT_USER_ERROR = 1
EXIT_INTERNAL = 2


class CliError(OrdoError):
    """A command-line usage problem (bad parameter value, missing file)."""


def add_db_option(p: argparse.ArgumentParser, default: str = "ordo.db") -> None:
    p.add_argument("--db", default=os.environ.get("ORDO_DB", default),
                   help=f"database: a SQLite file or a URL such as postgresql+psycopg://user@host/db "
                        f"(default: $ORDO_DB or {default})")


def add_user_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", default=os.environ.get("ORDO_USER", "admin"),
                   help="acting user (default: $ORDO_USER or admin)")


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """``k=v`` pairs; values are JSON when they parse as JSON, else text."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise CliError(f"--param {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except ValueError:
            out[k.strip()] = v
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ordo", description="Ordo: a metadata-driven low-code engine. Apps are folders of YAML definitions."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in command_modules():
        importlib.import_module(name).register(sub)
    return parser


def _report(e: OrdoError) -> None:
    if isinstance(e, DefinitionErrors):
        for err in e.errors:
            print(err, file=sys.stderr)
        print(f"{len(e.errors)} error(s)", file=sys.stderr)
    elif isinstance(e, ValidationFailed):
        print(f"error: {e.entity} not saved:", file=sys.stderr)
        for err in e.errors:
            print(f"  {err}", file=sys.stderr)
    elif isinstance(e, SchemaChangeRefused):
        print("error: the database schema cannot follow the definitions without losing data:", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
    else:
        print(f"error: {e}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OrdoError as e:
        _report(e)
        return EXIT_USER_ERROR
    except sa_exc.OperationalError as e:
        print(f"error: database problem: {str(e.orig).strip().splitlines()[0] if e.orig else e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. `ordo query ... | head`
        return 0
    except Exception as e:  # a bug: say so briefly, traceback only on request
        if os.environ.get("ORDO_DEBUG"):
            raise
        print(f"internal error: {type(e).__name__}: {e}\n(set ORDO_DEBUG=1 for details and please report it)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
