"""A created record's INSERT held back until its create's write listeners are through ("held inserts").

A create inserted its record, then ran its write listeners: a flow started on create runs to its first rest
and writes what it set (its state, a review's outcome, the fields of an ``action``) as an UPDATE of the row
just inserted (an intake: every record inserted, then updated once). A create may instead hold its INSERT
(and its child rows' INSERT) back while its listeners run, when they may write the record again (its entity is
in ``app.rewrites_created``: a flow on create) and did so for an earlier create of the entity (:func:`rewritten`):
in the transaction, or, on SQLite, in this process (on PostgreSQL a transaction's first create inserts at
once). The record's id and its rows' ids are taken ahead: in a SQLite write transaction (its lock held from
``BEGIN IMMEDIATE``: nobody else writes until it ends) the ids after the last one this transaction saw
returned (SQLite gives a new row the one after the largest ever given, AUTOINCREMENT: kept per table while
nothing else inserts into it), or, for its first create, read in one statement from the tables'
``sqlite_sequence`` entries (a table made before AUTOINCREMENT is not held then); on PostgreSQL from blocks of
the table's sequence. The
record goes to the unit of work as it will be stored, and an UPDATE of the held row (:func:`fold`:
``Transaction._update_row``, the state mirror) changes the held values instead of running, its version guard
decided on the held version as the database would. The create writes what is held when its listeners are
through (one INSERT with the final values, one executemany of its child rows), or earlier:

* before any statement that names a held table or a table with a foreign key to one (a reader sees the row;
  a row linking to it finds it), from the unit of work's cursor event;
* before a savepoint begins and before COMMIT (never reached: the create writes them first).

What the database, the audit log and the listeners see is what the INSERT and the UPDATE showed: the record
created (version 1, a ``create`` audit entry), then updated (version 2, an ``update`` entry); only the
statement is saved. Only values the database gives back as bound are held (``stored_as_given``): the row
is never read back. A row the database refuses when it is written is :class:`ValidationFailed`, as its
INSERT was.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import lean
from .errors import FieldError, ValidationFailed, integrity_message
from .owed import names_table
from .pipelined import pipelined
from .stored_as_given import given_back
from .tables import SQLITE_TABLES, sqlite_autoincrement

if TYPE_CHECKING:
    from .compiled import CompiledEntity
    from .records import Transaction
    from .unit_of_work import UnitOfWork

_INSERTS: weakref.WeakKeyDictionary[sa.Table, Any] = weakref.WeakKeyDictionary()  # table -> INSERT with id
_NO_NEW_ROW = frozenset({"SELECT", "UPDATE", "DELETE"})  # statements that never insert a row
_MAY_INSERT: dict[str, bool] = {}  # SQL text -> whether it may insert a row (see _may_insert)
_MAY_INSERT_MAX = 4096  # texts kept at most (then forgotten together, as owed.names_table's)
_AHEAD: weakref.WeakKeyDictionary[sa.Table, Any] = weakref.WeakKeyDictionary()  # PostgreSQL: ids of a sequence
BLOCK_MAX = 64  # ids taken from a sequence in one statement at most
_TRIGGERS: weakref.WeakKeyDictionary[sa.Table, tuple[str, ...]] = weakref.WeakKeyDictionary()
# SQLite: tables whose records' creates were written again by their listeners in this process (their next
# create in a new transaction reads the next ids to hold its INSERT: see _first_ids)
_REWRITTEN: weakref.WeakKeyDictionary[sa.Table, bool] = weakref.WeakKeyDictionary()
_NEXT_IDS: dict[tuple[str, ...], Any] = {}  # tables -> the SELECT of their next ids
# SQLite database -> table -> whether it is AUTOINCREMENT (read once, see rewritten; one made before is not)
_AUTOINCREMENT: weakref.WeakKeyDictionary[sa.Engine, dict[str, bool]] = weakref.WeakKeyDictionary()


class HeldInserts:
    """The INSERTs a transaction holds back (in order), the ids it takes for them, what it learnt of its tables."""

    __slots__ = ("rows", "by_key", "triggers", "next_ids", "taken", "sizes", "rewritten", "settling")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, dict[str, Any], int, str]] = []  # (INSERT, row, create that held it, entity)
        self.by_key: dict[tuple[str, int], tuple[dict[str, Any], int]] = {}  # (table, id) -> (its row, create)
        self.triggers: set[str] = set()  # the tables whose naming writes what is held
        self.next_ids: dict[str, int] = {}  # table -> the id SQLite gives its next row (PostgreSQL: a row inserted)
        self.taken: dict[str, list[int]] = {}  # PostgreSQL: table -> ids taken from its sequence, not used yet
        self.sizes: dict[str, int] = {}  # PostgreSQL: table -> the size of the last block taken
        self.rewritten: set[str] = set()  # entities a record of which was written again by its write's listeners
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
        start = 0
        try:
            with pipelined(conn):  # PostgreSQL: the record's INSERT and its child rows' in one round trip
                while start < len(rows):
                    stmt = rows[start][0]
                    end = start + 1
                    while end < len(rows) and rows[end][0] is stmt:
                        end += 1
                    lean.execute(conn, stmt, [r[1] for r in rows[start:end]])
                    start = end
        except sa.exc.IntegrityError as e:  # (PostgreSQL: found when the results are read: the last row's entity)
            raise ValidationFailed(rows[min(start, len(rows) - 1)][3], [FieldError("", integrity_message(e))]) \
                from None
        finally:
            self.settling = False

    def before(self, conn: sa.Connection, sql: str) -> None:
        """Before ``sql`` runs: what is held is written if it names a trigger table; a statement that may insert
        into a table whose next id is known (not one of ours: any but a SELECT, UPDATE or DELETE) makes it
        unknown (the next create inserts at once, and learns it again)."""
        if self.rows and any(names_table(sql, t) for t in self.triggers):
            self.settle(conn)
        ids = self.next_ids
        if ids and not self.settling and _may_insert(sql):
            for named in [t for t in ids if names_table(sql, t)]:
                del ids[named]


def _may_insert(sql: str) -> bool:
    """Whether ``sql`` may insert a row (any statement but a SELECT, UPDATE or DELETE), decided once per text."""
    found = _MAY_INSERT.get(sql)
    if found is None:
        if len(_MAY_INSERT) >= _MAY_INSERT_MAX:
            _MAY_INSERT.clear()
        found = _MAY_INSERT[sql] = sql.lstrip()[:6].upper() not in _NO_NEW_ROW
    return found


def rewritten(uow: UnitOfWork, conn: sa.Connection, entity: str, table: sa.Table) -> None:
    """A record of ``entity`` (``table``) was written again while the listeners of its write ran (a flow's
    writes). SQLite: which tables of the database are AUTOINCREMENT is read the first time (see _first_ids)."""
    uow.inserts.rewritten.add(entity)
    _REWRITTEN[table] = True
    if conn.dialect.name == "sqlite" and conn.engine not in _AUTOINCREMENT:
        _AUTOINCREMENT[conn.engine] = sqlite_autoincrement(conn.exec_driver_sql(SQLITE_TABLES))


def forget_tables(engine: sa.Engine) -> None:
    """The tables of ``engine``'s SQLite database were made again (``schema_rebuild``): which of them are
    AUTOINCREMENT is read again at the next :func:`rewritten`, so the rebuilt ones hold their INSERTs at once."""
    _AUTOINCREMENT.pop(engine, None)


def learn(uow: UnitOfWork, table: sa.Table, last_id: int) -> None:
    """A row of ``table`` was just inserted with ``last_id`` (returned by the database): on SQLite the next one
    takes the id after; on PostgreSQL the next ones are held (ids from the sequence), as one create is no
    reason to take ids ahead."""
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


def hold(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """Hold back the INSERT of ``values`` (the row of ``rec``, a new record of ``ce``, without its id) and of its
    child rows; return the record as it will be stored, with its child rows, or None (nothing held: insert it
    now) when its create's listeners never write it (the entity is not in ``app.rewrites_created``) or did not
    in this transaction yet (:func:`rewritten`: holding costs PostgreSQL the statements taking ids), the table
    had no row inserted in this transaction yet (SQLite: its next id not known), or a value would not come
    back as bound."""
    uow, conn = tx.uow, tx.conn
    held = uow.inserts
    if ce.name not in tx.app.rewrites_created:
        return None
    plan = tx.plan(ce.name)
    t = plan.table
    dialect = conn.dialect.name
    first = ce.name not in held.rewritten  # (SQLite: rewritten in an earlier transaction, its ids read now)
    if first and (dialect != "sqlite" or t not in _REWRITTEN):
        return None
    ids = held.next_ids
    if len(values) + 1 != len(plan.columns) or not (uow.locks_all or dialect == "postgresql"):
        return None
    children = [(cf.name, plan.children[cf.name], rec.get(cf.name) or []) for cf in ce.table_fields]
    unknown = [table for table in (t, *(cp.table for _, cp, rows in children if rows)) if table.name not in ids]
    if unknown and (not first or not _first_ids(held, conn, unknown)):
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
    rid = _take(held, conn, t, 1)[0]
    taken = [_take(held, conn, cp.table, len(made)) if made else [] for cp, made in child_rows]
    create = len(held.rows) and held.rows[-1][2] + 1  # (after taking: PostgreSQL's may write what was held)
    row = {**values, "id": rid}
    held.rows.append((_insert(t), row, create, ce.name))
    held.by_key[(t.name, rid)] = (row, create)
    held.triggers.update(_triggers(t))
    stored = dict(row)
    for (field, _, _), (cp, made), cids in zip(children, child_rows, taken, strict=True):
        ct = cp.table
        stmt = _insert(ct)
        out = []
        for idx, (m, cid) in enumerate(zip(made, cids, strict=True), start=1):
            held.rows.append((stmt, {"id": cid, "parent_id": rid, "idx": idx, **m}, create, ce.name))
            out.append({"id": cid, "idx": idx, **m})
        if made:
            held.triggers.update(_triggers(ct))
        stored[field] = out
    return stored


def _first_ids(held: HeldInserts, conn: sa.Connection, tables: list[sa.Table]) -> bool:
    """SQLite: learn the next ids of ``tables`` (none inserted into in this transaction yet) in one statement,
    from their ``sqlite_sequence`` entries (AUTOINCREMENT: the largest id ever given; their largest id as well,
    whichever is larger). False (nothing learnt) when one of them was made before AUTOINCREMENT."""
    known = _AUTOINCREMENT.get(conn.engine)
    if known is None or not all(known.get(t.name) for t in tables):  # (a table made since: not read ahead)
        return False
    names = tuple(t.name for t in tables)
    stmt = _NEXT_IDS.get(names)
    if stmt is None:
        quote = conn.dialect.identifier_preparer.quote
        stmt = _NEXT_IDS[names] = sa.text("SELECT " + ", ".join(
            f"max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = :t{i}), 0), "
            f"coalesce((SELECT max(id) FROM {quote(n)}), 0)) + 1" for i, n in enumerate(names)))
    row = lean.execute(conn, stmt, {f"t{i}": n for i, n in enumerate(names)}).one()
    held.next_ids.update(zip(names, (int(v) for v in row), strict=True))
    return True


def _take(held: HeldInserts, conn: sa.Connection, table: sa.Table, n: int) -> list[int]:
    """``n`` ids for new rows of ``table``: on SQLite the ids after the last one known; on PostgreSQL from blocks
    of the table's sequence (2, 4, ... BLOCK_MAX ids per ``nextval`` over ``generate_series``; ids not used by
    the end of the transaction are skipped, as a rollback skips them)."""
    name = table.name
    if conn.dialect.name != "postgresql":
        first = held.next_ids[name]
        held.next_ids[name] = first + n
        return list(range(first, first + n))
    pool = held.taken.setdefault(name, [])  # in descending order: pop() gives the lowest
    while len(pool) < n:
        size = held.sizes[name] = max(min(held.sizes.get(name, 1) * 2, BLOCK_MAX), n - len(pool))
        stmt = _AHEAD.get(table)
        if stmt is None:
            stmt = _AHEAD[table] = sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(name, "id"))).select_from(
                sa.func.generate_series(1, sa.bindparam("n")))
        got = sorted(int(r[0]) for r in lean.execute(conn, stmt, {"n": size}))
        pool[:0] = got[::-1]
    return [pool.pop() for _ in range(n)]


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
