"""The registered versions of a flow's definition (one row per flow and definition hash), on the caller's
connection. An instance keeps the version it started on; :mod:`.runtime` loads an older version's graph from here."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from .. import lean
from .tables import version_table as _V

P = sa.bindparam

_VERSION_ID = sa.select(_V.c.id).where(_V.c.flow == P("flow"), _V.c.hash == P("hash"))
_LOAD_VERSION = sa.select(_V.c.flow, _V.c.hash, _V.c.definition).where(_V.c.id == P("id"))
_INSERT_VERSION = sa.insert(_V)


def version_row(conn: sa.Connection, flow: str, digest: str) -> int | None:
    r = lean.execute(conn, _VERSION_ID, {"flow": flow, "hash": digest}).first()
    return None if r is None else int(r.id)


def ensure_version(conn: sa.Connection, flow: str, digest: str, declared: Any, definition: str,
                   now: dt.datetime) -> int:
    found = version_row(conn, flow, digest)
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            lean.execute(conn, _INSERT_VERSION, {"flow": flow, "hash": digest, "definition": definition,
                                           "declared": None if declared is None else str(declared),
                                           "created_at": now})
    except sa.exc.IntegrityError:  # another process registered it first
        pass
    found = version_row(conn, flow, digest)
    assert found is not None
    return found


def load_version(conn: sa.Connection, version_id: int) -> tuple[str, str, str] | None:
    r = lean.execute(conn, _LOAD_VERSION, {"id": version_id}).first()
    return None if r is None else (r.flow, r.hash, r.definition)


_VERSION_DEFINITIONS = sa.select(_V.c.definition).where(_V.c.flow.in_(P("flows", expanding=True)))


def version_definitions(conn: sa.Connection, flows: list[str]) -> list[str]:
    """The definitions (JSON) of every registered version of ``flows``."""
    return [r[0] for r in lean.execute(conn, _VERSION_DEFINITIONS, {"flows": flows})] if flows else []
