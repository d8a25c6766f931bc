"""The report page: parameters as a form, the table with pivot columns, the chart, drill-down from a cell
to the records behind it, CSV/XLSX download, and the alert's state.

The report runs as the signed-in user (their row rules; a report reading fields hidden from them is
refused by the engine); downloads are the API's own (``/api/v1/reports/{name}?format=csv``), which the
session cookie authorizes and which check the report's ``export`` action.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.responses import Response

from ordo.dsl.base import humanize, label_text
from ordo.dsl.expr import Env
from ordo.engine.errors import NotFound, PermissionDenied, UsageError
from ordo.engine.present import Presenter
from ordo.engine.reports.chart import render_svg
from ordo.engine.reports.format import display
from ordo.engine.reports.run import run
from ordo.engine.textfmt import cell_text

from ..access import may_run_report
from ..body import PARAM_PREFIX
from .base import Page, page
from .lists import list_columns

DRILL_LIMIT = 1000
PERIODS = ("today", "this_week", "this_month", "last_month", "this_quarter", "last_quarter", "this_year",
           "last_year", "last_30_days", "last_12_months", "year_to_date", "all")


def alert_hits(tx: Any, name: str) -> list[dict[str, Any]]:
    """The rows of report ``name`` meeting its alert's condition now, as the reader sees the report (their
    row rules apply); nobody is notified (the worker's scheduled check does that)."""
    r = tx.app.features["reports"].get(name)
    alert = r.defn.alert
    if alert is None or r.alert_when is None:
        return []
    result = run(r, tx, alert.params)
    candidates = [result.totals] if alert.on == "totals" and result.totals is not None else result.rows
    env = Env(link=lambda entity, key: None, params=dict(result.params), clock=tx.app.clock)
    return [row for row in candidates if r.alert_when(row, env) is True]


def _report(pg: Page, tx: Any) -> Any:
    name = str(pg.path.get("name", ""))
    reports = tx.app.features["reports"]
    if name not in reports.compiled:
        raise NotFound(f"no report '{name[:60]}'")
    if not may_run_report(tx, name):
        raise PermissionDenied(f"{tx.user.name} may not run report {name}")
    return reports.get(name)


def _params(pg: Page) -> dict[str, str]:
    return {k[len(PARAM_PREFIX):]: v[:200] for k, v in pg.params.items()
            if k.startswith(PARAM_PREFIX) and v != ""}


def _param_fields(report: Any, given: dict[str, str], lang: str) -> list[dict[str, Any]]:
    out = []
    for n, p in report.defn.params.items():
        kind = {"integer": "number", "decimal": "number", "date": "date", "datetime": "datetime-local"}.get(p.type,
                                                                                                             "text")
        out.append({"name": n, "label": label_text(p.label, lang, humanize(n)), "type": p.type, "input": kind,
                    "value": given.get(n, "" if p.default is None else str(p.default)), "required": p.required,
                    "options": list(p.options) if p.options else (list(PERIODS) if p.type == "period" else None),
                    "free": p.type == "period"})
    return out


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def report_page(pg: Page) -> Response:
    given = _params(pg)
    with pg.app.reader(pg.actor) as tx:
        report = _report(pg, tx)
        fields = _param_fields(report, given, pg.lang)
        try:
            result = tx.app.features["reports"].run(tx, report.name, given, pg.lang)
        except UsageError as e:
            return pg.render("report.html", 400, report=report.name, label=report.title(pg.lang), fields=fields,
                             error=str(e), result=None, columns=[], rows=[], totals=None, chart=None,
                             downloads={}, alert=None)
        dims = [c for c in result.columns if c.role == "dimension"]
        query = [(PARAM_PREFIX + k, v) for k, v in given.items()]

        def drill_href(row: dict[str, Any], c: Any) -> str | None:
            if c.role != "measure" or row is result.totals or report.cohort is not None:
                return None  # a cohort cell counts actors over periods: no record list behind it
            cell = [(f"d.{d.name}", _value_text(row.get(d.name))) for d in dims]
            if c.pivot_value is not None and result.pivot:
                cell.append((f"d.{result.pivot}", _value_text(c.pivot_value)))
            return f"/reports/{report.name}/drill?" + urlencode([*cell, ("m", c.measure or c.name), *query])

        rows = [[{"text": display(c, r.get(c.name), lang=pg.lang), "num": c.role == "measure",
                  "href": drill_href(r, c)} for c in result.columns] for r in result.rows]
        totals = None
        if result.totals is not None:
            totals = [{"text": display(c, result.totals.get(c.name), total=True, lang=pg.lang),
                       "num": c.role == "measure", "href": None} for c in result.columns]
            first = next((i for i, c in enumerate(result.columns) if c.role == "dimension"), None)
            if first is not None:
                from ordo.engine.i18n import word

                totals[first]["text"] = word("total", pg.lang)
        chart = Markup(_svg_body(render_svg(result))) if result.chart is not None else None
        api = f"/api/v1/reports/{report.name}?"
        downloads = {fmt: api + urlencode([("format", fmt), ("lang", pg.lang), *query])
                     for fmt in ("csv", "xlsx")} if result.may_export else {}
        alert = None
        if report.defn.alert is not None:
            alert = {"hits": len(alert_hits(tx, report.name))}
        return pg.render("report.html", report=report.name, label=result.label, fields=fields, error=None,
                         result=result, columns=result.columns, rows=rows, totals=totals, chart=chart,
                         downloads=downloads, alert=alert)


def _svg_body(svg: str) -> str:
    """The chart's SVG to inline in the page (it is generated by the engine, labels escaped there)."""
    return svg.replace('<svg xmlns="http://www.w3.org/2000/svg" width=', '<svg role="img" '
                       'xmlns="http://www.w3.org/2000/svg" width=', 1)


def _typed(d: Any, raw: str) -> Any:
    """A drill-down cell value from the page's link, read by the dimension's type."""
    if raw == "":
        return None
    kind = d.type.kind
    try:
        if kind == "date":
            return dt.date.fromisoformat(raw[:10])
        if kind == "datetime":
            return dt.datetime.fromisoformat(raw)
        if kind == "integer":
            return int(raw)
        if kind in ("decimal", "money"):
            return Decimal(raw)
        if kind == "boolean":
            return raw.lower() in ("true", "1")
    except (ValueError, InvalidOperation):
        raise UsageError(f"dimension '{d.name}' needs a {kind} value, got {raw[:40]!r}") from None
    return raw


def drill_page(pg: Page) -> Response:
    given = _params(pg)
    with pg.app.reader(pg.actor) as tx:
        report = _report(pg, tx)
        cell: dict[str, Any] = {}
        for key, raw in pg.params.items():
            if key.startswith("d."):
                d = report.dim.get(key[2:])
                if d is None:
                    raise UsageError(f"report {report.name}: '{key[2:60]}' is not a dimension")
                cell[d.name] = _typed(d, raw[:200])
        measure = pg.params.get("m") or None
        if measure is not None and measure not in report.measure:
            raise UsageError(f"report {report.name}: no measure '{measure[:60]}'")
        rows = tx.app.features["reports"].drill_rows(tx, report.name, cell, measure, given, DRILL_LIMIT + 1)
        capped = len(rows) > DRILL_LIMIT
        rows = rows[:DRILL_LIMIT]
        entity = report.source.entity
        ce = tx.app.compiled.entities[entity]
        top = not ce.defn.child
        columns = list_columns(tx, entity) if top else [n for n, cf in ce.fields.items()
                                                        if cf.stored and n not in
                                                        tx.app.permissions.hidden(tx.user, entity)][:8]
        shown = Presenter(tx, entity, columns, pg.lang)
        texts = shown.text(rows)
        out = [{"href": f"/app/{entity}/{r['id']}" if top else None,
                "cells": [cell_text(t.get(c)) for c in columns]} for r, t in zip(rows, texts, strict=True)]
        if not top and rows and "parent_name" in rows[0]:
            parent = next((n for n, e in tx.app.compiled.entities.items() if any(
                cf.child is not None and cf.child.name == entity for cf in e.fields.values())), None)
            for o, r in zip(out, rows, strict=True):
                o["href"] = f"/app/{parent}/{r['parent_name']}" if parent else None
        back = f"/reports/{report.name}?" + urlencode([(PARAM_PREFIX + k, v) for k, v in given.items()])
        return pg.render("drill.html", report=report.name, label=report.title(pg.lang), back=back,
                         headers=shown.headers(columns), rows=out, capped=capped, limit=DRILL_LIMIT,
                         cell=[{"label": report.dim[k].label, "value": _value_text(v)} for k, v in cell.items()])


def routes() -> list:
    return [page("/reports/{name}", report_page), page("/reports/{name}/drill", drill_page)]
