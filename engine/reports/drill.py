"""Drill-down: the records behind one report cell.

A cell is given by dimension values (a result row can be passed as is; measure
keys are ignored) and optionally the measure clicked, whose filter then applies
too. :func:`drill` returns the equivalent record-list filter in the expression
language, for ``app.query(entity, where, params=...)`` (reports over an entity);
:func:`drill_rows` reads the rows themselves in SQL (any source, including
child tables). The caller's row permissions apply to both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr import CompiledExpression, ast
from ordo.dsl.expr.sqltypes import sa_type
from ordo.dsl.report_dates import next_start

from ..errors import UsageError
from ..query import readable_first
from .buckets import bucket_start
from .compile import CompiledReport, Dimension
from .run import bind_params

if TYPE_CHECKING:
    from ..records import Transaction


@dataclass(frozen=True)
class Drill:
    entity: str
    where: str | None
    params: dict[str, Any]


def _cell(report: CompiledReport, cell: Mapping[str, Any]) -> list[tuple[Dimension, Any]]:
    out = []
    for name, value in cell.items():
        d = report.dim.get(name)
        if d is None:
            if name in report.measure or ":" in name:  # measure and pivot cell columns of a result row
                continue
            raise UsageError(f"report {report.name}: '{name}' is not a dimension "
                             f"(dimensions: {', '.join(report.dim) or 'none'})")
        out.append((d, value))
    return out


def _range(report: CompiledReport, d: Dimension, value: Any) -> tuple[Any, Any]:
    try:
        start = bucket_start(d.bucket or "day", value)
    except ValueError as e:
        raise UsageError(f"report {report.name}: dimension '{d.name}': {e}") from None
    end = next_start(d.bucket or "day", start)
    if d.expr.type.kind == "datetime":
        return dt.datetime.combine(start, dt.time()), dt.datetime.combine(end, dt.time())
    return start, end


def _measure(report: CompiledReport, measure: str | None) -> Any:
    if measure is None:
        return None
    m = report.measure.get(measure)
    if m is None:
        raise UsageError(f"report {report.name}: unknown measure '{measure}' "
                         f"(measures: {', '.join(report.measure)})")
    return m


def drill(report: CompiledReport, cell: Mapping[str, Any], measure: str | None = None,
          params: Mapping[str, Any] | None = None) -> Drill:
    _no_cohort(report)
    if report.source.parent is not None:
        raise UsageError(f"report {report.name} reads rows of {report.defn.source}, which are not records of "
                         "their own; use drill_rows to read them")
    _, binds = bind_params(report, params, report.app.clock.today())
    missing = {k for k, v in binds.items() if v is None}  # written as null: an untyped parameter is ambiguous
    binds = {k: v for k, v in binds.items() if k not in missing}
    parts = [f"({_nulls(f, missing)})" for f in report.filters]
    for i, (d, value) in enumerate(_cell(report, cell)):
        text = d.expr.text
        if value is None:
            parts.append(f"is_null({text})")
        elif d.bucket:
            binds[f"_d{i}_from"], binds[f"_d{i}_to"] = _range(report, d, value)
            parts.append(f"({text}) >= :_d{i}_from and ({text}) < :_d{i}_to")
        else:
            binds[f"_d{i}"] = value
            parts.append(f"({text}) == :_d{i}")
    m = _measure(report, measure)
    if m is not None:
        if m.filter is not None:
            parts.append(f"({m.filter.text})")
        if m.agg in ("count", "count_distinct") and m.expr is not None:
            parts.append(f"not is_null({m.expr.text})")
    return Drill(report.source.entity, " and ".join(parts) or None, binds)


def _nulls(expr: CompiledExpression, names: set[str]) -> str:
    """``expr``'s text with the parameters in ``names`` replaced by ``null`` (found in the syntax tree)."""
    hits = [n for n in ast.walk(expr.tree) if isinstance(n, ast.Param) and n.name in names]
    if not hits:
        return expr.text
    lines = expr.text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    text = expr.text
    for n in sorted(hits, key=lambda n: (n.line, n.column), reverse=True):
        at = starts[n.line - 1] + n.column - 1
        text = text[:at] + "null" + text[at + 1 + len(n.name):]
    return text


def drill_rows(report: CompiledReport, tx: Transaction, cell: Mapping[str, Any], measure: str | None = None,
               params: Mapping[str, Any] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    _no_cohort(report)
    _, binds = bind_params(report, params, report.app.clock.today())
    built = report.build(tx, binds)
    cell_where: list[Any] = []  # user expressions: evaluated only on rows the user may read
    for d, value in _cell(report, cell):
        sql = built.dims[d.name]
        if value is None:
            cell_where.append(sql.is_(None))
        elif d.bucket:
            try:
                start = bucket_start(d.bucket, value)
            except ValueError as e:
                raise UsageError(f"report {report.name}: dimension '{d.name}': {e}") from None
            cell_where.append(sql == sa.literal(start, sa.Date()))
        else:
            cell_where.append(sql == sa.literal(value, sa_type(d.type)))
    m = _measure(report, measure)
    if m is not None:
        clock = report._clock
        if m.filter is not None:
            cell_where.append(m.filter.to_sql(built.source, built.roots, clock, where=True))
        if m.agg in ("count", "count_distinct") and m.expr is not None:
            cell_where.append(m.expr.to_sql(built.source, built.roots, clock).is_not(None))
    where = [*built.where, *readable_first(built.allowed, [], cell_where)]
    table = built.source.table
    hidden = tx.app.permissions.hidden(tx.user, report.source.entity)
    cols = [c for c in table.c if c.name not in hidden]
    if "parent" in built.roots:
        cols.append(built.roots["parent"].table.c.name.label("parent_name"))
    q = sa.select(*cols).select_from(built.plan.from_).where(*where).order_by(table.c.id).limit(limit)
    return [dict(r._mapping) for r in tx.conn.execute(q, binds)]


def _no_cohort(report: CompiledReport) -> None:
    if report.cohort is not None:
        raise UsageError(f"report {report.name} is a cohort report: its cells count actors over periods, "
                         "with no record list behind them")
