"""Report output: JSON rows, CSV, a text table, XLSX (openpyxl) and an SVG chart.

Exports carry numbers, not formatted text: CSV plain exact numbers at the column's scale
(``26875.50``, a percentage as its ratio ``0.125``), JSON decimals as strings with exactly those
digits (``"26875.50"``; integers as JSON numbers), XLSX numeric cells with a number format. The
text table and the chart show formatted values (``26,875.50``, ``12.5%``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

from ..coerce import to_jsonable
from ..errors import PermissionDenied, UsageError
from ..i18n import word
from ..textfmt import as_csv, table
from .chart import render_svg
from .format import export_number
from .run import Column, ReportResult

FORMATS = ("table", "json", "csv", "xlsx", "svg")
EXPORT_FORMATS = ("csv", "xlsx")  # files for spreadsheets: the report action 'export' (the others show it)
EXTENSIONS = {"csv": "csv", "json": "json", "xlsx": "xlsx", "svg": "svg", "txt": "table"}  # file suffix -> format


def export(result: ReportResult, fmt: str) -> str | bytes:
    """``result`` in format ``fmt``; CSV and XLSX only when its reader may export the report."""
    if fmt in EXPORT_FORMATS and not result.may_export:
        raise PermissionDenied(f"{result.reader or 'this user'} may not export report {result.report} "
                               f"(as {fmt}); the report action 'export' is not granted to them")
    if fmt == "json":
        return json.dumps(as_data(result), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return as_csv(result.export_rows(), [c.label for c in result.columns])
    if fmt == "table":
        return table(result.display_rows(), [c.label for c in result.columns], max_width=60)
    if fmt == "xlsx":
        return to_xlsx(result)
    if fmt == "svg":
        return render_svg(result)
    raise UsageError(f"unknown report format '{fmt}' (use {', '.join(FORMATS)})")


def _exact(result: ReportResult, row: dict[str, Any]) -> dict[str, Any]:
    """A result row with every number exact at its column's scale (strings for decimals)."""
    out = dict(row)
    for c in result.columns:
        v = out.get(c.name)
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            out[c.name] = export_number(c, v)
    return to_jsonable(out)


def as_data(result: ReportResult) -> dict[str, Any]:
    """The result as plain JSON-friendly data: decimals as strings with exactly their scale's digits
    (``"26875.50"``: exact on every database), integers as numbers, labels in the result's language."""
    return {
        "report": result.report,
        "label": result.label,
        "lang": result.lang,
        "params": to_jsonable({k: list(v) if isinstance(v, tuple) else v for k, v in result.params.items()}),
        "pivot": result.pivot,
        "columns": [{k: to_jsonable(list(map(list, v)) if k == "options" else v) for k, v in c.__dict__.items()
                     if v is not None and v is not False} for c in result.columns],
        "rows": [_exact(result, r) for r in result.rows],
        "totals": _exact(result, result.totals) if result.totals is not None else None,
    }


_XLSX_FORMATS = {"money": "#,##0.00", "integer": "#,##0"}


def _xlsx_format(c: Column) -> str | None:
    """The number format of a column's numeric cells: thousands for money, its scale's decimals."""
    if c.format == "percent":
        return "0." + "0" * (c.decimals if c.decimals is not None else 1) + "%"
    if c.format == "money" and c.decimals is None:
        return _XLSX_FORMATS["money"]
    if c.format in ("money", "integer") and c.scale is not None:
        return "#,##0" + ("." + "0" * c.scale if c.scale else "")
    if c.scale is not None:
        return "0" + ("." + "0" * c.scale if c.scale else "")
    return None


def _xlsx_value(c: Column, v: Any, total: bool, lang: str) -> Any:
    from .format import display

    if v is None:
        return word("none", lang) if c.role == "dimension" and not total else None
    if c.options or (c.bucket and isinstance(v, dt.date) and c.bucket != "day") or isinstance(v, bool):
        return display(c, v, lang=lang)
    if isinstance(v, (Decimal, float)):
        n = export_number(c, v)
        return int(n) if isinstance(n, int) else float(n)  # a cell holds a binary float at the shown digits
    return v


def to_xlsx(result: ReportResult) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "".join(ch for ch in result.label if ch not in "[]:*?/\\")[:31] or "Report"
    ws.append([c.label for c in result.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    rows: list[tuple[dict, bool]] = [(r, False) for r in result.rows]
    if result.totals is not None:
        rows.append((result.totals, True))
    for r, total in rows:
        ws.append([_xlsx_value(c, r.get(c.name), total, result.lang) for c in result.columns])
        n = ws.max_row
        for j, c in enumerate(result.columns, start=1):
            cell = ws.cell(row=n, column=j)
            number_format = _xlsx_format(c)
            if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool) and number_format:
                cell.number_format = number_format
            elif isinstance(cell.value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            if total:
                cell.font = Font(bold=True)
        if total:
            first = next((j for j, c in enumerate(result.columns, start=1) if c.role == "dimension"), None)
            if first is not None:
                ws.cell(row=n, column=first, value=word("total", result.lang))
    for j, c in enumerate(result.columns, start=1):
        width = max([len(c.label)] + [len(str(r.get(c.name) or "")) for r, _ in rows[:200]])
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = min(60, width + 2)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
