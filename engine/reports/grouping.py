"""The groupings of a report run (compile.py assembles them into its one statement): the aggregated
measures grouped by every dimension (mark 0) and by the fewer dimensions of each totals level, with
the dimensions outside a level NULL; in one pass over the rows where the database allows (GROUPING
SETS on PostgreSQL; on SQLite the totals re-aggregate the finest groups); and the SQL aggregates.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr import types as T
from ordo.dsl.expr.sqltypes import sa_type

from .percentile import Percentile

if TYPE_CHECKING:
    from .compile import Built, CompiledReport

MARK = "_g"  # which grouping a row belongs to (0: all dimensions)


def grouped(report: CompiledReport, built: Built, group: tuple[str, ...], mark: int) -> sa.Select:
    """One grouping of the aggregated measures: dimensions outside ``group`` are NULL (a totals level)."""
    cols = [(typed(built.dims[d.name], d.type) if d.name in group else typed_null(d.type)).label(d.name)
            for d in report.dimensions]
    cols += [typed(built.measures[m.name], m.type).label(m.name) for m in report.base_measures()]
    cols.append(sa.literal(mark, sa.Integer()).label(MARK))
    q = sa.select(*cols).select_from(built.plan.from_).where(*built.where)
    positions = [i + 1 for i, d in enumerate(report.dimensions) if d.name in group]
    if positions:
        q = q.group_by(*[sa.literal_column(str(p)) for p in positions])
    return q

def groupings(report: CompiledReport, built: Built, sets: list[tuple[tuple[str, ...], int]]) -> list[sa.Select]:
    """The groupings ``sets`` (the first: every dimension), computed in one pass over the rows
    where the database allows: GROUPING SETS on PostgreSQL; on SQLite the totals levels
    re-aggregate the finest groups (one materialized CTE) when every measure can be re-aggregated
    (count, sum, min, max). Otherwise each level is its own scan."""
    if built.summary is not None:
        return [built.summary.grouping(built, group, mark) for group, mark in sets]
    if len(sets) == 1 or not report.dimensions:
        return [grouped(report, built, group, mark) for group, mark in sets]
    if built.dialect == "postgresql":
        return _grouping_sets(report, built, sets)
    if all(m.agg in REAGGREGATE for m in report.base_measures()):
        return _reaggregated(report, built, sets)
    return [grouped(report, built, group, mark) for group, mark in sets]

def _grouping_sets(report: CompiledReport, built: Built, sets: list[tuple[tuple[str, ...], int]]) -> list[sa.Select]:
    names = [d.name for d in report.dimensions]
    base = report.base_measures()
    inputs = [measure_input(built.measures_in[m.name]).label(f"_ordo_m{i}") for i, m in enumerate(base)]
    rows = sa.select(*[built.dims[n].label(n) for n in names], *inputs) \
        .select_from(built.plan.from_).where(*built.where).subquery("rows")
    dims = [rows.c[n] for n in names]
    aggs = [typed(aggregate(m.agg or "count", rows.c[f"_ordo_m{i}"], None, report.defn_measure[m.name].p),
                   m.type).label(m.name)
            for i, m in enumerate(base)]
    unique = list(dict.fromkeys(group for group, _ in sets))
    g = sa.select(*[typed(c, d.type).label(d.name) for c, d in zip(dims, report.dimensions, strict=True)], *aggs,
                  sa.func.grouping(*dims).label("_ordo_gs")) \
        .group_by(sa.func.grouping_sets(*[sa.tuple_(*[rows.c[n] for n in group]) for group in unique])) \
        .cte("g")
    n = len(names)
    parts = []
    for group, mark in sets:
        mask = sum(1 << (n - 1 - i) for i, name in enumerate(names) if name not in group)
        cols = [g.c[d.name] for d in report.dimensions] + [g.c[m.name] for m in base]
        parts.append(sa.select(*cols, sa.literal(mark, sa.Integer()).label(MARK)).where(g.c._ordo_gs == mask))
    return parts

def _reaggregated(report: CompiledReport, built: Built, sets: list[tuple[tuple[str, ...], int]]) -> list[sa.Select]:
    (finest, mark0), rest = sets[0], sets[1:]
    g = grouped(report, built, finest, mark0).cte("g")
    if sqlite3.sqlite_version_info >= (3, 35):  # older versions materialize a CTE used twice anyway
        g = g.prefix_with("MATERIALIZED")
    parts = [sa.select(*g.c)]
    for group, mark in rest:
        cols = [(g.c[d.name] if d.name in group else typed_null(d.type)).label(d.name)
                for d in report.dimensions]
        cols += [typed(REAGGREGATE[m.agg or "count"](g.c[m.name]), m.type).label(m.name)
                 for m in report.base_measures()]
        q = sa.select(*cols, sa.literal(mark, sa.Integer()).label(MARK))
        if group:
            q = q.group_by(*[g.c[name] for name in group])
        parts.append(q)
    return parts


def measure_input(value_cond: tuple[Any, Any]) -> Any:
    """The per-row value an aggregate reads: ``value`` where ``cond`` holds (1 for a conditional
    count), null elsewhere; a plain count reads a constant."""
    value, cond = value_cond
    if cond is not None:
        return sa.case((cond, value if value is not None else sa.literal(1)))
    return value if value is not None else sa.literal(1)


REAGGREGATE = {  # how the aggregates of finer groups combine into a coarser group
    "count": lambda c: sa.func.coalesce(sa.func.sum(c), 0),
    "sum": lambda c: sa.func.coalesce(sa.func.sum(c), 0),
    "min": sa.func.min,
    "max": sa.func.max,
}


def aggregate(agg: str, value: Any, cond: Any, p: float | None = None) -> Any:
    """SQL aggregate of ``value`` over the rows where ``cond`` holds (CASE inside the aggregate)."""
    if cond is not None:
        value = sa.case((cond, value if value is not None else sa.literal(1)))
    if agg in ("median", "percentile"):  # continuous: interpolated between the two nearest values
        return Percentile(0.5 if p is None else p, value)
    if agg == "count":
        return sa.func.count(value) if value is not None else sa.func.count()
    if agg == "count_distinct":
        return sa.func.count(sa.distinct(value))
    if agg == "sum":
        return sa.func.coalesce(sa.func.sum(value), 0)
    return getattr(sa.func, agg)(value)


def typed(expr: Any, t: T.Type) -> Any:
    return expr if t.kind in ("integer", "any", "null") else sa.type_coerce(expr, sa_type(t))


def typed_null(t: T.Type) -> Any:
    """NULL of type ``t`` (a totals level's dimension): a subquery column PostgreSQL can union with
    the dimension's values."""
    return sa.null() if t.kind in ("any", "null") else sa.cast(sa.null(), sa_type(t))
