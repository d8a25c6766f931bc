"""Filters pushed down to SQL: expression text -> WHERE clause, compiled once and cached.

The :class:`TableSource` / :class:`LinkSource` pair tells the expression SQL
compiler where fields live: columns of the entity's table, correlated
subqueries for fields reached through links, and child tables for aggregates.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement, FromClause

from ordo.dsl.errors import ExpressionError, ExpressionErrors
from ordo.dsl.expr import Clock, CompiledExpression, Scope, compile_expression
from ordo.dsl.expr import types as T

from .compiled import CompiledApp
from .errors import UsageError


class TableSource:
    """Fields of ``entity`` read from ``table`` (the entity's table, an alias or a child table)."""

    def __init__(self, app: CompiledApp, entity: str, table: FromClause) -> None:
        self.app = app
        self.entity = entity
        self.table = table

    def column(self, name: str) -> ColumnElement[Any]:
        return self.table.c[name]

    def link(self, name: str, target: str) -> LinkSource:
        return LinkSource(self.app, target, self.column(name))

    def children(self, name: str, target: str) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
        return rows_of(self, self.app, self.entity, name, target, self.column("id"))


def rows_of(owner: Any, app: CompiledApp, entity: str, name: str, target: str,
            owner_id: ColumnElement[Any]) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
    """The rows of table or related field ``name`` of ``owner`` (for aggregates)."""
    cf = app.entities[entity].fields[name]
    if cf.related_where is not None:
        table = app.entities[target].table
        assert table is not None
        alias = table.alias()
        rows = TableSource(app, target, alias)
        return rows, alias, cf.related_where.to_sql(rows, roots={"parent": owner})
    assert cf.child_table is not None
    alias = cf.child_table.alias()
    return TableSource(app, target, alias), alias, alias.c.parent_id == owner_id


class RecordSource:
    """Fields of one in-memory record in SQL: bound to its values, or (without a record) as parameters
    ``owner_<field>`` so that a statement built over it is compiled once and run for any record."""

    def __init__(self, app: CompiledApp, entity: str, record: Mapping[str, Any] | None = None) -> None:
        self.app = app
        self.entity = entity
        self.record = record
        self.used: set[str] = set()

    def column(self, name: str) -> ColumnElement[Any]:
        if self.record is not None:
            value = self.record.get(name)
            return sa.null() if value is None else sa.literal(value)
        self.used.add(name)
        table = self.app.entities[self.entity].table
        assert table is not None
        return sa.bindparam(f"owner_{name}", type_=table.c[name].type)

    def link(self, name: str, target: str) -> LinkSource:
        return LinkSource(self.app, target, self.column(name))

    def children(self, name: str, target: str) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
        return rows_of(self, self.app, self.entity, name, target, self.column("id"))


class LinkSource:
    """Fields of the ``entity`` record whose id is ``id_expr`` (correlated scalar subqueries)."""

    def __init__(self, app: CompiledApp, entity: str, id_expr: ColumnElement[Any]) -> None:
        self.app = app
        self.entity = entity
        self.id_expr = id_expr

    def _table(self) -> FromClause:
        table = self.app.entities[self.entity].table
        assert table is not None
        return table.alias()

    def column(self, name: str) -> ColumnElement[Any]:
        if name == "id":
            return self.id_expr
        t = self._table()
        return sa.select(t.c[name]).where(t.c.id == self.id_expr).correlate_except(t).scalar_subquery()

    def link(self, name: str, target: str) -> LinkSource:
        return LinkSource(self.app, target, self.column(name))

    def children(self, name: str, target: str) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
        return rows_of(self, self.app, self.entity, name, target, self.id_expr)


class FilterCache:
    """Compiled filters by (entity, text, parameter types); bounded, thread-safe."""

    def __init__(self, app: CompiledApp, schema: Any, clock: Callable[[], Clock], size: int = 512) -> None:
        self.app = app
        self.schema = schema
        self.clock = clock
        self.size = size
        self._items: OrderedDict[tuple, tuple[CompiledExpression, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def where(self, entity: str, text: str, params: Mapping[str, Any]) -> tuple[CompiledExpression, Any]:
        try:
            ptypes = T.param_types(dict(params))
        except ExpressionError as e:
            raise UsageError(f"invalid filter for {entity}: {e.message}") from None
        key = (entity, text, tuple(sorted((k, str(t)) for k, t in ptypes.items())))
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        try:
            compiled = compile_expression(text, Scope(self.schema, entity, params=ptypes), T.BOOLEAN)
        except (ExpressionError, ExpressionErrors) as e:
            raise UsageError(f"invalid filter for {entity}: {e}") from None
        table = self.app.entities[entity].table
        clause = compiled.to_sql(TableSource(self.app, entity, table), clock=self.clock)
        with self._lock:
            self._items[key] = (compiled, clause)
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return compiled, clause


def parse_order_by(table: sa.Table, order_by: str | Sequence[str] | None) -> list[Any]:
    """``"-created_at, name"`` or ``["-amount"]`` -> ORDER BY clauses (always ending with id)."""
    if order_by is None:
        items: list[str] = []
    elif isinstance(order_by, str):
        items = [p.strip() for p in order_by.split(",") if p.strip()]
    else:
        items = list(order_by)
    out = []
    for item in items:
        desc = item.startswith("-")
        parts = item.lstrip("-+").split()
        name = parts[0] if parts else ""
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            desc = parts[1].lower() == "desc"
        elif len(parts) > 1:
            raise UsageError(f"invalid order_by item {item!r}: use 'field', '-field' or 'field desc'")
        if name not in table.c:
            raise UsageError(f"cannot order by '{name}': not a stored field of {table.name}")
        out.append(table.c[name].desc() if desc else table.c[name].asc())
    out.append(table.c.id.asc())
    return out
