"""Data migrations declared in definitions, run once at schema sync and recorded.

A field declares what happens to the values already stored when the definition changes:

* ``renamed_from: old`` renames the column (values kept);
* ``converted_from: <old type>`` converts every stored value to the new type, as input is converted, or
  with ``convert: <rule>`` (an expression over ``:old``); a value that does not convert refuses the sync
  and names the record (nothing changed);
* ``map_values: {old: new}`` rewrites stored values once (e.g. after an option was renamed).

Schema sync plans them with the rest of the schema change, applies everything in one transaction and
writes one row per migration to ``ordo_migrations`` (``ordo migrations APP``). A value mapping recorded
there never runs again, even if it stays in the definition; dropped columns and tables are recorded too.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from ordo.dsl.expr import Env, compile_expression
from ordo.dsl.field import FieldDef, conversion_scope

from .coerce import CoercionError, coerce
from .tables import SYSTEM_METADATA, id_column

migrations_table = sa.Table(
    "ordo_migrations",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("table_name", sa.String(140), nullable=False),
    sa.Column("field", sa.String(140), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),  # rename, convert, map, drop
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=True),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)


def map_detail(mapping: dict[str, Any]) -> str:
    return json.dumps(mapping, sort_keys=True, ensure_ascii=False, default=str)


def applied_maps(conn: sa.Connection) -> set[tuple[str, str, str]]:
    """(table, field, mapping) of the value mappings already run on this database."""
    if not sa.inspect(conn).has_table(migrations_table.name):
        return set()
    rows = conn.execute(sa.select(migrations_table.c.table_name, migrations_table.c.field,
                                  migrations_table.c.detail).where(migrations_table.c.kind == "map"))
    return {(r.table_name, r.field, r.detail) for r in rows}


def converted(field: FieldDef, value: Any) -> Any:
    """A stored value of the field's old type, converted to its new type (by its rule, if any)."""
    if value is not None and field.convert:
        rule = compile_expression(field.convert, conversion_scope(field.converted_from or "string"))
        value = rule({}, Env(params={"old": value}))
    return coerce(field, value)


def value_map(field: FieldDef) -> tuple[dict[Any, Any], list[str]]:
    """The field's ``map_values`` with keys and values as stored (and the entries that do not convert)."""
    out: dict[Any, Any] = {}
    bad: list[str] = []
    for old, new in (field.map_values or {}).items():
        try:
            stored = coerce(field, old)
        except CoercionError:
            stored = old  # an old value the field no longer accepts (e.g. a removed option): as written
        try:
            out[stored] = None if new is None else coerce(field, new)
        except CoercionError as e:
            bad.append(f"{old!r} -> {new!r} ({e})")
    return out, bad


def count_mapped(conn: sa.Connection, table: str, column: str, olds: list[Any]) -> int:
    t = sa.table(table, sa.column(column))
    return conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c[column].in_(olds))).scalar_one()


def map_action(table: str, column: sa.Column, mapping: dict[Any, Any]):
    """Rewrite the stored values of ``column`` old -> new in one statement (a -> b, b -> c maps a to b)."""
    def run(conn: sa.Connection) -> None:
        t = sa.table(table, sa.column(column.name, column.type))
        col = t.c[column.name]
        new = sa.case({old: sa.literal(v, column.type) if v is not None else sa.null()
                       for old, v in mapping.items()}, value=col)
        conn.execute(sa.update(t).where(col.in_(list(mapping))).values({column.name: new}))

    return run


def record(conn: sa.Connection, records: list[dict[str, Any]], now: dt.datetime | None = None) -> None:
    if records:
        at = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        conn.execute(sa.insert(migrations_table), [{**r, "applied_at": at} for r in records])


def history(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every recorded migration, oldest first."""
    if not sa.inspect(conn).has_table(migrations_table.name):
        return []
    rows = conn.execute(sa.select(migrations_table).order_by(migrations_table.c.id))
    return [dict(r._mapping) for r in rows]
