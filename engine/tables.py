"""SQLAlchemy Core tables generated from entity metadata.

Each entity gets a table named after it with system columns (id, name,
created_at/by, updated_at/by, version) and one typed column per stored field;
each table field gets a child table ``<entity>__<field>`` (id, parent_id, idx,
and the child entity's fields). Engine-owned tables (``ordo_*``) live in
:data:`SYSTEM_METADATA`, declared by the module that owns them.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import util as sa_util
from sqlalchemy.ext.compiler import compiles

from ordo.dsl.entity import EntityDef
from ordo.dsl.expr import types as T
from ordo.dsl.expr.sqltypes import ExactDecimal
from ordo.dsl.field import FieldDef

SYSTEM_METADATA = sa.MetaData()
# BIGINT ids; on SQLite an INTEGER PRIMARY KEY (the rowid), which autoincrements
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def id_column() -> sa.Column:
    """The auto-incremented ``id`` primary key every Ordo table has."""
    return sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True)


class PartialIndex(sa.Index):
    """An index of the rows matching ``where`` (SQL that SQLite and PostgreSQL both read), declared without
    dialect arguments (``sqlite_where=``, ``postgresql_where=``): their validation imports the dialect they
    name. The where-clause joins a dialect's options when that dialect's DDL first asks for them, so declaring
    one loads no dialect (a SQLite process never imports SQLAlchemy's PostgreSQL dialect)."""

    DIALECTS = ("sqlite", "postgresql")

    def __init__(self, name: str, *columns: str, where: str) -> None:
        super().__init__(name, *columns)
        self.where = sa.text(where)

    @functools.cached_property
    def dialect_options(self) -> Any:  # sqlalchemy.sql.base.DialectKWArgs.dialect_options, filled per dialect
        def options(dialect: str) -> Any:
            found = self._kw_reg_for_dialect_cls(dialect)
            if dialect in self.DIALECTS:
                found["where"] = self.where
            return found

        return sa_util.PopulateDict(options)


MAX_IDENT = 63  # PostgreSQL identifier limit


def ident(name: str) -> str:
    """A database identifier no longer than PostgreSQL allows (hash-suffixed when cut)."""
    if len(name) <= MAX_IDENT:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENT - 9]}_{digest}"


def child_table_name(entity: str, field_name: str) -> str:
    return ident(f"{entity}__{field_name}")


def type_signature(f: FieldDef, computed: T.Type | None = None) -> str:
    """A stable description of a field's column type, stored to detect type changes."""
    t = f.type
    if t in ("decimal", "money"):
        p, s = f.decimal_shape()
        return f"decimal({p},{s})"
    if t == "string":
        return f"string({f.max_length})" if f.max_length else "string"
    if t == "enum":
        return "string"
    if t == "link":
        return f"link({f.entity})"
    if t == "computed":
        kind = computed.kind if computed is not None else "any"
        return {"string": "text", "record": "integer"}.get(kind, "decimal(38,10)" if kind == "decimal" else kind)
    return t


def sa_column_type(signature: str) -> sa.types.TypeEngine:
    """Column type for a type signature (see :func:`type_signature`)."""
    if signature == "decimal(38,10)":  # computed values: no declared scale
        return ExactDecimal(38, 10, trim=True)
    if signature.startswith("decimal("):
        p, s = signature[8:-1].split(",")
        return ExactDecimal(int(p), int(s))
    if signature.startswith("string("):
        return sa.String(int(signature[7:-1]))
    if signature.startswith("link("):
        return sa.BigInteger()
    return {
        "string": sa.String(),
        "text": sa.Text(),
        "integer": sa.BigInteger(),
        "boolean": sa.Boolean(),
        "date": sa.Date(),
        "datetime": sa.DateTime(),
        "json": sa.JSON(),
        "any": sa.Text(),
        "null": sa.Text(),
    }[signature]


