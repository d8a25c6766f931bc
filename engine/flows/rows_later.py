"""New flow instance, token and task rows: ids taken ahead, the rows written at commit in one executemany.

Every flow start inserted its instance row and its first token(s) one statement each, for the id. A
transaction that starts many flows (an intake batch, ``app.transaction()`` with many creates) now
inserts the first row of each table at once (``INSERT ... RETURNING id``, as before) and takes the ids
of the next ones ahead: on SQLite, whose write transaction holds the database's lock, the ids that
follow the one returned (SQLite gives a new row the largest id + 1); on PostgreSQL, blocks of the
table's sequence (``nextval`` over ``generate_series``, 2, 4, ... up to ``BLOCK_MAX`` ids; ids not used
by the end of the transaction are skipped, as a rollback skips them). Their rows are buffered by the
unit of work (this object is its :class:`~ordo.engine.unit_of_work.Writer`) and written with the other
buffered rows just before COMMIT, or earlier by :meth:`RowsLater.flush`, which every reader of these
tables calls first. A change to a buffered row (the instance saved, a token moved, a task claimed
or finished) is made to the row itself, as its UPDATE would have made it. Nothing refers to these
rows by a foreign key, so writing them last is the same as writing them first.

A savepoint rolled back drops the rows buffered inside it (the unit of work does) with what was taken
ahead; the next row is then inserted at once again, after writing the rows still buffered (so SQLite
gives it an id past theirs). On SQLite outside a write transaction every row is inserted at once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .. import lean, unit_of_work

BLOCK_MAX = 64  # ids taken ahead in one statement on PostgreSQL


class RowsLater(unit_of_work.Writer):
    """The buffered new rows of one flow table (one object per table, made by :mod:`.store`)."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.insert_now = sa.insert(table).returning(table.c.id)
        self.insert_many = sa.insert(table)
        name = table.name
        self.ahead = sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(name, "id"))).select_from(
            sa.func.generate_series(1, sa.bindparam("n")))
        self._index_key = ("flows.later", name)
        self._ids_key = ("flows.ids", name)

    def _index(self, uow: unit_of_work.UnitOfWork) -> tuple[Any, dict[int, dict[str, Any]]]:
        found = uow.facts.get(self._index_key)
        if found is None or found[0] is not uow.pending:  # first use, written since, or a savepoint rolled back
            found = uow.facts[self._index_key] = (uow.pending, {row["id"]: row for stmt, row in uow.pending
                                                                if stmt is self})
        return found

    def insert(self, conn: sa.Connection, row: dict[str, Any]) -> int:
        """Insert ``row`` (without its id): buffered when an id can be taken ahead; returns its id."""
        dialect = conn.dialect.name
        uow = unit_of_work.of(conn)
        ids = uow.facts.get(self._ids_key)  # [the next id, ids taken ahead (PostgreSQL), the last block's size]
        if ids is None:
            if dialect == "postgresql" or (dialect == "sqlite" and uow.locks_all):
                self.flush(conn)  # rows still buffered (a savepoint rolled back since): theirs go first
                new = int(lean.execute(conn, self.insert_now, row).scalar_one())
                uow.facts[self._ids_key] = [new + 1, None, 1] if dialect == "sqlite" else [0, [], 1]
                return new
            return int(lean.execute(conn, self.insert_now, row).scalar_one())
        taken = ids[1]
        if taken is None:  # SQLite: the ids after the last (its write lock is this transaction's)
            new = ids[0]
            ids[0] += 1
        else:
            if not taken:  # PostgreSQL: the next block of the table's sequence
                ids[2] = n = min(ids[2] * 2, BLOCK_MAX)
                taken.extend(int(r[0]) for r in lean.execute(conn, self.ahead, {"n": n}))
                taken.reverse()
            new = taken.pop()
        full = {"id": new, **row}
        unit_of_work.buffer(conn, self, full)
        self._index(uow)[1][new] = full
        return new

    def row(self, conn: sa.Connection, row_id: int) -> dict[str, Any] | None:
        """The buffered row ``row_id`` (to change in place), or None when it is in the table."""
        uow = unit_of_work.current(conn)
        if uow is None or not uow.pending:
            return None
        return self._index(uow)[1].get(row_id)

    def flush(self, conn: sa.Connection) -> None:
        """Write the buffered rows (of every table) now, if a row of this table is among them."""
        uow = unit_of_work.current(conn)
        if uow is not None and uow.pending and self._index(uow)[1]:
            unit_of_work.flush(conn)

    def write(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        lean.execute(conn, self.insert_many, rows)
