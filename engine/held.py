"""Guarded UPDATEs a SQLite write transaction holds back and writes together ("held").

An approver's transaction approving ten tasks ran, per task, the task's conditional UPDATE (``WHERE status =
'pending'``), the instance's (``WHERE rev = :rev``) and the record's state mirror (``WHERE version = :v``): 30
statements of three shapes. In a SQLite write transaction (its lock held from ``BEGIN IMMEDIATE``: nobody else
writes until it ends) the rows they guard are the ones the transaction read, so the outcome of each guard is
known when the write is asked for; the writer decides on it as the database would (a task whose status is not
the expected one is not held) and may hold the UPDATE back instead (:class:`Held`, the unit of work's
``held``). Held UPDATEs are written with one executemany per statement, in the order first held, and each
executemany's row count must be the number of rows held (each UPDATE is by primary key): otherwise the guard of
one of them failed and :class:`Conflict` fails the transaction, as the UPDATE would have. They are written

* before any other statement that names one of their tables (a reader sees them; a writer writes after them),
  from the unit of work's cursor event;
* before a second UPDATE of the same row is held (their order is kept), and before a savepoint begins (one
  rolled back never undoes what was held before it; what was held inside it goes with it);
* before a version bump is owed (:mod:`ordo.engine.owed`; the two are never pending together: a held UPDATE is
  only held while nothing is owed) and just before COMMIT.

PostgreSQL runs them at once (there, the row locks they take are part of what they guard).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from . import lean
from .errors import Conflict
from .owed import names_table


class Update(NamedTuple):
    stmt: Any  # a guarded UPDATE by primary key, built once
    params: dict[str, Any]
    table: str
    label: str  # what the row is, for the Conflict ("task 12")


class Held:
    """The UPDATEs a transaction holds back, by row key, in the order held."""

    __slots__ = ("rows", "tables")

    def __init__(self) -> None:
        self.rows: dict[Any, Update] = {}
        self.tables: set[str] = set()

    def add(self, conn: sa.Connection, key: Any, update: Update) -> None:
        if key in self.rows:  # the row's earlier UPDATE goes first
            self.settle(conn)
        self.rows[key] = update
        self.tables.add(update.table)

    def clear(self) -> None:
        self.rows = {}
        self.tables = set()

    def settle(self, conn: sa.Connection) -> None:
        """Write the held UPDATEs now: one executemany per statement; Conflict when a guard failed."""
        rows = list(self.rows.values())
        self.clear()  # before running them: their own cursor events find nothing held
        groups: dict[Any, list[Update]] = {}
        for u in rows:
            groups.setdefault(u.stmt, []).append(u)
        for stmt, updates in groups.items():
            if lean.execute(conn, stmt, [u.params for u in updates]).rowcount != len(updates):
                what = updates[0].label if len(updates) == 1 else "one of " + ", ".join(u.label for u in updates)
                raise Conflict(f"{what} was changed by someone else meanwhile; reload and retry")

    def settle_before(self, conn: sa.Connection, sql: str) -> None:
        """Before ``sql`` runs: everything held, if it names a table of a held UPDATE."""
        if any(names_table(sql, table) for table in self.tables):
            self.settle(conn)

