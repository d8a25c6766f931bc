"""The inbox: the user's pending tasks with the record's key facts and why each is on their desk;
approve / reject with a comment / send back / transfer / add an approver / urge, bulk approve, and a task
page with the flow diagram (server-side SVG) with the current position highlighted. Laid out for a phone
as well as a desk. The inbox is paged in SQL (``PAGE_SIZE`` a page, with the total): never a silent cut.

Every action goes through ``designer_api.tasks.perform``, the same call the REST API makes: the flow
engine decides who may act.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup
from starlette.responses import Response

from ordo.dsl.base import label_text
from ordo.engine.errors import NotFound, OrdoError
from ordo.engine.flows.diagram import svg
from ordo.engine.flows.inbox import inbox, inbox_count, inbox_task

from ..tasks import TASK_ACTIONS, _present_tasks, _visible_task, check_action, perform
from .base import Page, error_page, page, redirect
from .words import word

MAX_BULK = 200
PAGE_SIZE = 50  # tasks on one inbox page
MAX_TEXT = 10_000
FORM_ACTIONS = ("approve", "reject", "send_back", "transfer", "add_approver", "urge")


def _task_id(raw: Any) -> int:
    text = str(raw or "")
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise NotFound(f"no task {text[:40]!r}")
    return int(text)


def _earlier_steps(tx: Any, flow: str, node: str, lang: str) -> list[tuple[str, str]]:
    """The steps a task at ``node`` can be sent back to: (name, label)."""
    f = tx.app.features["flows"].flows.get(flow)
    if f is None:
        return []
    out = []
    for n in sorted(f.ancestors.get(node, set())):
        nd = f.nodes.get(n)
        if nd is not None and nd.type == "approval":
            out.append((n, label_text(nd.defn.label, lang, nd.label)))
    return out


def _page_number(raw: Any) -> int:
    text = str(raw or "")
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 9 and int(text) > 0 else 1


def _present(pg: Page, tx: Any, found: list[Any]) -> list[dict[str, Any]]:
    tasks = _present_tasks(tx, found, pg.lang)
    for t in tasks:
        t["send_back"] = _earlier_steps(tx, t["flow"]["name"], t["step"]["name"], pg.lang)
    return tasks


def _inbox(pg: Page, tx: Any, number: int) -> dict[str, Any]:
    """One page of the user's pending tasks (paged in SQL) with the total, so that the page always says how
    many there are and which of them it shows; a page past the end shows the last one."""
    total = inbox_count(tx)
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(number, pages)
    offset = (number - 1) * PAGE_SIZE
    tasks = _present(pg, tx, inbox(tx, None, limit=PAGE_SIZE, offset=offset)) if total else []
    return {"tasks": tasks, "total": total, "page": number, "pages": pages,
            "first": offset + 1 if tasks else 0, "last": offset + len(tasks)}


def inbox_page(pg: Page) -> Response:
    with pg.app.reader(pg.actor) as tx:
        shown = _inbox(pg, tx, _page_number(pg.params.get("page")))
        return pg.render("inbox.html", **shown, notice=_notice(pg), alert=None)


def _back(number: int) -> str:
    """The query that keeps the inbox on page ``number`` after an action."""
    return f"&page={number}" if number > 1 else ""


def _notice(pg: Page) -> str | None:
    done = pg.params.get("done")
    if done in TASK_ACTIONS:
        return word("done_action", pg.lang).format(action=word(done, pg.lang) if done in FORM_ACTIONS else done)
    ok, failed = pg.params.get("ok"), pg.params.get("failed")
    if ok is not None and ok.isdigit() and failed is not None and failed.isdigit():
        return word("bulk_done", pg.lang).format(ok=int(ok), failed=int(failed))
    return None


def _flow_svg(pg: Page, flow: Any, current: list[str]) -> Markup:
    """The flow's diagram (drawn once per flow) with the ``current`` steps marked."""
    cache = pg.app.features.setdefault("web.diagrams", {})
    drawn = cache.get((flow.name, pg.lang))
    if drawn is None:
        drawn = cache[(flow.name, pg.lang)] = svg(flow, pg.lang)
    for n in current:
        drawn = re.sub(rf'<g class="node ([a-z]+)" id="node-{re.escape(n)}">',
                       rf'<g class="node \1 current" id="node-{n}" aria-current="step">', drawn)
    return Markup(drawn)


def task_page(pg: Page) -> Response:
    task_id = _task_id(pg.path.get("id"))
    with pg.app.reader(pg.actor) as tx:
        task = _visible_task(tx, task_id)
        flows = tx.app.features["flows"]
        mine = inbox_task(tx, task_id)  # the task panel: only a task on the user's desk, read by its id
        shown = _present(pg, tx, [mine]) if mine is not None else []
        status = flows.status(tx, task["entity"], task["record_id"])
        flow = flows.flows.get(task["flow"]) if "flow" in task else None
        if flow is None and status is not None:
            flow = flows.flows.get(status.flow)
        current = list(status.current) if status is not None else [task["node"]]
        diagram = _flow_svg(pg, flow, current) if flow is not None else None
        return pg.render("task.html", task=shown[0] if shown else None, task_id=task_id, diagram=diagram,
                         flow_label=label_text(flow.defn.label, pg.lang, flow.name) if flow is not None else "",
                         record_href=f"/app/{task['entity']}/{task['record_id']}", status=task["status"])


def act(pg: Page) -> Response:
    task_id = _task_id(pg.path.get("id"))
    action = str(pg.path.get("action", ""))
    if action not in FORM_ACTIONS:
        raise NotFound(f"no task action '{action[:40]}' (actions: {', '.join(FORM_ACTIONS)})")
    comment = (pg.form.get("comment") or "").strip()[:MAX_TEXT] or None
    to = (pg.form.get("to") or "").strip()[:200] or None
    position = pg.form.get("position") or "after"
    number = _page_number(pg.form.get("page"))
    if position not in ("before", "after"):
        position = "after"
    try:
        check_action(action, to)
        pg.app.run(pg.actor, lambda tx: perform(tx, task_id, action, comment, to, position),
                   f"{action} on task {task_id}")
    except NotFound:
        raise
    except OrdoError as e:
        with pg.app.reader(pg.actor) as tx:
            shown = _inbox(pg, tx, number)
        from .base import status_of

        return pg.render("inbox.html", status_of(e), **shown, notice=None, alert=e.message, failed_task=task_id)
    return redirect(f"/inbox?done={action}{_back(number)}")


def bulk(pg: Page) -> Response:
    """Approve each selected task in its own transaction: one that cannot be approved (someone else was
    faster, a comment is required) leaves the others approved, and the page says how many."""
    ids = []
    for raw in pg.form.all("task")[:MAX_BULK]:
        try:
            ids.append(_task_id(raw))
        except NotFound:
            continue
    comment = (pg.form.get("comment") or "").strip()[:MAX_TEXT] or None
    number = _page_number(pg.form.get("page"))
    ok = failed = 0
    for task_id in dict.fromkeys(ids):
        try:
            pg.app.run(pg.actor, lambda tx, t=task_id: perform(tx, t, "approve", comment, None),
                       f"approve on task {task_id}")
            ok += 1
        except OrdoError:
            failed += 1
    return redirect(f"/inbox?ok={ok}&failed={failed}{_back(number)}")


def routes() -> list:
    return [page("/inbox", inbox_page), page("/inbox/bulk", bulk, ["POST"]),
            page("/inbox/{id}", task_page), page("/inbox/{id}/{action}", act, ["POST"])]


__all__ = ["routes", "error_page"]
