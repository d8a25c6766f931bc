"""A record's version bump held back by its transaction until something could see it ("owed").

A write that changes only a record's child rows (the allocation's line locations) still bumps the record:
``version`` (optimistic locking sees every change), ``updated_at``, ``updated_by``. When the same transaction
writes the record again, that write's UPDATE sets all three anyway, so the first bump need not run at all.
Such a write may *owe* its bump: the unit of work keeps the bump's statement and values (:func:`owe`), the
record as it will be (its new version) is what the transaction knows, and the bump is

* taken over by the record's next versioned UPDATE in the transaction (:func:`fold`): that UPDATE checks the
  version the database holds (``WHERE version = :v``, a Conflict otherwise, as the bump would have raised)
  and sets the version after both writes: the database ends as the two UPDATEs would have left it;
* run before any other statement that could see it (:func:`settle_before`, a cursor event): one that names
  the record's table and writes to it, or reads its system columns (names one of them, or ``*``);
* run before a savepoint begins (so a savepoint rolled back never undoes a bump owed from before it: one
  owed inside it goes with it), and before the transaction commits.

A bump run that finds no row (the record changed under it) raises :class:`Conflict`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa

from . import lean
from .errors import Conflict

_SYSTEM = re.compile(r"\b(version|updated_at|updated_by)\b|\*(?!\s*\))")  # `*` as in count(*) reads no column
_SEES: dict[tuple[str, str], bool] = {}  # (SQL text, table) -> whether running it may see a bump owed there
_SEES_MAX = 4096
_NAMES: dict[tuple[str, str], bool] = {}  # (SQL text, table) -> whether the text names the table


class Owed(NamedTuple):
    stmt: Any  # UPDATE of the record's version, updated_at, updated_by WHERE id and version (built once)
    params: dict[str, Any]  # _id, _version (as the database holds it), version, updated_at, updated_by
    table: str
    label: str  # "entity name", for the Conflict


def owe(owed: dict[Any, Owed], key: Any, stmt: Any, params: dict[str, Any], table: str, label: str) -> None:
    """Hold back the bump of record ``key`` ((entity, id)); none is owed for it already (see :func:`fold`)."""
    owed[key] = Owed(stmt, params, table, label)


def fold(owed: dict[Any, Owed], key: Any, version: int) -> int:
    """The version of record ``key`` in the database for an UPDATE that sets its system columns: the version
    before its owed bump, which the UPDATE takes over (no longer owed); ``version`` when none is owed."""
    found = owed.pop(key, None)
    return version if found is None else found.params["_version"]


def settle(conn: sa.Connection, owed: dict[Any, Owed], keys: Iterable[Any] | None = None) -> None:
    """Run the owed bumps (those of ``keys``, or all) now."""
    for key in list(owed) if keys is None else list(keys):
        found = owed.pop(key)  # before running it: the cursor event of its own UPDATE finds nothing owed
        if lean.execute(conn, found.stmt, found.params).rowcount != 1:
            raise Conflict(f"{found.label} was changed by someone else; reload and retry")


def settle_before(conn: sa.Connection, owed: dict[Any, Owed], sql: str) -> None:
    """Before ``sql`` runs: the bumps it could see run first."""
    hits = [key for key, found in owed.items() if _sees(sql, found.table)]
    if hits:
        settle(conn, owed, hits)


def _sees(sql: str, table: str) -> bool:
    """Whether ``sql`` could see a bump owed on a row of ``table``: it names the table and either is not a
    SELECT, or reads a system column (names it, or ``*``)."""
    key = (sql, table)
    found = _SEES.get(key)
    if found is None:
        select = sql.lstrip()[:6].upper() == "SELECT"
        found = names_table(sql, table) and (not select or _SYSTEM.search(sql) is not None)
        if len(_SEES) >= _SEES_MAX:
            _SEES.clear()
        _SEES[key] = found
    return found


def names_table(sql: str, table: str) -> bool:
    """Whether the SQL text ``sql`` names ``table`` (as a whole word), decided once per (text, table): what
    held-back writes (owed bumps, :mod:`ordo.engine.held`'s UPDATEs) ask of each statement before it runs."""
    key = (sql, table)
    found = _NAMES.get(key)
    if found is None:
        found = re.search(rf"(?<!\w){re.escape(table)}(?!\w)", sql) is not None
        if len(_NAMES) >= _SEES_MAX:
            _NAMES.clear()
        _NAMES[key] = found
    return found
