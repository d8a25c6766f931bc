"""Streamed exports: every row of a report as CSV or XLSX, read page by page, memory bounded.

A result shown on a page or returned as JSON is held in memory and bounded (``MAX_GROUPS`` rows,
refused beyond that, never cut). An export has no such bound: the report's one statement runs
without the cap and its rows are fetched ``PAGE`` at a time (a server-side cursor on PostgreSQL,
SQLite's own stepping cursor) and written as they come: CSV row by row, XLSX through openpyxl's
write-only workbook. The totals row (the statement's last) is written last. A pivot report's rows
come from pivot_stream.py (its pivot values first, then each row as its cells are read); a cohort
report's row by row as each cohort's counts are read (cohort.py).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from ..errors import PermissionDenied, UsageError
from ..i18n import word
from ..textfmt import CsvWriter
from . import cohort
from .compile import MARK, CompiledReport, convert
from .export import EXPORT_FORMATS, _xlsx_format, _xlsx_value
from .format import export_value
from .pivot_stream import pivot_stream
from .run import Column, _columns, bind_params

if TYPE_CHECKING:
    from ..records import Transaction

PAGE = 2000  # rows fetched at a time


def stream_export(report: CompiledReport, tx: Transaction, fmt: str, out: IO[bytes],
                  params: Mapping[str, Any] | None = None, lang: str = "en") -> int:
    """Write every row of ``report`` (run as ``tx.user``) to ``out`` as ``fmt`` (csv or xlsx); return
    the number of rows written (without the totals row)."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"report format '{fmt}' is not streamed (use {', '.join(EXPORT_FORMATS)})")
    if not report.app.permissions.may_report(tx.user, report.name, "export"):
        raise PermissionDenied(f"{tx.user.name} may not export report {report.name} (as {fmt}); the report "
                               "action 'export' is not granted to them")
    values, binds = bind_params(report, params, report.app.clock.today())
    built = report.build(tx, binds)
    write = _write_csv if fmt == "csv" else _write_xlsx
    if report.cohort is not None:  # a row per cohort, each written once its counts are read
        return write(out, report.title(lang), cohort.columns(report, lang),
                     cohort.iter_rows(report, tx, built, binds, PAGE), [], lang)
    if report.defn.pivot is not None:  # pivot values first, then each row once its cells are read
        columns, pivot_rows, pivot_totals = pivot_stream(report, tx, built, binds, lang, PAGE)
        return write(out, report.title(lang), columns, pivot_rows, pivot_totals, lang)
    stmt = report.statement(built, capped=False)
    types = {d.name: d.type for d in report.dimensions} | {m.name: m.type for m in report.measures}
    columns = _columns(report, lang)
    cursor = tx.conn.execute(stmt.execution_options(stream_results=True, yield_per=PAGE), binds)
    totals: list[dict[str, Any]] = []

    def rows() -> Iterator[dict[str, Any]]:
        for r in cursor:
            rec = convert(r._mapping, types)
            if r._mapping[MARK] == 0:
                yield rec
            else:
                totals.append(rec)

    return write(out, report.title(lang), columns, rows(), totals, lang)


def _total_row(columns: list[Column], totals: dict[str, Any], cell: Any, lang: str) -> list[Any]:
    row = [cell(c, totals.get(c.name), total=True, lang=lang) for c in columns]
    first = next((i for i, c in enumerate(columns) if c.role == "dimension"), None)
    if first is not None:
        row[first] = word("total", lang)
    return row


def _write_csv(out: IO[bytes], title: str, columns: list[Column], rows: Iterator[dict[str, Any]],
               totals: list[dict[str, Any]], lang: str) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    labels = [c.label for c in columns]
    w = CsvWriter(text, labels)
    n = 0
    page: list[dict[str, Any]] = []
    for r in rows:
        page.append({c.label: export_value(c, r.get(c.name), lang=lang) for c in columns})
        n += 1
        if len(page) >= PAGE:
            w.write(page)
            page = []
    if totals:
        page.append(dict(zip(labels, _total_row(columns, totals[0], export_value, lang), strict=True)))
    w.write(page)
    text.flush()
    text.detach()  # ``out`` stays open for the caller
    return n


def _write_xlsx(out: IO[bytes], title: str, columns: list[Column], rows: Iterator[dict[str, Any]],
                totals: list[dict[str, Any]], lang: str) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "Report")
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    formats = [_xlsx_format(c) for c in columns]
    first: list[dict[str, Any]] = []  # the first rows, held to size the columns (set before any row)
    for r in rows:
        first.append(r)
        if len(first) >= 200:
            break
    for j, c in enumerate(columns):
        width = max([len(c.label)] + [len(str(r.get(c.name) or "")) for r in first])
        ws.column_dimensions[_letter(j + 1)].width = min(60, width + 2)

    def cells(values: list[Any], total: bool) -> list[Any]:
        out_cells = []
        for v, fmt in zip(values, formats, strict=True):
            cell = WriteOnlyCell(ws, value=v)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and fmt:
                cell.number_format = fmt
            elif isinstance(v, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(v, dt.date):
                cell.number_format = "yyyy-mm-dd"
            if total:
                cell.font = bold
            out_cells.append(cell)
        return out_cells

    header = []
    for c in columns:
        h = WriteOnlyCell(ws, value=c.label)
        h.font = bold
        header.append(h)
    ws.append(header)
    n = 0
    for r in _chain(first, rows):
        ws.append(cells([_xlsx_value(c, r.get(c.name), False, lang) for c in columns], False))
        n += 1
    if totals:
        values = [_xlsx_value(c, totals[0].get(c.name), True, lang) for c in columns]
        first_dim = next((i for i, c in enumerate(columns) if c.role == "dimension"), None)
        if first_dim is not None:
            values[first_dim] = word("total", lang)
        ws.append(cells(values, True))
    wb.save(out)
    return n


def _chain(first: list[dict[str, Any]], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from first
    yield from rest


def _letter(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(n)
