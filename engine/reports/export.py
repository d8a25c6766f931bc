"""Report output: JSON rows, CSV, a text table, XLSX (openpyxl) and an SVG chart."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

from ..coerce import to_jsonable
from ..errors import UsageError
from ..textfmt import as_csv, table
from .chart import render_svg
from .format import NONE_LABEL, number
from .run import Column, ReportResult

FORMATS = ("table", "json", "csv", "xlsx", "svg")


def export(result: ReportResult, fmt: str) -> str | bytes:
    if fmt == "json":
        return json.dumps(as_data(result), ensure_ascii=False, indent=2)
    if fmt == "csv":
        rows = result.display_rows()
        return as_csv(rows, [c.label for c in result.columns])
    if fmt == "table":
        return table(result.display_rows(), [c.label for c in result.columns], max_width=60)
    if fmt == "xlsx":
        return to_xlsx(result)
    if fmt == "svg":
        return render_svg(result)
    raise UsageError(f"unknown report format '{fmt}' (use {', '.join(FORMATS)})")


def as_data(result: ReportResult) -> dict[str, Any]:
    """The result as plain JSON-friendly data (numbers as strings keep decimals exact)."""
    return {
        "report": result.report,
        "label": result.label,
        "params": to_jsonable({k: list(v) if isinstance(v, tuple) else v for k, v in result.params.items()}),
        "pivot": result.pivot,
        "columns": [{k: to_jsonable(v) for k, v in c.__dict__.items() if v is not None and v is not False}
                    for c in result.columns],
        "rows": [to_jsonable(r) for r in result.rows],
        "totals": to_jsonable(result.totals) if result.totals is not None else None,
    }


_XLSX_FORMATS = {"percent": "0.0%", "money": "#,##0.00", "integer": "#,##0"}


def _xlsx_value(c: Column, v: Any, total: bool) -> Any:
    if v is None:
        return NONE_LABEL if c.role == "dimension" and not total else None
    if c.bucket and isinstance(v, dt.date) and c.bucket != "day":
        from .format import display

        return display(c, v)
    if isinstance(v, Decimal):
        return float(number(v, c.decimals if c.decimals is not None and c.format != "percent" else None))
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
        ws.append([_xlsx_value(c, r.get(c.name), total) for c in result.columns])
        n = ws.max_row
        for j, c in enumerate(result.columns, start=1):
            cell = ws.cell(row=n, column=j)
            if c.format in _XLSX_FORMATS:
                cell.number_format = _XLSX_FORMATS[c.format]
            elif c.decimals is not None:
                cell.number_format = "0." + "0" * c.decimals if c.decimals else "0"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            if total:
                cell.font = Font(bold=True)
        if total:
            first = next((j for j, c in enumerate(result.columns, start=1) if c.role == "dimension"), None)
            if first is not None:
                ws.cell(row=n, column=first, value="Total")
    for j, c in enumerate(result.columns, start=1):
        width = max([len(c.label)] + [len(str(r.get(c.name) or "")) for r, _ in rows[:200]])
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = min(60, width + 2)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
