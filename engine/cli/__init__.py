"""The ``ordo`` command line.

Commands live in small modules of this package (``records``, ``flow``, ...), each with a
``register(subparsers)`` function; every module but ``common`` is loaded. Every
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

from .common import (
    EXIT_INTERNAL,
    EXIT_USER_ERROR,
    CliError,
    add_db_option,
    add_user_option,
    long_lived,
    parse_params,
)

__all__ = ["CliError", "add_db_option", "add_user_option", "build_parser", "main", "parse_params"]

from ..errors import DefinitionErrors, OrdoError, SchemaChangeRefused, ValidationFailed


def command_modules() -> list[str]:
    """Every command module of this package (a new command needs no edit here)."""
    package = __package__ or "ordo.engine.cli"
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(__path__)
                  if m.name not in ("common", "__main__"))

def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``ordo`` parser; ``only``: the command that will run, the only one whose arguments are declared (an
    argparse parser per command costs ~0.3 ms, mostly gettext looking for translations). When no module
    declares ``only`` (a typo) every command is, so the error lists them all."""
    parser = argparse.ArgumentParser(
        prog="ordo", description="Ordo: a metadata-driven low-code engine. Apps are folders of YAML definitions."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    target: Any = sub if only is None else _Only(sub, only)
    for name in command_modules():
        importlib.import_module(name).register(target)
    if only is not None and not target.found:
        return build_parser()
    return parser


class _Only:
    """The subparsers action as command modules see it when only the command ``name`` will run: the others'
    declarations go to :class:`_Ignored`."""

    def __init__(self, sub: Any, name: str) -> None:
        self.sub, self.name, self.found = sub, name, False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self.name and self.name not in kwargs.get("aliases", ()):
            return _Ignored()
        self.found = True
        return self.sub.add_parser(name, **kwargs)


class _Ignored:
    """A parser, group or subparsers action of a command that will not run: takes every declaration, keeps none."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


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


def main(argv: Sequence[str] | None = None, *, gc_paused: bool = False) -> int:
    """Run a command line (default: this process's). ``gc_paused``: the caller (``ordo/__main__.py``, the
    process's entry) paused the cyclic garbage collector before importing Ordo: what exists now (modules,
    the parser) lives as long as the process, so it is frozen out of the collector's reach before the
    collector resumes; the command may pause it again while it opens its app (``common.long_lived``)."""
    given = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(given[0] if given and not given[0].startswith("-") else None)
    args = parser.parse_args(given)
    if gc_paused:
        args.gc_paused = True
        long_lived()
    try:
        return int(args.func(args) or 0)
    except OrdoError as e:
        _report(e)
        return EXIT_USER_ERROR
    except sa_exc.OperationalError as e:
        print(f"error: database problem: {str(e.orig).strip().splitlines()[0] if e.orig else e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except sa_exc.DataError as e:  # e.g. integer arithmetic beyond 64 bits inside a PostgreSQL filter
        print(f"error: the database could not compute a value: "
              f"{str(e.orig).strip().splitlines()[0] if e.orig else e}", file=sys.stderr)
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

