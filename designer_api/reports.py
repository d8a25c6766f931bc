"""``/api/v1/reports``: the reports the user may run, and running one as JSON, CSV or XLSX.

Parameters are ``p.NAME=value`` (``p.period=last_month``). A report runs as the signed-in user: its rows
follow their row rules. Exports are complete: CSV and XLSX stream every row (read page by page, spooled
to a temporary file beyond a few megabytes); JSON is held in memory, so a report with more rows than the
engine's bound (100,000) is refused (400, pointing to CSV/XLSX) rather than cut.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ordo.dsl.base import label_text
from ordo.engine.errors import NotFound, PermissionDenied
from ordo.engine.reports.export import as_data

from .access import may_run_report
from .body import PARAM_PREFIX, check_known, prefixed_params
from .context import Ctx, json_response, route
from .download import download, new_spool
from .errors import bad_request

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _reports(ctx: Ctx) -> Any:
    return ctx.app.features["reports"]


def param_info(p: Any, lang: str) -> dict[str, Any]:
    """A report parameter as a client needs it: type, label, whether required, default, options."""
    return {"type": p.type, "label": label_text(p.label, lang) or None, "required": p.required,
            "default": p.default, "options": list(p.options) if p.options else None}


def report_info(report: Any, lang: str) -> dict[str, Any]:
    return {"name": report.name, "label": report.title(lang), "source": report.defn.source,
            "params": {n: param_info(p, lang) for n, p in report.defn.params.items()},
            "formats": list(FORMATS)}


def list_reports(ctx: Ctx) -> list[dict[str, Any]]:
    check_known(ctx.request, ())
    reports = _reports(ctx)
    with ctx.app.reader(ctx.actor) as tx:
        return [report_info(reports.get(n), ctx.lang) for n in reports.names() if may_run_report(tx, n)]


def run_report(ctx: Ctx) -> Response:
    name = str(ctx.path.get("name", ""))
    reports = _reports(ctx)
    if name not in reports.compiled:
        raise NotFound(f"no report '{name[:60]}'")
    check_known(ctx.request, ("format",), PARAM_PREFIX)
    fmt = ctx.params.get("format") or "json"
    if fmt not in FORMATS:
        raise bad_request(f"format must be one of {', '.join(FORMATS)}, got {fmt[:20]!r}", "format")
    params = prefixed_params(ctx.request)
    if fmt != "json":
        return _stream(ctx, name, fmt, params)
    with ctx.app.reader(ctx.actor) as tx:
        if not may_run_report(tx, name):
            raise PermissionDenied(f"{ctx.user} may not run report {name}")
        result = reports.run(tx, name, params, ctx.lang)
    return json_response(as_data(result))


def _stream(ctx: Ctx, name: str, fmt: str, params: dict[str, Any]) -> Response:
    """Every row as CSV or XLSX: written in one read transaction to a spool (memory, then a temporary
    file: see :mod:`.download`), then sent in chunks."""
    spool = new_spool()
    try:
        with ctx.app.reader(ctx.actor) as tx:
            if not may_run_report(tx, name):
                raise PermissionDenied(f"{ctx.user} may not run report {name}")
            _reports(ctx).stream(tx, name, fmt, spool, params, ctx.lang)
    except BaseException:
        spool.close()
        raise
    return download(spool, FORMATS[fmt], f"{name}.{fmt}")


def routes() -> list:
    return [
        route("/api/v1/reports", list_reports),
        route("/api/v1/reports/{name}", run_report),
    ]
