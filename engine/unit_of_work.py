"""The unit of work of one database transaction: what the store already knows, and what it still has to write.

Every :class:`~ordo.engine.records.Transaction` on a connection shares the connection's unit of work (a flow's
writer, a report's ``run_as`` runner and the caller see the same records), kept on the ``Connection`` object (an
attribute: no ``conn.info`` property chain per look-up) for as long as the database transaction lasts:

* an identity map of the records loaded or written in the transaction: ``(entity, id)`` -> the whole record
  with its child rows, as it is in the transaction now (no read after a write, no re-read before an update).
  A record written or read ``FOR UPDATE`` is *locked* (PostgreSQL); on SQLite a write transaction holds the
  database's write lock, so every record it read is current;
* related aggregates (``sum(orders.total)`` over records linking here) by their owner's values, dropped when
  a row of a table they read is written (unless the rows written are the owner's own and the aggregate
  leaves its owner out: ``id != parent.id``);
* rows only ever inserted (audit log, history), buffered and written with one ``executemany`` per table when
  the transaction commits (or when something reads them first: :func:`flush`);
* version bumps of records held back until the record's next write takes them over, or something could see
  them (:mod:`ordo.engine.owed`), and, in a SQLite write transaction, guarded UPDATEs held back until something
  could see them (:mod:`ordo.engine.held`: :func:`hold`).

A savepoint rolled back (``conn.begin_nested()``: a failed intake row, a job handler that failed) drops what
the map learned since and the audit rows buffered inside it; the whole transaction rolled back drops the unit
of work. Code that writes an entity's table directly (not through ``tx.create/update/delete``) calls
:meth:`UnitOfWork.forget` for the rows it changed.

This module knows nothing of the App: it is plain state (the statements it runs are built once:
:mod:`ordo.engine.write_plan`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from . import lean
from .db import writing
from .held import Held, Update
from .held_inserts import HeldInserts
from .owed import Owed, settle, settle_before
from .pipelined import pipelined

Record = dict[str, Any]
_KEY = "ordo_unit_of_work"
_WATCHED = "ordo_unit_of_work_watched"  # an engine whose events watch() hooked (its own attribute: no WeakSet test)


class UnitOfWork:
    """What one database transaction knows of its records, and the audit rows it still has to write."""

    def __init__(self, root: Any, locks_all: bool) -> None:
        self.root = root  # the database transaction this belongs to
        self.locks_all = locks_all  # SQLite write transaction: the database is locked, every read is current
        self.records: dict[tuple[str, int], Record] = {}
        self.tables: dict[tuple[str, int], tuple[str, ...]] = {}  # the keys of a known record holding child rows
        self.names: dict[tuple[str, str], int] = {}
        self.locked: set[tuple[str, int]] = set()
        self.created: set[tuple[str, int]] = set()  # records inserted in this transaction (none of their rows before)
        self.targets: dict[tuple[str, Any], Any] = {}  # link values written -> their row (for any reader)
        self.aggregates: dict[Any, Any] = {}  # (aggregate, owner values) -> value
        self.reading: dict[str, set[Any]] = {}  # table -> the aggregates (keys above) that read it
        # aggregate key -> (entity, id its rows leave out, where the id is in the key's owner values)
        self.excluding: dict[Any, tuple[str, Any, int]] = {}
        self.pending: list[tuple[Any, dict[str, Any]]] = []  # (INSERT statement, row), written at commit
        # open savepoints, innermost last: [how many rows still buffered were buffered before it, the rows
        # buffered before it that a flush wrote inside it (a rollback to it undoes them: buffered again)]
        self.marks: list[list[Any]] = []
        # what other modules read once per transaction and keep current themselves (their own keys), e.g. the
        # running flow instances of a record
        self.facts: dict[Any, Any] = {}
        self.writes = 0  # how many writes the transaction told the unit of work about (see changed)
        self.owed: dict[tuple[str, int], Owed] = {}  # record -> its version bump held back (see owed)
        self.held = Held()  # guarded UPDATEs held back (SQLite write transactions, see held)
        self.inserts = HeldInserts()  # a create's INSERTs held back, next ids (SQLite, see held_inserts)

    # -- the identity map
    def get(self, entity: str, key: int | str, *, for_update: bool = False) -> Record | None:
        """A copy of the record with id (int) or name (str) ``key`` if known (and, ``for_update``, locked)."""
        rid = key if isinstance(key, int) else self.names.get((entity, key))
        if rid is None:
            return None
        rec = self.records.get((entity, rid))
        if rec is None or (for_update and not self.locks_all and (entity, rid) not in self.locked):
            return None
        return _copy(rec, self.tables[(entity, rid)])

    def put(self, entity: str, rec: Record, *, locked: bool = False, tables: tuple[str, ...] | None = None) -> None:
        """Remember ``rec`` (the whole record, with its child rows) as it is in the transaction now; ``tables``:
        the keys holding its child rows, when the caller knows them (else found by their lists)."""
        key = (entity, rec["id"])
        if tables is None:
            tables = tuple([k for k, v in rec.items() if type(v) is list])
        self.tables[key] = tables
        self.records[key] = _copy(rec, tables)
        if rec.get("name") is not None:
            self.names[(entity, rec["name"])] = rec["id"]
        if locked:
            self.locked.add(key)

    def patch(self, entity: str, record_id: int, values: Record) -> None:
        """A record known to the map was written directly with ``values`` (e.g. a flow's state mirror)."""
        known = self.records.get((entity, record_id))
        if known is not None:
            known.update(values)
            self.tables[(entity, record_id)] = tuple(k for k, v in known.items() if type(v) is list)

    def forget(self, entity: str, record_id: int | None = None) -> None:
        """Drop a record (or every record of ``entity``) changed or deleted without the map knowing it."""
        if record_id is None:
            for key in [k for k in self.records if k[0] == entity]:
                self.records.pop(key)
                self.tables.pop(key, None)
        else:
            self.records.pop((entity, record_id), None)
            self.tables.pop((entity, record_id), None)

    def changed(self, tables: tuple[str, ...], record: tuple[str, Any] | None = None) -> None:
        """Rows of ``tables`` (an entity's table, its child tables) were written: aggregates reading them are
        stale, except, when the rows written are those of one ``record`` ((entity, id)), the aggregates
        whose rows leave that record out (``id != parent.id`` of that record)."""
        self.writes += 1
        for table in tables:
            keys = self.reading.pop(table, None)
            if not keys:
                continue
            kept = set()
            for key in keys:
                excluded = self.excluding.get(key)
                if record is not None and excluded is not None and excluded[:2] == record:
                    kept.add(key)
                else:
                    self.aggregates.pop(key, None)
                    self.excluding.pop(key, None)
            if kept:
                self.reading[table] = kept

    # -- related aggregates
    def aggregate(self, key: Any) -> tuple[bool, Any]:
        if key in self.aggregates:
            return True, self.aggregates[key]
        return False, None

    def remember_aggregate(self, tables: frozenset[str], key: Any, value: Any,
                           excluded: tuple[str, Any, int] | None = None) -> None:
        self.aggregates[key] = value
        if excluded is not None:
            self.excluding[key] = excluded
        for table in tables:
            self.reading.setdefault(table, set()).add(key)

    def remember_rows(self, table: str, key: tuple[str, str, Any], rows: list[Record]) -> None:
        """The whole rows of entity ``key[0]`` (table ``table``) whose field ``key[1]`` holds ``key[2]``, by id,
        as a reader found them: kept (as a related aggregate is) until a row of ``table`` is written."""
        self.remember_aggregate(frozenset((table,)), ("rows", key), rows)

    def known_rows(self, key: tuple[str, str, Any]) -> list[Record] | None:
        """Copies of the rows remembered for ``key`` (see :meth:`remember_rows`), or None."""
        found = self.aggregates.get(("rows", key))
        return None if found is None else [r.copy() for r in found]

    def adopt(self, entity: str, record_id: int) -> None:
        """A record of ``entity`` was just inserted with ``record_id``: the aggregates computed for it before it
        had an id that leave their owner out (its related rows are the others) are its own now. It is one of
        :attr:`created` (what other tables know of it, e.g. its assignments, was all made in this transaction)."""
        self.created.add((entity, record_id))
        for key, (ent, rid, pos) in list(self.excluding.items()):
            if ent != entity or rid is not None:
                continue
            node, values = key
            new_key = (node, (*values[:pos], record_id, *values[pos + 1:]))
            self.aggregates[new_key] = self.aggregates.pop(key)
            self.excluding.pop(key)
            self.excluding[new_key] = (entity, record_id, pos)
            for keys in self.reading.values():
                if key in keys:
                    keys.discard(key)
                    keys.add(new_key)

    # -- savepoints (nested in order: SQLAlchemy releases or rolls back the innermost first)
    def _savepoint(self) -> None:
        self.marks.append([len(self.pending), []])

    def _release(self) -> None:
        if self.marks:
            self.marks.pop()

    def _flushing(self) -> None:
        """The buffered rows are about to be written inside the open savepoints: each keeps those buffered
        before it began (its rollback undoes their INSERTs, not their being owed)."""
        for mark in self.marks:
            if mark[0]:
                mark[1].extend(self.pending[:mark[0]])
                mark[0] = 0

    def _rollback_to(self) -> None:
        if self.marks:
            before, rewritten = self.marks.pop()
            if rewritten:  # written inside it, undone with it: buffered again, in order, first
                again = {id(p) for p in rewritten}
                for mark in self.marks:  # an outer savepoint's own rows among them are buffered again too
                    kept = [p for p in mark[1] if id(p) not in again]
                    mark[0] += len(mark[1]) - len(kept)
                    mark[1] = kept
            self.pending[:] = [*rewritten, *self.pending[:before]]
        self.owed.clear()  # owed inside the savepoint (those from before it ran when it began)
        self.held.clear()  # likewise
        self.inserts.forget_ids()  # (never holding here: its create wrote them before the savepoint began)
        # what was read or written since is unknown now: forget everything (cheap to reload)
        self.records.clear()
        self.tables.clear()
        self.names.clear()
        self.locked.clear()
        self.created.clear()
        self.aggregates.clear()
        self.reading.clear()
        self.excluding.clear()
        self.targets.clear()
        self.facts.clear()


def _copy(rec: Record, tables: tuple[str, ...]) -> Record:
    """A copy callers may change: the child rows under ``tables`` copied one by one, values are immutable."""
    out = rec.copy()
    for k in tables:
        out[k] = [r.copy() if type(r) is dict else r for r in rec[k]]
    return out


def of(conn: sa.Connection) -> UnitOfWork:
    """The unit of work of ``conn``'s current transaction (created on first use)."""
    root = conn._transaction  # conn.get_transaction() without the call (asked several times per write)
    uow = conn.__dict__.get(_KEY)
    if uow is not None and uow.root is root:
        return uow
    engine = conn.engine
    if _WATCHED not in engine.__dict__:
        watch(engine)
    write = writing(conn) and conn.dialect.name == "sqlite"
    uow = UnitOfWork(root, locks_all=write)
    conn.__dict__[_KEY] = uow
    return uow


def current(conn: sa.Connection) -> UnitOfWork | None:
    uow = conn.__dict__.get(_KEY)
    return uow if uow is not None and uow.root is conn._transaction else None


def buffer(conn: sa.Connection, insert: Any, row: dict[str, Any]) -> None:
    """Queue a row for ``insert`` (a statement built once); written when the transaction commits (or
    :func:`flush`), with the other rows of that statement in one executemany."""
    of(conn).pending.append((insert, row))


def flush(conn: sa.Connection) -> None:
    """Write the buffered rows now (before reading their table)."""
    uow = current(conn)
    if uow is not None and uow.pending:
        if uow.marks:
            uow._flushing()
        _write(conn, uow)


def holds(conn: sa.Connection) -> UnitOfWork | None:
    """The unit of work of ``conn``'s transaction if it may hold guarded UPDATEs back (a SQLite write transaction
    with no version bump owed, see :mod:`ordo.engine.held`), else None."""
    uow = current(conn)
    return uow if uow is not None and uow.locks_all and not uow.owed else None


def hold(uow: UnitOfWork, conn: sa.Connection, key: Any, stmt: Any, params: dict[str, Any], table: str,
         label: str) -> None:
    """Hold back the guarded UPDATE ``stmt`` of row ``key`` (``uow``: from :func:`holds`), whose guard the caller
    knows to hold: written before anything could see it, its row count checked (see :mod:`ordo.engine.held`)."""
    uow.held.add(conn, key, Update(stmt, params, table, label))


def settle_held(conn: sa.Connection) -> None:
    """Write the UPDATEs held back now (before a version bump is owed, see :mod:`ordo.engine.owed`)."""
    uow = current(conn)
    if uow is not None and uow.held.rows:
        uow.held.settle(conn)


class Writer:
    """Buffered rows that need more than one executemany of a statement (``buffer(conn, writer, row)``):
    :meth:`write` is given the rows in order when they are written. One that reads what its statements did
    (``reads_results``: a row count) is not sent together with the others (see :mod:`ordo.engine.pipelined`)."""

    reads_results = False

    def write(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError


def _write(conn: sa.Connection, uow: UnitOfWork) -> None:
    pending, uow.pending = uow.pending, []
    groups: dict[Any, list[dict[str, Any]]] = {}
    for insert, row in pending:
        groups.setdefault(insert, []).append(row)
    if len(groups) == 1 or conn.dialect.name != "postgresql":
        for insert, rows in groups.items():
            _write_rows(conn, insert, rows)
        return
    with contextlib.ExitStack() as together:  # PostgreSQL: the statements sent together, one round trip
        sending = False
        for insert, rows in groups.items():
            if isinstance(insert, Writer) and insert.reads_results:
                together.close()  # what was sent is answered first
                sending = False
            elif not sending:
                together.enter_context(pipelined(conn))
                sending = True
            _write_rows(conn, insert, rows)


def _write_rows(conn: sa.Connection, insert: Any, rows: list[dict[str, Any]]) -> None:
    if isinstance(insert, Writer):
        insert.write(conn, rows)
    else:
        lean.execute(conn, insert, rows)


def watch(engine: sa.Engine) -> None:
    """Hook the transaction events of ``engine`` once: buffered rows written before COMMIT, state dropped
    with a rollback, savepoints tracked."""
    if _WATCHED in engine.__dict__:
        return
    engine.__dict__[_WATCHED] = True

    def on_commit(conn: sa.Connection) -> None:
        kept = conn.__dict__
        uow = kept.get(_KEY)
        if uow is None:
            return
        try:
            if uow.root is conn.get_transaction():
                if uow.inserts.rows:
                    uow.inserts.settle(conn)
                if uow.held.rows:
                    uow.held.settle(conn)
                if uow.owed:
                    settle(conn, uow.owed)
                if uow.pending:
                    _write(conn, uow)
        finally:
            kept.pop(_KEY, None)

    def on_rollback(conn: sa.Connection) -> None:
        conn.__dict__.pop(_KEY, None)

    def on_savepoint(conn: sa.Connection, name: Any) -> None:
        uow = of(conn)
        if uow.inserts.rows:
            uow.inserts.settle(conn)
        if uow.held.rows:  # a savepoint rolled back must not undo what was held before it
            uow.held.settle(conn)
        if uow.owed:  # a savepoint rolled back must not undo a bump owed from before it
            settle(conn, uow.owed)
        uow._savepoint()  # even before anything was buffered: rows buffered inside go with it

    def before_cursor(conn: sa.Connection, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> Any:
        uow = conn.__dict__.get(_KEY)
        if uow is not None:
            inserts = uow.inserts
            if inserts.rows or inserts.next_ids:  # INSERTs held back first (rows the UPDATEs below may guard)
                inserts.before(conn, sql)
            if uow.held.rows:  # UPDATEs held back on a table this statement names run first
                uow.held.settle_before(conn, sql)
            if uow.owed:  # bumps this statement could see run first
                settle_before(conn, uow.owed, sql)
        return sql, params

    def on_release(conn: sa.Connection, name: str, context: Any) -> None:
        uow = current(conn)
        if uow is not None:
            uow._release()

    def on_rollback_savepoint(conn: sa.Connection, name: str, context: Any) -> None:
        uow = current(conn)
        if uow is not None:
            uow._rollback_to()

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    event.listen(engine, "savepoint", on_savepoint)
    event.listen(engine, "release_savepoint", on_release)
    event.listen(engine, "rollback_savepoint", on_rollback_savepoint)
    event.listen(engine, "before_cursor_execute", before_cursor, retval=True)
