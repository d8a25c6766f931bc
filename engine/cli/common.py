"""What every command shares: option helpers, parameter parsing and the CLI error type."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..actor import OWNER, UserLike
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
