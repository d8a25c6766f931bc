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
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement, FromClause

from ordo.dsl.expr import ast
from ordo.dsl.expr.to_sql import to_sql

from ..compiled import CompiledApp

if TYPE_CHECKING:
    from ..query import Guard


class JoinPlan:
    """The FROM clause being built: the base table plus one outer join per link path.

    With the user's read ``guard``, a guarded join also requires the joined row to be readable
    (in its ON clause), so the fields of a linked record the user may not read are null; the
    permission rules themselves read through unguarded joins of their own."""

    def __init__(self, app: CompiledApp, base: FromClause, guard: Guard | None = None) -> None:
        self.app = app
        self.from_: FromClause = base
        self.guard = guard
        self.joins: dict[tuple[tuple[str, ...], bool], JoinSource] = {}

    def join(self, path: tuple[str, ...], entity: str, on_column: ColumnElement[Any], *,
             outer: bool = True, guarded: bool = True) -> JoinSource:
        key = (path, guarded and self.guard is not None)
        hit = self.joins.get(key)
        if hit is None:
            table = self.app.entities[entity].table
            assert table is not None
            alias = table.alias(f"j{len(self.joins) + 1}")
            on = alias.c.id == on_column
            visible = self.guard.rows(entity, alias) if key[1] and self.guard is not None else None
            if visible is not None:
                on = sa.and_(on, visible)
            self.from_ = (self.from_.outerjoin if outer else self.from_.join)(alias, on)
            hit = self.joins[key] = JoinSource(self, entity, alias, path, key[1])
        return hit


class JoinSource:
    """Fields of ``entity`` read from ``table`` inside a :class:`JoinPlan`; ``guarded``: links and
    related rows reached from here are restricted to what the user may read."""

    def __init__(self, plan: JoinPlan, entity: str, table: FromClause, path: tuple[str, ...] = (),
                 guarded: bool = True) -> None:
        self.plan = plan
        self.entity = entity
        self.table = table
        self.path = path
        self.guarded = guarded and plan.guard is not None

    def column(self, name: str) -> ColumnElement[Any]:
        return self.table.c[name]

    def link(self, name: str, target: str) -> JoinSource:
        return self.plan.join((*self.path, name), target, self.table.c[name], guarded=self.guarded)

    def children(self, name: str, target: str) -> tuple[Any, FromClause, ColumnElement[bool]]:
        """Rows of a table or related field (aggregates such as ``sum(lines, qty)``), correlated."""
        from ..query import rows_of

        guard = self.plan.guard if self.guarded else None
        visible = self.table.c.id.is_not(None) if guard is not None and self.path else None
        return rows_of(self, self.plan.app, self.entity, name, target, self.table.c.id, guard, visible)

    def grouped_count(self, name: str, target: str) -> Any:
        """``count(name)`` of the report's own rows as a LEFT JOIN to the counts pre-grouped by owner (one
        scan of the related rows instead of a correlated subquery per row), or None where the related
        rows are not keyed by one equality with a field of the owner (the correlated subquery then)."""
        if self.path:
            return None
        guarded = self.guarded
        key = ((f"#count:{name}",), guarded)
        hit = self.plan.joins.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        app = self.plan.app
        cf = app.entities[self.entity].fields[name]
        conds: list[Any] = []
        if cf.related_where is None:  # a child table: its rows belong to their owner (readable with it)
            if cf.child_table is None:
                return None
            alias = cf.child_table.alias(f"rc{len(self.plan.joins) + 1}")
            k, owner_col = alias.c.parent_id, self.table.c.id
        else:
            table = app.entities[target].table
            if table is None:
                return None
            alias = table.alias(f"rc{len(self.plan.joins) + 1}")
            split = related_key(cf.related_where.tree)
            if split is None:
                return None
            (child_field, owner_field), rest = split
            from ..query import TableSource

            rows = TableSource(app, target, alias)
            k, owner_col = alias.c[child_field], self.table.c[owner_field]
            conds = [to_sql(part, rows, where=True) for part in rest]
            if guarded and self.plan.guard is not None:
                readable = self.plan.guard.rows(target, alias)
                if readable is not None:
                    conds.append(readable)
        counts = sa.select(k.label("k"), sa.func.count().label("n")).where(k.is_not(None), *conds) \
            .group_by(k).subquery(f"rc{len(self.plan.joins) + 1}n")
        self.plan.from_ = self.plan.from_.outerjoin(counts, counts.c.k == owner_col)
        value = sa.func.coalesce(counts.c.n, 0)
        self.plan.joins[key] = value  # type: ignore[assignment]
        return value

    def unguarded(self) -> JoinSource:
        """The same rows for the definition's own rules: their links join without the guard."""
        return JoinSource(self.plan, self.entity, self.table, self.path, guarded=False)


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


def related_key(tree: ast.Node) -> tuple[tuple[str, str], list[ast.Node]] | None:
    """((field of the related row, field of the owner), the other conditions) of a related field's
    ``where`` keyed by one ``field == parent.field`` equality, no other condition naming ``parent``;
    else None."""
    from ..query import conjuncts

    key: tuple[str, str] | None = None
    rest: list[ast.Node] = []
    for part in conjuncts(tree):
        if isinstance(part, ast.Binary) and part.op == "==" and key is None:
            sides = [_plain(part.left), _plain(part.right)]
            if sides[0] is not None and sides[1] is not None and {sides[0][0], sides[1][0]} == {None, "parent"}:
                own, parent = sides if sides[0][0] is None else sides[::-1]
                key = (own[1], parent[1])  # type: ignore[index]
                continue
        if any(isinstance(n, ast.Path) and n.root == "parent" for n in ast.walk(part)):
            return None
        rest.append(part)
    return (key, rest) if key is not None else None


def _plain(node: ast.Node) -> tuple[str | None, str] | None:
    """(root, field) of a plain one-field path (``customer``, ``parent.id``), else None."""
    if not isinstance(node, ast.Path):
        return None
    fields = [s for s in node.steps if s.kind != "root"]
    if len(fields) != 1 or fields[0].kind not in ("field", "link"):
        return None
    return node.root, fields[0].name
