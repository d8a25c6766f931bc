"""What every command shares: option helpers, parameter parsing and the CLI error type."""

from __future__ import annotations

import argparse
import gc
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordo.dsl.expr.limits import INT_MAX

from ..actor import OWNER, UserLike
from ..coerce import CoercionError, parse_json
from ..errors import OrdoError
from ..i18n import env_lang

if TYPE_CHECKING:
    from ..app import App

EXIT_USER_ERROR = 1
EXIT_INTERNAL = 2
PAGE = 50  # rows a table view shows by default


class CliError(OrdoError):
    """A command-line usage problem (bad parameter value, missing file)."""


def add_db_option(p: argparse.ArgumentParser, default: str = "ordo.db") -> None:
    p.add_argument("--db", default=os.environ.get("ORDO_DB", default),
                   help=f"database: a SQLite file or a URL such as postgresql+psycopg://user@host/db "
                        f"(default: $ORDO_DB or {default})")


def add_user_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", default=os.environ.get("ORDO_USER") or None,
                   help="act as this user, with their roles and permissions (default: $ORDO_USER, else the "
                        "database owner 'admin', who may do everything); the user must exist and be enabled")
    p.set_defaults(acts_as_user=True)


def add_create_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--create", action="store_true",
                   help="create the database and its tables if they do not exist yet "
                        "(otherwise the database must hold the app: see `ordo sync`)")


def add_lang_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", default=env_lang(),
                   help="language of labels, option values and headings, e.g. en or zh (default: $ORDO_LANG "
                        "or en)")


def add_page_options(p: argparse.ArgumentParser, what: str = "rows") -> None:
    """--limit / --offset, validated by :func:`page_args` (a clear error, exit 1)."""
    p.add_argument("--limit", metavar="N", help=f"at most N {what} (the table shows {PAGE} by default; "
                                                 "--format csv/json exports every one unless given)")
    p.add_argument("--offset", metavar="N", default="0", help=f"skip the first N {what}")


def page_args(args: argparse.Namespace) -> tuple[int | None, int]:
    """(limit or None, offset) from --limit / --offset; negative or non-numeric values are refused."""
    return count_arg(getattr(args, "limit", None), "--limit"), count_arg(getattr(args, "offset", None), "--offset") or 0


def count_arg(text: str | int | None, option: str) -> int | None:
    if text is None or isinstance(text, int):
        return text
    try:
        n = int(text.strip())
    except ValueError:
        raise CliError(f"{option} must be a whole number (0 or more), got {text!r}") from None
    if n < 0:
        raise CliError(f"{option} must be 0 or more, got {n}")
    if n > INT_MAX:
        raise CliError(f"{option.lstrip('-')} must be between 0 and {INT_MAX}, got {text.strip()}")
    return n


def long_lived() -> None:
    """Freeze every object that exists now out of the cyclic garbage collector's reach (``gc.freeze``: they are
    never collected, nor walked by its collections again) and resume it. Only for a process that runs one
    command line, paused the collector at its start (``ordo/__main__.py``) and made long-lived objects since."""
    gc.freeze()
    gc.enable()


def acting_user(args: argparse.Namespace) -> UserLike:
    """The user named by --user / $ORDO_USER, else the database owner."""
    return getattr(args, "user", None) or OWNER


def open_for(args: argparse.Namespace, app: Any = None) -> App:
    """Open the command's app on its database without creating or changing anything, unless the
    command has --create and it was given (then the database and tables are created or synced).
    A database that does not exist, holds another app or is behind the definitions is refused. When the
    database keeps the app's definitions (see ``ordo serve``), their published version is opened."""
    from ..app import open_app
    from ..definitions.opening import open_stored

    create = bool(getattr(args, "create", False))
    target = app if app is not None else args.app
    paused = getattr(args, "gc_paused", False)
    if paused:
        gc.disable()  # what opening makes (the app, its compiled parts, modules) lives as long as the process
    try:
        opened = (open_app(target, args.db, sync=create, create=create) if not isinstance(target, (str, Path))
                  else open_stored(target, args.db, sync=create, create=create))
    finally:
        if paused:
            long_lived()
    if getattr(args, "acts_as_user", False) and getattr(args, "user", None):
        try:
            check_acting_user(opened, args.user)
        except BaseException:
            opened.close()
            raise
    return opened


def check_acting_user(app: App, name: str) -> None:
    """Refuse ``--user NAME`` for a user that is not in the app's directory or is disabled: the command
    line runs with the database owner's authority and acts only as real, enabled users."""
    from ..users import Directory

    with app.engine.connect() as conn:
        info = Directory(conn).get(name)
    if info is None:
        raise CliError(f"--user {name}: no such user in database {app.db_label!r} (add one with "
                       f"`ordo user add APP {name}`)")
    if not info.active:
        raise CliError(f"--user {name}: the user is disabled (enable them with `ordo user enable`)")


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
