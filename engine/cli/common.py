"""What every command shares: option helpers, parameter parsing and the CLI error type."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from ..errors import OrdoError

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