@dataclass(frozen=True)
class GeneratedColumn:
    """A column the database computes from other columns of its row (``GENERATED ALWAYS AS``):
    VIRTUAL on SQLite (the only kind ``ALTER TABLE ADD COLUMN`` allows there), STORED on
    PostgreSQL; indexable on both. Never written by the store and never read as a record field.

    ``signature`` describes the expression (stored in the schema snapshot to detect changes);
    ``expr(table)`` builds it over the table's columns (it must compile to an immutable
    expression on every dialect); ``source``: the column it is computed from."""

    signature: str
    type: str  # a type signature (see type_signature)
    source: str
    expr: Callable[[sa.Table], Any]
    purpose: str = ""  # shown by `ordo sync --dry-run`

    def snapshot(self) -> dict[str, str]:
        """What the schema snapshot keeps of it (to notice a change, and what it reads)."""
        return {"expr": self.signature, "source": self.source}


class Generated(sa.Computed):
    """``GENERATED ALWAYS AS (expr)``: VIRTUAL on SQLite (``ALTER TABLE ADD COLUMN`` allows no
    other kind there), STORED elsewhere (PostgreSQL before 18 knows no other kind)."""

    inherit_cache = True


@compiles(Generated)
def _generated(el: Generated, compiler, **kw) -> str:  # noqa: ANN001
    kind = "VIRTUAL" if compiler.dialect.name == "sqlite" else "STORED"
    return f"GENERATED ALWAYS AS ({compiler.sql_compiler.process(el.sqltext, include_table=False, literal_binds=True)}) {kind}"


class GeneratedIndexed(sa.sql.expression.ColumnElement):
    """A generated column as an index element. SQLite indexes its expression instead: SQLite treats
    a query reading a generated column as reading every column of the row (no covering index),
    while an index on the expression itself covers a query grouping by that expression."""

    inherit_cache = True

    def __init__(self, column: sa.Column, expr: Any) -> None:
        self.column = column
        self.expr = expr
        self.type = column.type


@compiles(GeneratedIndexed)
def _generated_indexed(el: GeneratedIndexed, compiler, **kw) -> str:  # noqa: ANN001
    return compiler.process(el.column, **kw)


@compiles(GeneratedIndexed, "sqlite")
def _generated_indexed_sqlite(el: GeneratedIndexed, compiler, **kw) -> str:  # noqa: ANN001
    return compiler.process(el.expr, **kw)


@dataclass
class TableSpec:
    """A table to exist in the database: columns by name with their type signature."""

    name: str
    columns: dict[str, str]  # column -> type signature
    indexes: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (columns, unique)
    links: dict[str, str] = field(default_factory=dict)  # column -> target table
    parent: str | None = None  # parent table for child tables
    entity: str = ""
    # generated columns (report buckets, see engine/reports/stored_buckets.py): name -> definition
    generated: dict[str, GeneratedColumn] = field(default_factory=dict)
    field: str | None = None  # table field name for child tables

    def to_json(self) -> dict:
        out = {"columns": self.columns, "indexes": [[list(c), u] for c, u in self.indexes], "links": self.links}
        if self.generated:
            out["generated"] = {name: g.snapshot() for name, g in self.generated.items()}
        return out


def _field_specs(e: EntityDef, computed_types: dict[str, T.Type]) -> tuple[dict[str, str], dict[str, str], list]:
    columns: dict[str, str] = {}
    links: dict[str, str] = {}
    indexes: list[tuple[tuple[str, ...], bool]] = []
    for name, f in e.fields.items():
        if not f.is_stored:
            continue
        columns[name] = type_signature(f, computed_types.get(name))
        if f.type == "link":
            links[name] = f.entity or ""
            indexes.append(((name,), False))
        if f.unique:
            indexes.append(((name,), True))
        elif f.index:
            indexes.append(((name,), False))
    for idx in e.index_list():
        indexes.append((tuple(idx.fields), idx.unique))
    unique_first: dict[tuple[str, ...], bool] = {}
    for cols, unique in indexes:
        unique_first[cols] = unique_first.get(cols, False) or unique
    return columns, links, list(unique_first.items())


