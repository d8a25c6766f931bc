"""What every command shares: option helpers, parameter parsing and the CLI error type."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..actor import OWNER, UserLike
from ..coerce import CoercionError, parse_json
from ..errors import OrdoError

if TYPE_CHECKING:
    from ..app import App

EXIT_USER_ERROR = 1
EXIT_INTERNAL = 2


class CliError(OrdoError):
    """A command-line usage problem (bad parameter value, missing file)."""


def add_db_option(p: argparse.ArgumentParser, default: str = "ordo.db") -> None:
    p.add_argument("--db", default=os.environ.get("ORDO_DB", default),
                   help=f"database: a SQLite file or a URL such as postgresql+psycopg://user@host/db "
                        f"(default: $ORDO_DB or {default})")


def add_user_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", default=os.environ.get("ORDO_USER") or None,
                   help="act as this user, with their roles and permissions (default: $ORDO_USER, else the "
                        "database owner 'admin', who may do everything)")


def add_create_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--create", action="store_true",
                   help="create the database and its tables if they do not exist yet "
                        "(otherwise the database must hold the app: see `ordo sync`)")


def acting_user(args: argparse.Namespace) -> UserLike:
    """The user named by --user / $ORDO_USER, else the database owner."""
    return getattr(args, "user", None) or OWNER


def open_for(args: argparse.Namespace, app: Any = None) -> App:
    """Open the command's app on its database without creating or changing anything, unless the
    command has --create and it was given (then the database and tables are created or synced).
    A database that does not exist, holds another app or is behind the definitions is refused."""
    from ..app import open_app

    create = bool(getattr(args, "create", False))
    return open_app(app if app is not None else args.app, args.db, sync=create, create=create)


def parse_params(items: Sequence[str] | None, option: str = "--param") -> dict[str, Any]:
    """``k=v`` pairs; values are JSON when they parse as JSON, else text."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise CliError(f"{option} {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = parse_json(v)
        except CoercionError as e:
            if str(e).startswith("not valid JSON"):
                out[k.strip()] = v
            else:
                raise CliError(f"{option} {k.strip()}: {e}") from None
    return out


def read_text_file(path: str | Path, what: str = "file") -> str:
    """The text of a UTF-8 file; a clear error naming the file when it cannot be read or is not UTF-8."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {what} {p}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CliError(f"{p}:{line}: {what} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                       f"save it as UTF-8") from None


def read_json_arg(raw: str, what: str = "data", values: bool = False) -> Any:
    """JSON given on the command line, or ``@FILE`` holding it (UTF-8, nesting bounded; with
    ``values`` its numbers and text are checked too, else coercion checks them field by field)."""
    source = what
    text = raw
    if raw.startswith("@"):
        source = raw[1:]
        text = read_text_file(source, "JSON file")
    try:
        return parse_json(text, values)
    except CoercionError as e:
        msg = str(e)
        raise CliError(f"{source} is {msg}" if msg.startswith("not valid JSON") else f"{source}: {msg}") from None
