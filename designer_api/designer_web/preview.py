"""Previews of the DRAFT's rules and reports on the live database, before publishing (nothing is written):

* ``GET /designer/preview/report/{name}``: the report's first rows and its chart, run as the signed-in user
  (their row rules) with the report's default parameters (``p_NAME`` overrides one);
* ``GET /designer/preview/allocation/{name}?demand=NAME``: the allocation rule's explain output on a
  sample demand (an existing demand record), planned and rolled back as ``ordo allocate --dry-run`` does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.responses import Response

from ordo.engine.errors import NotFound, OrdoError

from ..errors import ApiError
from ..web.base import Page
from . import drafts
from .base import designer_page, is_number, render

FIRST_ROWS = 20


class _DryRun(Exception):
    """Rolls the planned allocation back."""


def _draft_app(pg: Page) -> Any:
    return drafts.draft_app(pg)


def _file(pg: Page, kind: str, name: str) -> str | None:
    return drafts.file_of(drafts.draft(pg).definition, kind, name)


def report_preview(pg: Page) -> Response:
    from ordo.engine.reports.chart import render_svg
    from ordo.engine.reports.format import display
    from ordo.engine.reports.run import run

    name = pg.path["name"]
    app = _draft_app(pg)
    reports = app.features["reports"]
    if name not in reports.compiled:
        raise NotFound(f"no report {name!r} in the draft")
    params = {k[2:]: v for k, v in pg.params.items() if k.startswith("p_") and v != ""}
    try:
        with app.reader(pg.actor) as tx:
            result = run(reports.allowed(tx, name), tx, params, lang=pg.lang)  # the published run grant
    except sa.exc.SQLAlchemyError:
        raise ApiError(409, "conflict", "the draft reads columns the database does not have yet: publish the "
                       "schema change first") from None
    columns = [{"name": c.name, "label": c.label} for c in result.columns]
    rows = [[_cell(display, result, c.name, row.get(c.name)) for c in result.columns] for row in
            result.rows[:FIRST_ROWS]]
    chart = render_svg(result) if result.chart is not None and result.rows else None
    return render(pg, "designer/preview.html", kind="report", name=name, title=result.label, columns=columns,
                  rows=rows, total=len(result.rows), chart=chart, explain=None, demand="",
                  file=_file(pg, "report", name))


def _cell(display: Any, result: Any, column: str, value: Any) -> str:
    try:
        return str(display(result.column(column), value, lang=result.lang))
    except Exception:  # noqa: BLE001 - a value the formatter does not know is shown as it is
        return "" if value is None else str(value)


def allocation_preview(pg: Page) -> Response:
    name = pg.path["name"]
    app = _draft_app(pg)
    service = app.features["allocation"]
    try:
        rule = service.rule(name)
    except (KeyError, NotFound):
        raise NotFound(f"no allocation rule {name!r} in the draft") from None
    demand = (pg.params.get("demand") or "").strip()
    explain = None
    if demand:
        found: list[Any] = []

        def work(tx: Any) -> None:
            found.append(service.allocate(tx, name, int(demand) if is_number(demand) else demand, explain=True))
            raise _DryRun

        try:
            app.run(pg.actor, work, f"allocation {name} of {demand} (preview)")
        except _DryRun:
            pass
        except sa.exc.SQLAlchemyError:
            raise ApiError(409, "conflict", "the draft reads columns the database does not have yet: publish "
                           "the schema change first") from None
        except OrdoError:
            raise
        explain = found[0].explain_text() + "\n(preview: nothing was saved)" if found else None
    return render(pg, "designer/preview.html", kind="allocation", name=name, title=name, columns=[], rows=[],
                  total=0, chart=None, explain=explain, demand=demand, demand_entity=rule.defn.demand.entity,
                  file=_file(pg, "allocation", name))


def routes() -> list:
    return [designer_page("/designer/preview/report/{name}", report_preview),
            designer_page("/designer/preview/allocation/{name}", allocation_preview)]
