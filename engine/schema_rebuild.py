"""SQLite: tables of records and child rows made before ids were never given again, rebuilt so they are.

SQLite gives a new row the largest id in its table plus one, so the id of the newest record, once deleted,
went to the next one, and what named it (the audit log, flow instances, assignments) then named another
record. Tables made since are ``AUTOINCREMENT`` (``tables.build_table``): SQLite keeps the largest id ever
given in ``sqlite_sequence`` and never goes below it. A table made before is rebuilt by schema sync in
SQLite's documented way (a new table, the rows copied, the old one dropped, the new one renamed, its indexes
made again, no link broken that was not before), with foreign key enforcement off for that transaction
(a dropped table's rows would otherwise be deleted, and with them their child rows). Its ``sqlite_sequence`` entry starts past
the largest id the database still names: the table's own, and for a record table the audit log's, the flow
instances' and the assignments' (a deleted newest record is named there). PostgreSQL's sequences never gave
an id again: nothing to do there.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import held_inserts
from .compiled import CompiledApp
from .db import writer_lock
from .errors import SchemaChangeRefused
from .tables import SQLITE_TABLES, build_table, sqlite_autoincrement

_NOTE = "ids of deleted records never given again (SQLite AUTOINCREMENT)"
# (table, entity column, id column): where a record's id is named outside its table
_NAMED_IN = (("ordo_audit", "entity", "record_id"), ("ordo_flow_instance", "entity", "record_id"),
             ("ordo_assignment", "entity", "record_id"))


def pending(conn: sa.Connection, compiled: CompiledApp) -> list[str]:
    """The tables to rebuild (SQLite tables of ``compiled`` made without AUTOINCREMENT), as sync lists them."""
    return [f"rebuild table {name}: {_NOTE}" for name in _old_tables(conn, compiled)]


def _old_tables(conn: sa.Connection, compiled: CompiledApp) -> list[str]:
    if conn.dialect.name != "sqlite":
        return []
    return _without_autoincrement(conn.exec_driver_sql(SQLITE_TABLES).all(), compiled)


def _without_autoincrement(rows: Any, compiled: CompiledApp) -> list[str]:
    made = sqlite_autoincrement(rows)
    return [s.name for s in compiled.specs if made.get(s.name) is False]


def rebuild(engine: sa.Engine, compiled: CompiledApp) -> list[str]:
    """Rebuild the tables :func:`pending` names, in one transaction of their own (after the schema is in
    sync); return what was done. Foreign keys left broken would refuse the whole rebuild (nothing changed)."""
    if engine.dialect.name != "sqlite":
        return []
    with engine.connect() as conn:
        old = _old_tables(conn, compiled)
    if not old:
        return []
    meta = sa.MetaData()
    tables = {s.name: build_table(s, meta) for s in compiled.specs}  # as a new database makes them
    specs = {s.name: s for s in compiled.specs}
    queue = writer_lock(engine)
    if queue is not None:
        queue.acquire()
    raw = engine.raw_connection()
    try:
        db = raw.driver_connection
        db.execute("PRAGMA foreign_keys=OFF")  # (no transaction open: the pragma is taken)
        db.execute("BEGIN IMMEDIATE")
        try:
            # read again under the write lock: another process may have rebuilt them meanwhile
            present = db.execute(SQLITE_TABLES).fetchall()
            old = _without_autoincrement(present, compiled)
            named_in = [n for n in _NAMED_IN if n[0] in {name for name, _ in present}]
            known = len(db.execute("PRAGMA foreign_key_check").fetchall())  # (a link broken before is not ours)
            for name in old:
                _rebuild_one(db, engine.dialect, tables[name], specs[name], named_in)
            broken = db.execute("PRAGMA foreign_key_check").fetchall()
            if len(broken) > known:
                raise SchemaChangeRefused([f"rebuilding {', '.join(old)} would leave {len(broken)} broken "
                                           f"link(s), e.g. in {broken[0][0]} row {broken[0][1]} (nothing was changed)"])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        try:
            raw.driver_connection.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()
            if queue is not None:
                queue.release()
    held_inserts.forget_tables(engine)  # this process's note of which tables are AUTOINCREMENT: read again
    return [f"rebuilt table {name}: {_NOTE}" for name in old]


def _rebuild_one(db: Any, dialect: Any, table: sa.Table, spec: Any, named_in: list[tuple[str, str, str]]) -> None:
    prep = dialect.identifier_preparer
    name, temp = prep.format_table(table), prep.quote(f"ordo_rebuild_{table.name}")
    create = str(sa.schema.CreateTable(table).compile(dialect=dialect)).strip()
    head = f"CREATE TABLE {name} ("
    assert create.startswith(head), create[:80]
    cols = ", ".join(prep.quote(c) for c in spec.columns)  # (not its generated columns)
    db.execute(f"CREATE TABLE {temp} ({create[len(head):]}")
    db.execute(f"INSERT INTO {temp} ({cols}) SELECT {cols} FROM {name}")
    db.execute(f"DROP TABLE {name}")
    db.execute(f"ALTER TABLE {temp} RENAME TO {name}")
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        db.execute(str(sa.schema.CreateIndex(index).compile(dialect=dialect)))
    top = db.execute(f"SELECT max(id) FROM {name}").fetchone()[0] or 0
    if spec.parent is None:
        for other, entity, rid in named_in:
            found = db.execute(f"SELECT max({rid}) FROM {other} WHERE {entity} = ?", (spec.entity,)).fetchone()[0]
            top = max(top, found or 0)
    if db.execute("SELECT 1 FROM sqlite_sequence WHERE name = ?", (table.name,)).fetchone() is None:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table.name, top))
    else:
        db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (top, table.name))
