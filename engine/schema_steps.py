"""The DDL steps a schema sync plan runs (schema_sync.py plans them; each is a callable of the
connection, run in the plan's one transaction): columns added, renamed, dropped, widened or
converted value by value, tables and indexes dropped and created."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .coerce import CoercionError
from .errors import OrdoError
from .migrations import converted
from .schema_generated import indexes_reading


def quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def add_column(table: str, column: sa.Column, link_target: str | None):
    def run(conn: sa.Connection) -> None:
        ddl = f"ALTER TABLE {quote(conn, table)} ADD COLUMN {quote(conn, column.name)} {column.type.compile(conn.dialect)}"
        if link_target and conn.dialect.name == "sqlite":
            ddl += f" REFERENCES {quote(conn, link_target)}(id)"
        conn.exec_driver_sql(ddl)
        if link_target and conn.dialect.name != "sqlite":
            fk = quote(conn, f"fk_{table}_{column.name}"[:63])
            conn.exec_driver_sql(f"ALTER TABLE {quote(conn, table)} ADD CONSTRAINT {fk} FOREIGN KEY "
                                 f"({quote(conn, column.name)}) REFERENCES {quote(conn, link_target)}(id)")

    return run


def rename(table: str, old: str, new: str):
    def run(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"ALTER TABLE {quote(conn, table)} RENAME COLUMN {quote(conn, old)} TO {quote(conn, new)}")

    return run


def drop_column(table: str, column: str):
    def run(conn: sa.Connection) -> None:
        for name, _ in indexes_reading(conn, table, column):
            conn.exec_driver_sql(f"DROP INDEX {quote(conn, name)}")
        conn.exec_driver_sql(f"ALTER TABLE {quote(conn, table)} DROP COLUMN {quote(conn, column)}")

    return run


def drop_table(table: str):
    def run(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"DROP TABLE {quote(conn, table)}")

    return run


def alter_type(table: str, column: sa.Column):
    def run(conn: sa.Connection) -> None:
        if conn.dialect.name == "sqlite":
            return  # SQLite columns are not length- or precision-limited
        conn.exec_driver_sql(f"ALTER TABLE {quote(conn, table)} ALTER COLUMN {quote(conn, column.name)} "
                             f"TYPE {column.type.compile(conn.dialect)}")

    return run


def converted_values(conn: sa.Connection, table: str, column: str,
                      field: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Every stored value of ``column`` converted to the field's new type the way input is
    (``engine.coerce``): (the new values by row id, the rows that do not convert)."""
    has_name = "name" in {c["name"] for c in sa.inspect(conn).get_columns(table)}
    cols = f"id, {quote(conn, 'name') if has_name else 'NULL'}, {quote(conn, column)}"
    values: list[dict[str, Any]] = []
    bad: list[str] = []
    for rid, name, value in conn.exec_driver_sql(f"SELECT {cols} FROM {quote(conn, table)} ORDER BY id"):
        try:
            new = converted(field, value)
        except (CoercionError, OrdoError) as e:
            bad.append(f"{name or f'row {rid}'}: {value!r} ({e})")
            continue
        values.append({"_id": rid, "_v": new})
    return values, bad


def convert(table: str, column: sa.Column, values: list[dict[str, Any]]):
    """Rewrite every value as converted in Python (checked beforehand), so no value is lost or
    changed by a database cast (SQLite would turn 'alpha' into 0)."""
    def run(conn: sa.Connection) -> None:
        t, name, type_sql = column.table, column.name, column.type.compile(conn.dialect)
        if conn.dialect.name == "sqlite":  # no ALTER TYPE: a new column takes the values and the name
            target = "ordo_converting"
            conn.exec_driver_sql(f"ALTER TABLE {quote(conn, table)} ADD COLUMN {target} {type_sql}")
            write = sa.table(table, sa.column("id"), sa.column(target, column.type))
        else:
            conn.exec_driver_sql(f"ALTER TABLE {quote(conn, table)} ALTER COLUMN {quote(conn, name)} TYPE {type_sql} "
                                 f"USING NULL")
            target, write = name, t
        if values:
            conn.execute(sa.update(write).where(write.c.id == sa.bindparam("_id"))
                         .values({target: sa.bindparam("_v", type_=column.type)}), values)
        if conn.dialect.name == "sqlite":
            indexes = indexes_reading(conn, table, name)
            drop_column(table, name)(conn)
            conn.exec_driver_sql(f"ALTER TABLE {quote(conn, table)} RENAME COLUMN {target} TO {quote(conn, name)}")
            for _, create in indexes:  # as they were (their columns, unique, expressions)
                conn.exec_driver_sql(create or "")

    return run


def duplicates(conn: sa.Connection, table: str, cols: tuple[str, ...], shown: int = 3) -> list[str]:
    """A few sets of values that several rows share in ``cols`` (NULLs never clash)."""
    names = ", ".join(quote(conn, c) for c in cols)
    not_null = " AND ".join(f"{quote(conn, c)} IS NOT NULL" for c in cols)
    rows = conn.exec_driver_sql(f"SELECT {names}, COUNT(*) FROM {quote(conn, table)} WHERE {not_null} "
                                f"GROUP BY {names} HAVING COUNT(*) > 1 LIMIT {shown}").all()
    return [f"{', '.join(repr(v) for v in r[:-1])} in {r[-1]} records" for r in rows]


def drop_index(table: str, name: str):
    def run(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(conn, name)}")

    return run


def create_index(table: sa.Table, name: str):
    def run(conn: sa.Connection) -> None:
        for idx in table.indexes:
            if idx.name == name:
                idx.create(conn)

    return run
