"""Jobs written at commit: a new flow token's timer buffered by the unit of work, not one INSERT each.

A job whose unique key was made from something created in the same transaction (a flow token just
inserted: ``flowtimer:<instance>:<token>:<index>``) cannot be held by a live job, and nobody needs its
id. :meth:`Later.add` buffers its row (``unit_of_work.buffer``); the rows are written in order with one
executemany of ``INSERT ... ON CONFLICT (unique_key) DO NOTHING`` just before COMMIT, or earlier when
something reads or writes the job table in the transaction (:meth:`Later.flush`: the claim, a prefix
cancel, ``ensure_scheduled``, ``enqueue``, ``list_jobs`` / ``count_jobs``). A key taken after all (the
executemany wrote fewer rows) gets the usual replacement for the rows not written: the live job is retired
(cancelled, key released) and the row inserted. A buffered job cancelled by its key in the transaction
(the token left its node) is changed in place, as the cancel's UPDATE would have changed its row: written
``cancelled`` with no key, no statement. A savepoint rolled back drops the rows buffered inside it (the
unit of work does), and the index of buffered keys with its facts.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from . import lean, unit_of_work

_FACT = "jobs.later"  # uow.facts: (the pending list indexed, {key: row} of live buffered jobs, rows buffered)


@functools.cache
def _insert_ignore(table: sa.Table, dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (unique_key) DO NOTHING`` (no RETURNING: run as one executemany)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return None
    return insert(table).on_conflict_do_nothing(index_elements=[table.c.unique_key])


class Later(unit_of_work.Writer):
    """The buffered new-key jobs of the job table (one per process, made by :mod:`.jobs`)."""

    def __init__(self, table: sa.Table, retire_key: Any, insert: Any) -> None:
        self.table, self.retire_key, self.insert = table, retire_key, insert
        t = table
        self.by_key = sa.select(t.c.kind, t.c.payload, t.c.run_at, t.c.created_at, t.c.status).where(
            t.c.unique_key == sa.bindparam("_key"))

    def usable(self, conn: sa.Connection) -> bool:
        return _insert_ignore(self.table, conn.dialect.name) is not None

    def _index(self, uow: unit_of_work.UnitOfWork) -> tuple[Any, dict[str, dict[str, Any]], int]:
        found = uow.facts.get(_FACT)
        if found is None or found[0] is not uow.pending:  # first use, written since, or a savepoint rolled back
            rows = [row for stmt, row in uow.pending if stmt is self]
            found = uow.facts[_FACT] = (uow.pending, {r["unique_key"]: r for r in rows
                                                      if r["unique_key"] is not None}, len(rows))
        return found

    def add(self, conn: sa.Connection, row: dict[str, Any]) -> None:
        """Buffer the job ``row`` (its key new in this transaction; a buffered one with the key is replaced)."""
        uow = unit_of_work.of(conn)
        pending, live, n = self._index(uow)
        held = live.pop(row["unique_key"], None)
        if held is not None:
            _retire(held)
        unit_of_work.buffer(conn, self, row)
        live[row["unique_key"]] = row
        uow.facts[_FACT] = (pending, live, n + 1)

    def cancel(self, conn: sa.Connection, key: str) -> int | None:
        """Cancel the buffered job holding ``key`` (1), or None when no buffered job holds it."""
        uow = unit_of_work.current(conn)
        if uow is None or not uow.pending:
            return None
        held = self._index(uow)[1].pop(key, None)
        if held is None:
            return None
        _retire(held)
        return 1

    def flush(self, conn: sa.Connection) -> None:
        """Write the buffered rows now (those of the job table and every other), if any job is buffered."""
        uow = unit_of_work.current(conn)
        if uow is not None and uow.pending and self._index(uow)[2]:
            unit_of_work.flush(conn)

    reads_results = True  # the executemany's row count

    def write(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        stmt = _insert_ignore(self.table, conn.dialect.name)
        if lean.execute(conn, stmt, rows).rowcount == len(rows):
            return
        for row in rows:  # a key was taken after all: the rows not written replace the live job holding it
            key = row["unique_key"]
            if key is None:
                continue
            found = lean.execute(conn, self.by_key, {"_key": key}).first()
            if found is not None and tuple(found) == (row["kind"], row["payload"], row["run_at"], row["created_at"],
                                                      row["status"]):
                continue  # ours, written by the executemany
            lean.execute(conn, self.retire_key, {"_key": key})
            lean.execute(conn, self.insert, row)


def _retire(row: dict[str, Any]) -> None:
    """What the cancel's (or the replacement's) UPDATE does to a pending job, on its buffered row."""
    if row["status"] == "pending":
        row["status"] = "cancelled"
    row["unique_key"] = None
