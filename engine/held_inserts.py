"""A created record's INSERT held back until its create's write listeners are through ("held inserts").

A create inserted its record, then ran its write listeners: a flow started on create runs to its first rest
and writes what it set (its state, a review's outcome, the fields of an ``action``) as an UPDATE of the row
just inserted (the OMS intake: every order inserted, then updated once). In a SQLite write transaction (its
lock held from ``BEGIN IMMEDIATE``: nobody else writes until it ends) a create may instead hold its INSERT
(and its child rows' INSERT) back while its listeners run: the record's id and its rows' ids are taken ahead
(SQLite gives a new row the largest id + 1: the ids after the last one this transaction saw returned, kept
per table while nothing else inserts into it), the record goes to the unit of work as it will be stored, and
an UPDATE of the held row (:func:`fold`: ``Transaction._update_row``, the state mirror) changes the held
values instead of running, its version guard decided on the held version as the database would. The create
writes what is held when its listeners are through (one INSERT with the final values, one executemany of
its child rows), or earlier:

* before any statement that names a held table or a table with a foreign key to one (a reader sees the row;
  a row linking to it finds it), from the unit of work's cursor event;
* before a savepoint begins and before COMMIT (never reached: the create writes them first).

What the database, the audit log and the listeners see is what the INSERT and the UPDATE showed: the record
created (version 1, a ``create`` audit entry), then updated (version 2, an ``update`` entry); only the
statement is saved. Only values the database gives back as bound are held (``stored_as_given``): the row
is never read back. PostgreSQL, and a table whose next id is not known, insert at once as before.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import lean
from .errors import FieldError, ValidationFailed, integrity_message
from .owed import names_table
from .stored_as_given import given_back

if TYPE_CHECKING:
    from .unit_of_work import UnitOfWork

_INSERTS: weakref.WeakKeyDictionary[sa.Table, Any] = weakref.WeakKeyDictionary()  # table -> INSERT with id
_NO_NEW_ROW = frozenset({"SELECT", "UPDATE", "DELETE"})  # statements that never insert a row
_TRIGGERS: weakref.WeakKeyDictionary[sa.Table, tuple[str, ...]] = weakref.WeakKeyDictionary()


class HeldInserts:
    """The INSERTs a SQLite write transaction holds back (in order), and the next id of the tables it knows."""

    __slots__ = ("rows", "by_key", "triggers", "next_ids", "settling")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, dict[str, Any], int, str]] = []  # (INSERT, row, create that held it, entity)
        self.by_key: dict[tuple[str, int], tuple[dict[str, Any], int]] = {}  # (table, id) -> (its row, create)
        self.triggers: set[str] = set()  # the tables whose naming writes what is held
        self.next_ids: dict[str, int] = {}  # table -> the id SQLite gives its next row
        self.settling = False

    def clear(self) -> None:
        self.rows, self.by_key, self.triggers = [], {}, set()

    def forget_ids(self) -> None:
        """A savepoint rolled back: the rows inserted inside it are gone (ids not known any more)."""
        self.clear()
        self.next_ids = {}

    def settle(self, conn: sa.Connection) -> None:
        """Write what is held now, in order (a run of rows of one statement: one executemany). A row the database
        refuses (a constraint the validation did not foresee) is :class:`ValidationFailed`, as its INSERT was."""
        rows = self.rows
        self.clear()  # before running them: their own cursor events find nothing held
        self.settling = True
        try:
            start = 0
            while start < len(rows):
                stmt = rows[start][0]
                end = start + 1
                while end < len(rows) and rows[end][0] is stmt:
                    end += 1
                try:
                    lean.execute(conn, stmt, [r[1] for r in rows[start:end]])
                except sa.exc.IntegrityError as e:
                    raise ValidationFailed(rows[start][3], [FieldError("", integrity_message(e))]) from None
                start = end
        finally:
            self.settling = False

    def before(self, conn: sa.Connection, sql: str) -> None:
        """Before ``sql`` runs: what is held is written if it names a trigger table; a statement that may insert
        into a table whose next id is known (not one of ours: any but a SELECT, UPDATE or DELETE) makes it
        unknown (the next create inserts at once, and learns it again)."""
        if self.rows and any(names_table(sql, t) for t in self.triggers):
            self.settle(conn)
        if self.next_ids and not self.settling and sql.lstrip()[:6].upper() not in _NO_NEW_ROW:
            for t in [t for t in self.next_ids if names_table(sql, t)]:
                del self.next_ids[t]


def learn(uow: UnitOfWork, table: sa.Table, last_id: int) -> None:
    """A row of ``table`` was just inserted with ``last_id`` (returned by SQLite): the next one takes the id after."""
    if uow.locks_all:
        uow.inserts.next_ids[table.name] = last_id + 1


def _insert(table: sa.Table) -> Any:
    found = _INSERTS.get(table)
    if found is None:
        found = _INSERTS[table] = sa.insert(table)
    return found


def _triggers(table: sa.Table) -> tuple[str, ...]:
    """``table`` and the tables with a foreign key to it (built once per table)."""
    found = _TRIGGERS.get(table)
    if found is None:
        found = _TRIGGERS[table] = (table.name, *sorted(
            t.name for t in table.metadata.tables.values() if any(fk.column.table is table for fk in t.foreign_keys)))
    return found


def hold(uow: UnitOfWork, dialect: str, entity: str, plan: Any, children: list[tuple[str, Any, list[dict[str, Any]]]],
         values: dict[str, Any]) -> dict[str, Any] | None:
    """Hold back the INSERT of ``values`` (a record of ``entity``, without its id; ``plan`` its write plan) and
    of its child rows (``children``: (field, child plan, rows as given)); return the record as it will be
    stored, with its child rows, or None (nothing held: insert it now) when an id is not known or a value
    would not come back as bound."""
    ids = uow.inserts.next_ids
    t = plan.table
    if not uow.locks_all or t.name not in ids or len(values) + 1 != len(plan.columns):
        return None
    for _, cp, rows in children:
        if rows and cp.table.name not in ids:
            return None
    if not given_back(t, dialect, values):
        return None
    child_rows: list[tuple[Any, list[dict[str, Any]]]] = []
    for _, cp, rows in children:
        columns = cp.columns[2:]  # parent_id, idx, then the child's stored fields
        made = [{c: r.get(c) for c in columns} for r in rows]
        if any(r.get("id") is not None for r in rows) or not all(given_back(cp.table, dialect, m) for m in made):
            return None
        child_rows.append((cp, made))
    held = uow.inserts
    create = len(held.rows) and held.rows[-1][2] + 1
    rid = ids[t.name]
    ids[t.name] = rid + 1
    row = {**values, "id": rid}
    held.rows.append((_insert(t), row, create, entity))
    held.by_key[(t.name, rid)] = (row, create)
    held.triggers.update(_triggers(t))
    stored = dict(row)
    for (field, _, _), (cp, made) in zip(children, child_rows, strict=True):
        ct = cp.table
        stmt = _insert(ct)
        out = []
        for idx, m in enumerate(made, start=1):
            cid = ids[ct.name]
            ids[ct.name] = cid + 1
            held.rows.append((stmt, {"id": cid, "parent_id": rid, "idx": idx, **m}, create, entity))
            out.append({"id": cid, "idx": idx, **m})
        if made:
            held.triggers.update(_triggers(ct))
        stored[field] = out
    return stored


def fold(uow: UnitOfWork, table: str, record_id: int, version: int, values: dict[str, Any]) -> bool:
    """An UPDATE of ``values`` (columns) on the row ``record_id`` of ``table`` guarded by ``version``, made to
    its held INSERT instead (the guard holds: the row is this transaction's, as held); False when the row is
    not held, its guard fails (the UPDATE runs, after what is held, and finds it changed), or a later create
    holds rows too (they are written after it, so the row may not change to name them)."""
    held = uow.inserts
    found = held.by_key.get((table, record_id))
    if found is None or held.rows[-1][2] != found[1] or found[0]["version"] != version:
        return False
    found[0].update(values)
    return True
