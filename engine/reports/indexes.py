"""Indexes derived from report definitions, created by schema sync.

For each report (unless it says ``index: false``) one index on the table its rows come from,
covering what the report's main query reads there, in the order a planner uses best:

1. columns its filters compare for equality with a value (``status == 'paid'``, ``region == :r``),
2. the columns its dimensions group by (a link dimension: the link column; a time bucket of a date
   field: its generated column, see stored_buckets.py),
3. the other columns its filters read (ranges such as ``order_date >= :period_start``),
4. the columns its measures aggregate or condition on.

With every column the query reads in the index, SQLite answers the report from the index alone
(a covering index) and PostgreSQL can use an index-only scan. ``ordo sync --dry-run`` lists the
indexes to create; an index no definition asks for any more is dropped by the next sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from ordo.dsl.expr import CompiledExpression, ast

from ..query import conjuncts
from ..tables import index_name

if TYPE_CHECKING:
    from ..app import App
    from .compile import CompiledReport

MAX_COLUMNS = 16  # beyond this an index costs more on every write than it saves a report


def own_columns(expr: CompiledExpression | ast.Node | None, table: sa.Table) -> list[str]:
    """Stored columns of ``table`` that an expression reads from its own row (for a path through a
    link: the link column), in the order they appear; rows of child tables are left out."""
    if expr is None:
        return []
    tree = expr.tree if isinstance(expr, CompiledExpression) else expr
    out: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call) and node.child_entity is not None:
            continue  # an aggregate over other rows: its own correlated lookup
        if isinstance(node, ast.Path) and node.root is None and node.steps:
            name = node.steps[0].name
            if name in table.c and name not in out:
                out.append(name)
            continue
        stack.extend(reversed(node.children()))
    return out


def _is_equality(node: ast.Node) -> str | None:
    """The own field of ``field == value`` (value: a literal or parameter), else None."""
    if not isinstance(node, ast.Binary) or node.op != "==":
        return None
    for a, b in ((node.left, node.right), (node.right, node.left)):
        if isinstance(a, ast.Path) and a.root is None and len(a.steps) == 1 and isinstance(b, (ast.Literal, ast.Param)):
            return a.steps[0].name
    return None


def index_columns(report: CompiledReport, table: sa.Table) -> tuple[str, ...]:
    """The columns of the index serving ``report`` (empty: none is useful)."""
    eq: list[str] = []
    other: list[str] = []
    for f in report.filters:
        for part in conjuncts(f.tree):
            name = _is_equality(part)
            if name is not None and name in table.c:
                eq.append(name)
            else:
                other += own_columns(part, table)
    stored = report.stored  # a time bucket kept as a generated column (stored_buckets.py): that column
    dims = [c for d in report.dimensions
            for c in ([stored[d.name]] if d.name in stored else own_columns(d.expr, table))]
    measures = [c for m in report.measures for e in (m.expr, m.filter) for c in own_columns(e, table)]
    # the date a stored bucket is computed from: SQLite covers a query with an indexed expression
    # only when the index also holds the columns the expression reads
    sources = list(report.stored_sources)
    cols = tuple(dict.fromkeys([*eq, *dims, *other, *measures, *sources]))
    return cols[:MAX_COLUMNS]


def source_table(report: CompiledReport) -> sa.Table | None:
    entities = report.app.compiled.entities
    src = report.source
    if src.parent is None:
        return entities[src.entity].table
    return entities[src.parent].fields[src.field or ""].child_table


def install_indexes(app: App, reports: dict[str, CompiledReport]) -> dict[str, str]:
    """Add each report's index to the compiled tables (schema sync creates it); return report ->
    index name."""
    specs = {s.name: s for s in app.compiled.specs}
    out: dict[str, str] = {}
    for name, report in sorted(reports.items()):
        if not report.defn.index:
            continue
        table = source_table(report)
        if table is None:
            continue
        cols = index_columns(report, table)
        if not cols:
            continue
        spec = specs[table.name]
        unique = next((u for c, u in spec.indexes if c == cols), None)
        if unique is None:  # no index on these columns yet
            spec.indexes.append((cols, False))
            if all(c in table.c for c in cols):  # a generated column exists only in the DDL (tables.py)
                sa.Index(index_name(table.name, cols, False), *[table.c[c] for c in cols])
        out[name] = index_name(table.name, cols, bool(unique))
    return out
