"""An allocation rule compiled once at install: expressions, SQL statements, field names.

The candidate filter and the available-quantity expression are compiled to SQL
over the supply table; the ``demand`` and ``line`` roots become bound parameters
(``demand__<field>``, ``line__<field>``), so one statement serves every call.
A filter that cannot be expressed in SQL is evaluated in Python instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement, FromClause

from ordo.dsl.allocation import AllocationDef
from ordo.dsl.errors import DefinitionError, DefinitionErrors
from ordo.dsl.expr import CompiledExpression, Scope, compile_expression
from ordo.dsl.expr import types as T

from ..compiled import CompiledApp, CompiledEntity
from ..query import LinkSource, TableSource
from .joined import JoinedSource
from .line_write import targetable

if TYPE_CHECKING:
    from ..app import App

AVAILABLE = "_ordo_available"


class ParamSource:
    """Fields of a record passed in as bound parameters named ``<prefix>__<field>``."""

    def __init__(self, app: CompiledApp, entity: str, table: sa.Table, prefix: str) -> None:
        self.app = app
        self.entity = entity
        self.table = table
        self.prefix = prefix
        self.used: dict[str, str] = {}  # parameter -> field, of the fields the compiled statements bind

    def column(self, name: str) -> ColumnElement[Any]:
        self.used[f"{self.prefix}__{name}"] = name
        return sa.bindparam(f"{self.prefix}__{name}", type_=self.table.c[name].type)

    def link(self, name: str, target: str) -> LinkSource:
        return LinkSource(self.app, target, self.column(name))

    def children(self, name: str, target: str) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
        child = self.app.entities[self.entity].fields[name].child_table
        assert child is not None
        alias = child.alias()
        return TableSource(self.app, target, alias), alias, alias.c.parent_id == self.column("id")

    def params(self, record: dict[str, Any]) -> dict[str, Any]:
        """The parameters of the fields the statements bind, from ``record``."""
        return {key: record.get(name) for key, name in self.used.items()}


@dataclass
class RankKeyC:
    label: str
    expr: CompiledExpression
    descending: bool
    column: str | None = None  # computed by the candidate query (None: evaluated in Python)


@dataclass
class CompiledAllocation:
    """Everything a call needs, prepared once."""

    defn: AllocationDef
    demand: CompiledEntity
    line_table: sa.Table
    supply: CompiledEntity
    supply_table: sa.Table
    result: CompiledEntity
    result_table: sa.Table
    available_sql: ColumnElement[Any]
    candidates_sql: sa.Select  # candidates of one line (bound: _item, demand__*, line__*)
    candidate_parts: tuple[Any, ...]  # (item column, the selected columns, the other conditions, the FROM): see
    # candidates_of
    by_line: bool  # the candidate statement binds line fields (line__*): one statement per line, else per item set
    all_rows_sql: sa.Select  # every supply row of the item (for explanations)
    where_py: CompiledExpression | None  # the filter, when it could not be compiled to SQL
    where_expr: CompiledExpression | None
    rank: list[RankKeyC]
    demand_params: ParamSource
    line_params: ParamSource
    lines_targeted: bool = False  # the line location is written by line_write.write_rows (else tx.update)
    statements: dict[Any, Any] = field(default_factory=dict)  # the supply UPDATEs (reservation), built on first use

    @property
    def name(self) -> str:
        return self.defn.name

    def candidates_of(self, size: int) -> sa.Select:
        """The candidates of ``size`` items in one statement (``item = :_item0 OR ... OR item = :_item<size-1>``,
        one bound parameter per item: a statement text per size), built once per size."""
        key = ("candidates", size)
        found = self.statements.get(key)
        if found is None:
            item_col, columns, conditions, from_ = self.candidate_parts
            items = sa.or_(*(item_col == sa.bindparam(f"_item{i}", type_=item_col.type) for i in range(size)))
            found = self.statements[key] = sa.select(*columns).select_from(from_).where(items, *conditions).order_by(
                self.supply_table.c.id)
        return found

    def statement(self, key: Any, build: Callable[[], Any]) -> Any:
        """A statement of this rule built once by ``build`` and kept under ``key``."""
        found = self.statements.get(key)
        if found is None:
            found = self.statements[key] = build()
        return found


def _fail(rule: str, msg: str) -> DefinitionErrors:
    return DefinitionErrors([DefinitionError(f"allocation {rule}: {msg}", file=f"<allocation {rule}>")])


def compile_rule(app: App, defn: AllocationDef) -> CompiledAllocation:
    cap = app.compiled
    schema = app.definition.schema
    demand = cap.entity(defn.demand.entity)
    lines_field = demand.fields[defn.demand.lines]
    assert lines_field.child is not None and lines_field.child_table is not None
    supply = cap.entity(defn.supply.entity)
    result = cap.entity(defn.result.entity)
    supply_table, result_table = supply.table, result.table
    assert supply_table is not None and result_table is not None and demand.table is not None
    scope = defn.scope(schema, lines_field.child.name)
    try:
        available = compile_expression(defn.supply.available, Scope(schema, supply.name), T.DECIMAL)
        where = compile_expression(defn.where, scope, T.BOOLEAN) if defn.where else None
        rank = [RankKeyC(k.label or k.expr, compile_expression(k.expr, scope), k.order == "desc")
                for k in defn.rank_keys()]
    except Exception as e:  # checked at load; this guards programmatic definitions
        raise _fail(defn.name, str(e)) from None
    source = TableSource(cap, supply.name, supply_table)
    joined = JoinedSource(source)  # the filter and rank keys: each link of the supply row joined once
    clock = lambda: app.clock  # noqa: E731
    try:
        available_sql = available.to_sql(source, clock=clock)
    except Exception as e:
        raise _fail(defn.name, f"the available expression cannot run in SQL ({e}); it must, for atomic "
                               f"reservation") from None
    demand_src = ParamSource(cap, demand.name, demand.table, "demand")
    line_src = ParamSource(cap, lines_field.child.name, lines_field.child_table, "line")
    roots = {"demand": demand_src, "line": line_src}
    where_sql, where_py = None, None
    if where is not None:
        try:
            where_sql = where.to_sql(joined, roots=roots, clock=clock)
        except Exception:  # e.g. a record root used as a value: filter in Python
            where_py = where
    rank_columns = []
    for i, key in enumerate(rank):
        try:
            rank_columns.append(key.expr.to_sql(joined, roots=roots, clock=clock).label(f"_ordo_rank_{i}"))
            key.column = f"_ordo_rank_{i}"
        except Exception:  # not expressible in SQL: evaluated in Python on the candidates
            key.column = None
    item_col = supply_table.c[defn.supply.item]
    columns = (supply_table, available_sql.label(AVAILABLE), *rank_columns)
    from_ = joined.from_clause()
    base = sa.select(*columns).select_from(from_).where(item_col == sa.bindparam("_item", type_=item_col.type))
    conditions = [available_sql > 0] + ([where_sql] if where_sql is not None else [])
    candidates = base.where(*conditions).order_by(supply_table.c.id)
    by_line = any(name.startswith("line__") for name in candidates.compile().params)
    return CompiledAllocation(
        defn, demand, lines_field.child_table, supply, supply_table, result, result_table, available_sql,
        candidates, (item_col, columns, conditions, from_), by_line, base.order_by(supply_table.c.id), where_py, where,
        rank, demand_src, line_src,
        bool(defn.demand.location) and targetable(demand, lines_field.name, [defn.demand.location]),
    )
