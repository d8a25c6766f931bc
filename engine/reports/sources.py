"""Where a report's fields come from in SQL: one FROM clause with LEFT OUTER JOINs.

:class:`JoinSource` implements the expression compiler's ``SqlSource`` protocol
like :class:`engine.query.TableSource`, but a link step joins the target table
once per path (``customer.region`` and ``customer.level`` share one join)
instead of a correlated subquery per use, so grouping by fields of linked
records stays one scan. :class:`RowSource` exposes a result row's columns
(dimension and measure SQL) to derived measures and ``having``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.sql.expression import ColumnElement, FromClause

from ..compiled import CompiledApp


class JoinPlan:
    """The FROM clause being built: the base table plus one outer join per link path."""

    def __init__(self, app: CompiledApp, base: FromClause) -> None:
        self.app = app
        self.from_: FromClause = base
        self.joins: dict[tuple[str, ...], JoinSource] = {}

    def join(self, path: tuple[str, ...], entity: str, on_column: ColumnElement[Any], *,
             outer: bool = True) -> JoinSource:
        hit = self.joins.get(path)
        if hit is None:
            table = self.app.entities[entity].table
            assert table is not None
            alias = table.alias(f"j{len(self.joins) + 1}")
            self.from_ = (self.from_.outerjoin if outer else self.from_.join)(alias, alias.c.id == on_column)
            hit = self.joins[path] = JoinSource(self, entity, alias, path)
        return hit


class JoinSource:
    """Fields of ``entity`` read from ``table`` inside a :class:`JoinPlan`."""

    def __init__(self, plan: JoinPlan, entity: str, table: FromClause, path: tuple[str, ...] = ()) -> None:
        self.plan = plan
        self.entity = entity
        self.table = table
        self.path = path

    def column(self, name: str) -> ColumnElement[Any]:
        return self.table.c[name]

    def link(self, name: str, target: str) -> JoinSource:
        return self.plan.join((*self.path, name), target, self.table.c[name])

    def children(self, name: str, target: str) -> tuple[Any, FromClause, ColumnElement[bool]]:
        """Rows of a table or related field (aggregates such as ``sum(lines, qty)``), correlated."""
        from ..query import rows_of

        return rows_of(self, self.plan.app, self.entity, name, target, self.table.c.id)


class RowSource:
    """The columns of a result row (SQL of dimensions and aggregates) as fields."""

    def __init__(self, columns: Mapping[str, ColumnElement[Any]]) -> None:
        self.columns = columns

    def column(self, name: str) -> ColumnElement[Any]:
        return self.columns[name]

    def link(self, name: str, target: str) -> Any:  # pragma: no cover - the checker forbids it
        raise TypeError("result columns have no links")

    def children(self, name: str, target: str) -> Any:  # pragma: no cover - the checker forbids it
        raise TypeError("result columns have no child tables")
