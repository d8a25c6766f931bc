"""Run a compiled report: bind parameters, execute its one statement, shape the result.

Shaping never aggregates: the database returned every figure (cells, totals,
pivot totals); Python only places them (pivot columns), orders pivoted rows and
cuts them to ``limit``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ordo.dsl.report import ChartDef, param_value
from ordo.dsl.report_dates import ALL_END, ALL_START

from ..errors import UsageError
from ..i18n import word
from . import cohort
from . import compile as _compile
from .compile import MARK, CompiledReport, convert
from .format import display, export_value

if TYPE_CHECKING:
    from ..records import Transaction


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    role: str  # "dimension" or "measure"
    type: str  # expression type kind: string, integer, decimal, date, ...
    bucket: str | None = None
    format: str | None = None
    decimals: int | None = None
    measure: str | None = None  # the measure a (pivot) cell column shows
    pivot_value: Any = None
    total: bool = False  # a pivot row-total column
    scale: int | None = None  # decimal places of exported numbers (None: as they are)
    options: tuple[tuple[str, str], ...] | None = None  # an enum dimension: (value, label) in the language


@dataclass
class ReportResult:
    report: str
    label: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    pivot: str | None = None
    chart: ChartDef | None = None
    lang: str = "en"  # the language of labels, option values and words such as "Total"
    reader: str = ""  # who ran it
    may_export: bool = False  # whether they may export it (CSV, XLSX): the report action 'export'

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def display_rows(self, with_totals: bool = True) -> list[dict[str, str]]:
        """Rows as text, keyed by column label (what a table or chart shows)."""
        return self._rows(with_totals, display)

    def export_rows(self, with_totals: bool = True) -> list[dict[str, Any]]:
        """Rows keyed by column label with numbers as plain exact numbers at their scale (CSV)."""
        return self._rows(with_totals, export_value)

    def _rows(self, with_totals: bool, cell: Any) -> list[dict[str, Any]]:
        rows = [{c.label: cell(c, r.get(c.name), lang=self.lang) for c in self.columns} for r in self.rows]
        if with_totals and self.totals is not None:
            t = {c.label: cell(c, self.totals.get(c.name), total=True, lang=self.lang) for c in self.columns}
            first = next((c for c in self.columns if c.role == "dimension"), None)
            if first is not None:
                t[first.label] = word("total", self.lang)
            rows.append(t)
        return rows


def bind_params(report: CompiledReport, given: Mapping[str, Any] | None, today: dt.date) -> tuple[dict, dict]:
    """(resolved values by parameter, values to bind by SQL parameter name)."""
    given = dict(given or {})
    declared = report.defn.params
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise UsageError(f"report {report.name}: unknown parameter '{unknown[0]}' "
                         f"(declared: {', '.join(declared) or 'none'})")
    values: dict[str, Any] = {}
    binds: dict[str, Any] = {}
    for name, p in declared.items():
        raw = given.get(name, p.default)
        try:
            v = param_value(p, raw, today)
        except (ValueError, TypeError, ArithmeticError) as e:
            raise UsageError(f"report {report.name}: parameter '{name}' ({p.type}): {e}") from None
        if v is None and p.required:
            raise UsageError(f"report {report.name}: parameter '{name}' is required")
        if p.type == "period":
            v = v or (ALL_START, ALL_END)
            binds[f"{name}_start"], binds[f"{name}_end"] = v
        else:
            binds[name] = v
        values[name] = v
    return values, binds


def run(report: CompiledReport, tx: Transaction, params: Mapping[str, Any] | None = None,
        lang: str = "en") -> ReportResult:
    """Run ``report`` as ``tx.user``; labels, option values and words in ``lang``."""
    values, binds = bind_params(report, params, report.app.clock.today())
    built = report.build(tx, binds)
    if report.cohort is not None:
        rows: list[dict[str, Any]] = []
        for row in cohort.iter_rows(report, tx, built, binds):
            rows.append(row)
            if len(rows) > _compile.MAX_GROUPS:
                raise UsageError(too_many(report))
        result = ReportResult(report.name, report.title(lang), cohort.columns(report, lang), rows, None, values,
                              None, None, lang)
    else:
        types = {d.name: d.type for d in report.dimensions} | {m.name: m.type for m in report.measures}
        result = _result(report, tx, built, binds, types, values, lang)
    result.reader = tx.user.name
    result.may_export = report.app.permissions.may_report(tx.user, report.name, "export")
    return result


def too_many(report: CompiledReport) -> str:
    return (f"report {report.name} has more than {_compile.MAX_GROUPS} rows, too many to show or return as JSON; "
            "export it as CSV or XLSX (every row, streamed), or narrow its filters or set a limit")


def pivot_sets(report: CompiledReport) -> list[tuple[tuple[str, ...], int]]:
    """The totals levels a pivot report needs: row totals (also to sort rows by a measure), column
    totals and the grand total, each with its mark."""
    pivot = report.defn.pivot or ""
    row_keys = tuple(d.name for d in report.dimensions if d.name != pivot)
    by_measure = any(name in report.measure for name, _ in report.sort)
    sets: list[tuple[tuple[str, ...], int]] = []
    if report.defn.totals or by_measure:
        sets.append((row_keys, 1))
    if report.defn.totals:
        sets += [((pivot,), 2), ((), 3)]
    return sets


def statement(report: CompiledReport, built: Any) -> Any:
    """The one statement a run of ``report`` executes."""
    if report.defn.pivot is None:
        return report.statement(built)
    return report.statement(built, pivot_sets=pivot_sets(report))


def _result(report: CompiledReport, tx: Transaction, built: Any, binds: dict, types: dict, values: dict,
            lang: str) -> ReportResult:
    if report.defn.pivot is None:
        stmt = statement(report, built)
        fetched = [(r._mapping[MARK], convert(r._mapping, types)) for r in tx.conn.execute(stmt, binds)]
        rows = [r for g, r in fetched if g == 0]
        if len(rows) > _compile.MAX_GROUPS:
            raise UsageError(too_many(report))
        totals = next((r for g, r in fetched if g == 1), None) if report.defn.totals else None
        return ReportResult(report.name, report.title(lang), _columns(report, lang), rows, totals, values,
                            None, report.defn.chart, lang)
    return _pivot(report, tx, built, binds, types, values, lang)


def _dimension(report: CompiledReport, d: Any, lang: str) -> Column:
    return Column(d.name, report.column_label(d.name, lang), "dimension", d.type.kind, bucket=d.bucket,
                  scale=report.scale(d.name), options=report.options(d.name, lang))


def _columns(report: CompiledReport, lang: str) -> list[Column]:
    cols = [_dimension(report, d, lang) for d in report.dimensions]
    cols += [Column(m.name, report.column_label(m.name, lang), "measure", m.type.kind, format=m.format,
                    decimals=m.decimals, measure=m.name, scale=report.scale(m.name)) for m in report.measures]
    return cols


def _empty(m: Any) -> Any:
    return 0 if m.agg in ("count", "count_distinct", "sum") else None


def _pivot(report: CompiledReport, tx: Transaction, built: Any, binds: dict, types: dict,
           values: dict, lang: str) -> ReportResult:
    pivot = report.dim[report.defn.pivot or ""]
    row_dims = [d for d in report.dimensions if d.name != pivot.name]
    row_keys = tuple(d.name for d in row_dims)
    stmt = statement(report, built)
    cells: dict[tuple, dict[Any, dict]] = {}
    row_totals: dict[tuple, dict] = {}
    col_totals: dict[Any, dict] = {}
    grand: dict | None = None
    pivot_values: list[Any] = []
    fetched = 0
    for r in tx.conn.execute(stmt, binds):
        fetched += 1
        g, rec = r._mapping[MARK], convert(r._mapping, types)
        key = tuple(rec[k] for k in row_keys)
        if g == 0:
            if rec[pivot.name] not in pivot_values:
                pivot_values.append(rec[pivot.name])
            cells.setdefault(key, {})[rec[pivot.name]] = rec
        elif g == 1:
            row_totals[key] = rec
        elif g == 2:
            col_totals[rec[pivot.name]] = rec
        else:
            grand = rec
    if len(cells) > _compile.MAX_GROUPS or fetched > 4 * _compile.MAX_GROUPS:  # never a silent cut
        raise UsageError(too_many(report))
    columns = pivot_columns(report, pivot_values, lang)
    rows = []
    for key, by_value in cells.items():
        row = pivot_row(report, row_keys, key, by_value, row_totals.get(key), columns)
        row["_totals"] = row_totals.get(key)
        rows.append(row)
    _sort_pivot_rows(report, rows, row_keys)
    for row in rows:
        row.pop("_totals")
    if report.defn.limit:
        rows = rows[:report.defn.limit]
    totals = pivot_totals(report, row_keys, columns, col_totals, grand) if report.defn.totals else None
    return ReportResult(report.name, report.title(lang), columns, rows, totals, values, pivot.name,
                        report.defn.chart, lang)


def pivot_columns(report: CompiledReport, pivot_values: list[Any], lang: str) -> list[Column]:
    """The columns of a pivot report: the row dimensions, a column per pivot value (sorted as the
    report sorts the pivot dimension, nulls last) and measure, and the row-total columns."""
    pivot = report.dim[report.defn.pivot or ""]
    row_dims = [d for d in report.dimensions if d.name != pivot.name]
    desc = dict(report.sort).get(pivot.name, False)
    pivot_values = sorted(pivot_values, key=lambda v: _sort_key(v), reverse=desc)
    if desc:  # nulls stay last
        pivot_values.sort(key=lambda v: v is None)
    many = len(report.measures) > 1
    ptemplate = _dimension(report, pivot, lang)
    keyed = dataclasses.replace(ptemplate, options=None)
    columns = [_dimension(report, d, lang) for d in row_dims]
    total_word = word("total", lang)
    for v in pivot_values:
        key, text = display(keyed, v), display(ptemplate, v, lang=lang)  # the key: value, not label
        for m in report.measures:
            label = report.column_label(m.name, lang)
            columns.append(Column(f"{m.name}:{key}", f"{text} {label}" if many else text, "measure",
                                  m.type.kind, format=m.format, decimals=m.decimals, measure=m.name, pivot_value=v,
                                  scale=report.scale(m.name)))
    if report.defn.totals:
        for m in report.measures:
            label = report.column_label(m.name, lang)
            columns.append(Column(f"{m.name}:total", f"{total_word} {label}" if many else total_word, "measure",
                                  m.type.kind, format=m.format, decimals=m.decimals, measure=m.name, total=True,
                                  scale=report.scale(m.name)))
    return columns


def pivot_row(report: CompiledReport, row_keys: tuple[str, ...], key: tuple, by_value: dict[Any, dict],
              row_total: dict | None, columns: list[Column]) -> dict[str, Any]:
    """One pivot row: its row dimensions, the cell of each pivot column (an absent cell: 0 for
    counts and sums, else empty) and its row totals."""
    row: dict[str, Any] = dict(zip(row_keys, key, strict=True))
    for c in columns:
        if c.measure is None:
            continue
        m = report.measure[c.measure]
        src = row_total if c.total else by_value.get(c.pivot_value)
        row[c.name] = src[m.name] if src is not None else _empty(m)
    return row


def pivot_totals(report: CompiledReport, row_keys: tuple[str, ...], columns: list[Column],
                 col_totals: dict[Any, dict], grand: dict | None) -> dict[str, Any]:
    totals: dict[str, Any] = dict.fromkeys(row_keys)
    for c in columns:
        if c.measure is not None:
            src = grand if c.total else col_totals.get(c.pivot_value)
            totals[c.name] = src[c.measure] if src is not None else _empty(report.measure[c.measure])
    return totals


def _sort_key(v: Any) -> tuple:
    return (v is None, v if v is not None else 0)


def _sort_pivot_rows(report: CompiledReport, rows: list[dict], row_keys: tuple[str, ...]) -> None:
    keys = [k for k in report.sort if k[0] in row_keys or k[0] in report.measure]
    keys += [(k, False) for k in row_keys if k not in {n for n, _ in keys}]
    for name, desc in reversed(keys):  # stable sorts, last key first; nulls last either way
        def value(r: dict, name: str = name) -> Any:
            if name in report.measure:
                return (r["_totals"] or {}).get(name)
            return r.get(name)
        rows.sort(key=lambda r, f=value: _sort_key(f(r)), reverse=desc)
        if desc:
            rows.sort(key=lambda r, f=value: f(r) is None)