def table_specs(entities: dict[str, EntityDef], computed_types: dict[str, dict[str, T.Type]]) -> list[TableSpec]:
    """The tables every entity needs (child tables after their parents)."""
    specs: list[TableSpec] = []
    for name, e in entities.items():
        if e.child:
            continue
        columns, links, indexes = _field_specs(e, computed_types.get(name, {}))
        base = {"id": "integer", "name": "string(140)", "created_at": "datetime", "created_by": "string(140)",
                "updated_at": "datetime", "updated_by": "string(140)", "version": "integer"}
        system = [(("name",), True), (("created_at",), False)]  # lists newest first read an index, not all rows
        specs.append(TableSpec(name, {**base, **columns}, [*system, *(i for i in indexes if i not in system)],
                               links, entity=name))
        for fname, f in e.fields.items():
            if f.type != "table":
                continue
            child = entities[f.entity or ""]
            ccols, clinks, cidx = _field_specs(child, computed_types.get(child.name, {}))
            tname = child_table_name(name, fname)
            specs.append(TableSpec(tname, {"id": "integer", "parent_id": "integer", "idx": "integer", **ccols},
                                   [(("parent_id", "idx"), False), *cidx], clinks, parent=name, entity=child.name,
                                   field=fname))
    return specs


def build_table(spec: TableSpec, metadata: sa.MetaData) -> sa.Table:
    cols: list[sa.Column] = []
    for cname, sig in spec.columns.items():
        if cname == "id":
            cols.append(id_column())
        elif cname == "parent_id" and spec.parent:
            cols.append(sa.Column("parent_id", sa.BigInteger(),
                                  sa.ForeignKey(f"{spec.parent}.id", ondelete="CASCADE"), nullable=False))
        elif cname in spec.links:
            cols.append(sa.Column(cname, sa.BigInteger(), sa.ForeignKey(f"{spec.links[cname]}.id",
                                                                         use_alter=True,
                                                                         name=ident(f"fk_{spec.name}_{cname}"))))
        elif cname in ("name", "version", "created_at", "created_by", "updated_at", "updated_by") and not spec.parent:
            cols.append(sa.Column(cname, sa_column_type(sig), nullable=False))
        else:
            cols.append(sa.Column(cname, sa_column_type(sig)))
    # SQLite: AUTOINCREMENT, so an id is never given again after its record (or child row) was deleted; SQLite
    # would give the largest one again, and what names it (the audit log, flow instances, assignments, a link
    # to a child row) would then name another record (PostgreSQL: a sequence never does)
    table = sa.Table(spec.name, metadata, *cols, sqlite_autoincrement=True)
    for cname, g in spec.generated.items():
        table.append_column(sa.Column(cname, sa_column_type(g.type), Generated(g.expr(table))))

    def element(c: str) -> Any:
        g = spec.generated.get(c)
        return table.c[c] if g is None else GeneratedIndexed(table.c[c], g.expr(table))

    for columns, unique in spec.indexes:
        sa.Index(index_name(spec.name, columns, unique), *[element(c) for c in columns], unique=unique)
    return table


SQLITE_TABLES = "SELECT name, sql FROM sqlite_master WHERE type = 'table'"  # rows for sqlite_autoincrement
# the key's own clause, not the word anywhere (a column named ``autoincrement_note`` or ``"autoincrement"``)
_AUTOINCREMENT_KEY = re.compile(r"\bPRIMARY\s+KEY\s+(?:ASC\s+|DESC\s+)?AUTOINCREMENT\b", re.IGNORECASE)


def sqlite_autoincrement(rows: Any) -> dict[str, bool]:
    """Table -> whether it is AUTOINCREMENT (made by build_table since ids are never given again), from the
    (name, sql) rows of :data:`SQLITE_TABLES`."""
    return {name: _AUTOINCREMENT_KEY.search(ddl or "") is not None for name, ddl in rows}


def index_name(table: str, columns: tuple[str, ...], unique: bool) -> str:
    return ident(f"{'ux' if unique else 'ix'}_{table}_{'_'.join(columns)}")
