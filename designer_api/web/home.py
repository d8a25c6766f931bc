"""The home page: the user's open tasks, the entities and reports their roles allow, alerts that fired."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ordo.dsl.base import humanize, label_text

from ..access import may_run_report, readable_entities
from ..tasks import _present_tasks
from .base import Page, page, redirect
from .report_page import alert_hits

HOME_TASKS = 10


def entity_links(tx: Any, lang: str) -> list[dict[str, str]]:
    """The top-level entities the user may read, by label, with their list page."""
    out = []
    for name in readable_entities(tx):
        defn = tx.app.compiled.entities[name].defn
        out.append({"name": name, "label": label_text(defn.label, lang, humanize(name)), "href": f"/app/{name}"})
    return sorted(out, key=lambda e: e["label"])


def report_links(tx: Any, lang: str) -> list[dict[str, Any]]:
    reports = tx.app.features["reports"]
    return [{"name": n, "label": reports.get(n).title(lang), "href": f"/reports/{n}",
             "alert": reports.get(n).defn.alert is not None}
            for n in reports.names() if may_run_report(tx, n)]


def home(pg: Page) -> Response:
    from ordo.engine.flows.inbox import inbox

    with pg.app.reader(pg.actor) as tx:
        found = inbox(tx, None, limit=HOME_TASKS + 1)
        tasks = _present_tasks(tx, found[:HOME_TASKS], pg.lang)
        reports = report_links(tx, pg.lang)
        alerts = []
        for r in reports:
            if r["alert"]:
                hits = alert_hits(tx, r["name"])
                if hits:
                    alerts.append({**r, "count": len(hits)})
        return pg.render("home.html", tasks=tasks, more=len(found) > HOME_TASKS,
                         entities=entity_links(tx, pg.lang), reports=reports, alerts=alerts)


def root(pg: Page) -> Response:
    return redirect("/home")


def routes() -> list:
    return [page("/", root, auth=False), page("/home", home)]
