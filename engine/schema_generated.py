"""Generated columns in schema sync (``tables.GeneratedColumn``, e.g. a report's stored time bucket),
and the indexes of a table as the database holds them (also those on expressions, which
SQLAlchemy does not reflect on SQLite).

A generated column holds nothing but what the database computes from its row, so sync adds it
when a definition asks for it and drops it (with the indexes reading it) when none does. Neither
database lets a column change under a generated column that reads it: when its source column is
renamed, converted or dropped, the generated column is dropped first and added again after.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .tables import TableSpec, index_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from .schema_sync import Plan


def _q(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def index_names(conn: sa.Connection, table: str) -> set[str]:
    """The names of the indexes of ``table`` (on SQLite also those on expressions, which
    SQLAlchemy does not reflect)."""
    if conn.dialect.name == "sqlite":
        return {r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))}
    return {i["name"] for i in sa.inspect(conn).get_indexes(table)}


def indexes_reading(conn: sa.Connection, table: str, column: str) -> list[tuple[str, str | None]]:
    """(name, CREATE statement on SQLite) of each index of ``table`` that reads ``column``: on SQLite
    also an index on an expression (a stored report bucket's), which SQLAlchemy does not reflect and
    which SQLite refuses to keep when the column is dropped."""
    if conn.dialect.name == "sqlite":
        word = re.compile(rf"(?<![\w$]){re.escape(column)}(?![\w$])")
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                    "AND sql IS NOT NULL", (table,))
        return [(name, sql) for name, sql in rows if word.search(sql.split(" ON ", 1)[-1])]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        return [(i["name"], None) for i in sa.inspect(conn).get_indexes(table) if column in i["column_names"]]


def indexes_on(spec: TableSpec, snap: dict, column: str) -> set[str]:
    """The names of the indexes (created earlier or wanted now) that read ``column``."""
    pairs = [*((tuple(c), u) for c, u in snap.get("indexes", [])), *spec.indexes]
    return {index_name(spec.name, cols, unique) for cols, unique in pairs if column in cols}


def plan_generated(plan: Plan, spec: TableSpec, ddl_table: Callable[[], sa.Table], snap: dict, start: int,
                    changed: set[str], have: set[str]) -> dict[str, dict[str, str]]:
    """Generated columns (tables.GeneratedColumn) to add, and those to drop first because their
    source column is renamed, converted or dropped, or their expression changed (re-added after:
    both databases refuse to change a column a generated column reads). Return the generated columns
    that stay in place (name -> snapshot); ``have`` loses the indexes dropped with them. ``ddl_table()``: the
    table as the database holds it (built only when a generated column is added)."""
    old: dict[str, dict[str, str]] = dict(snap.get("generated", {}))
    for gname, was in list(old.items()):
        g = spec.generated.get(gname)
        if was.get("source") in changed or (g is not None and g.snapshot() != was):
            indexes = indexes_on(spec, snap, gname)
            plan.actions.insert(start, drop_generated(spec.name, gname, indexes))
            plan.statements.append(f"drop generated column {spec.name}.{gname} (its source changes)")
            have -= indexes
            del old[gname]
    for gname, g in spec.generated.items():
        if gname not in old:
            plan.actions.append(add_generated(spec.name, ddl_table().c[gname]))
            plan.statements.append(f"add generated column {spec.name}.{gname} ({g.purpose or g.signature})")
    return old


def add_generated(table: str, column: sa.Column):
    """``ALTER TABLE ADD COLUMN name TYPE GENERATED ALWAYS AS (...)``: the database computes it
    for the rows already there (PostgreSQL rewrites the table once)."""
    def run(conn: sa.Connection) -> None:
        spec = conn.dialect.ddl_compiler(conn.dialect, None).get_column_specification(column)
        conn.exec_driver_sql(f"ALTER TABLE {_q(conn, table)} ADD COLUMN {spec}")

    return run


def drop_generated(table: str, column: str, indexes: set[str]):
    """Drop generated ``column`` after the indexes reading it (``indexes``: those the snapshots name)."""
    def run(conn: sa.Connection) -> None:
        for name in sorted(indexes):
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_q(conn, name)}")
        for name, _ in indexes_reading(conn, table, column):
            conn.exec_driver_sql(f"DROP INDEX {_q(conn, name)}")
        conn.exec_driver_sql(f"ALTER TABLE {_q(conn, table)} DROP COLUMN {_q(conn, column)}")

    return run
