"""Approval flows over HTTP: the signed-in user's inbox, acting on tasks and instances, timelines.

* ``GET /api/v1/tasks``: pending tasks of the user (assigned to them or to one of their roles), each
  with the record's title and key facts and why it is on their desk.
* ``POST /api/v1/tasks/{id}/{action}``: approve, reject, send_back (reject to an earlier step, ``to``),
  transfer and add_approver (``to`` a user; ``position`` before/after), comment, cancel_task (admins),
  urge (the task's instance); body ``{"comment": ..., "to": ..., "position": ...}``.
* ``POST /api/v1/flows/instances/{id}/{action}``: withdraw, urge, comment, cancel.
* ``GET /api/v1/records/{entity}/{key}/timeline``: the record's flow status and history.

The engine checks who may act; a task on a record the user may not read, which they cannot act on
either, is not found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.base import label_text
from ordo.engine.errors import NotFound
from ordo.engine.flows.actions import can_act
from ordo.engine.flows.inbox import FlowStatus, InboxTask, inbox
from ordo.engine.flows.store import flush
from ordo.engine.flows.tables import task_table
from ordo.engine.present import Presenter

from .access import field_access
from .body import check_known, int_param
from .context import Ctx, route
from .errors import bad_request
from .records import entity_of, key_of
from .views import title_of

if TYPE_CHECKING:
    from ordo.engine.records import Transaction

TASK_ACTIONS = ("approve", "reject", "send_back", "transfer", "add_approver", "comment", "cancel_task", "urge")
INSTANCE_ACTIONS = ("withdraw", "urge", "comment", "cancel")
MAX_FACTS = 6
MAX_INBOX = 500  # tasks in one page
MAX_OFFSET = 10**9  # the inbox is paged in SQL: any page can be reached
_WHY = {
    "assigned": {"en": "assigned to you", "zh": "指派给您"},
    "added_approver": {"en": "you were added as an approver", "zh": "您被加签为审批人"},
    "role": {"en": "for your role {role}", "zh": "您的角色 {role} 的任务"},
}


def _flows(ctx: Ctx) -> Any:
    return ctx.app.features["flows"]


def list_tasks(ctx: Ctx) -> dict[str, Any]:
    check_known(ctx.request, ("limit", "offset"))
    limit = int_param(ctx.request, "limit", 50, maximum=MAX_INBOX) or 0
    offset = int_param(ctx.request, "offset", 0, maximum=MAX_OFFSET) or 0
    with ctx.app.reader(ctx.actor) as tx:
        found = inbox(tx, None, limit=limit + 1, offset=offset)  # one more: are there more?
        return {"items": _present_tasks(tx, found[:limit], ctx.lang), "limit": limit, "offset": offset,
                "more": len(found) > limit}


def _present_tasks(tx: Transaction, tasks: list[InboxTask], lang: str) -> list[dict[str, Any]]:
    kinds = {r.id: r.kind for r in tx.conn.execute(
        sa.select(task_table.c.id, task_table.c.kind).where(task_table.c.id.in_([t.id for t in tasks])))} \
        if tasks else {}
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for entity in {t.entity for t in tasks if t.entity in tx.app.definition.entities}:
        ids = sorted({t.record_id for t in tasks if t.entity == entity})
        records.update(_key_facts(tx, entity, ids, lang))
    flows = tx.app.features["flows"]
    out = []
    for t in tasks:
        flow = flows.flows.get(t.flow)
        node = flow.nodes.get(t.node) if flow is not None else None
        out.append({
            "id": t.id, "instance": t.instance_id,
            "flow": {"name": t.flow, "label": label_text(flow.defn.label, lang, t.flow) if flow else t.flow},
            "step": {"name": t.node, "label": label_text(node.defn.label, lang, node.label) if node else t.node},
            "record": records.get((t.entity, t.record_id), {"entity": t.entity, "name": None, "title": None,
                                                              "facts": []}),
            "why": _why(tx, t, kinds.get(t.id, "main"), lang),
            "created_at": t.created_at, "due_at": t.due_at, "overdue": t.overdue,
        })
    return out


def _why(tx: Transaction, t: InboxTask, kind: str, lang: str) -> dict[str, Any]:
    if t.assignee == tx.user.name:
        code = "added_approver" if kind in ("before", "after") else "assigned"
        return {"code": code, "role": None, "text": label_text(_WHY[code], lang)}
    role = tx.app.definition.get("role", t.role or "")
    shown = label_text(role.label, lang, t.role or "") if role is not None else (t.role or "")
    return {"code": "role", "role": t.role, "text": label_text(_WHY["role"], lang).format(role=shown)}


def fact_fields(tx: Transaction, entity: str) -> list[str]:
    """The fields that say what a record is at a glance: those of the first section of the entity's first
    form, else its title field and first plain fields (never hidden ones, never child tables)."""
    ce = tx.app.compiled.entity(entity)
    hidden = field_access(tx, entity).hidden
    form = next((f for f in tx.app.definition.all("form") if f.entity == entity and f.sections), None)
    names = list(form.sections[0].fields) if form is not None else (
        [ce.defn.title_field] if ce.defn.title_field else []) + [
        n for n, cf in ce.fields.items() if cf.stored and cf.kind not in ("json", "text")]
    out: list[str] = []
    for n in names:
        cf = ce.fields.get(n)
        if cf is not None and cf.stored and n not in hidden and n not in out:
            out.append(n)
    return out[:MAX_FACTS]


def _key_facts(tx: Transaction, entity: str, ids: list[int], lang: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The records behind tasks that the user may read: name, title and key facts (labels and values as
    people read them). Records they may not read stay unnamed."""
    ce = tx.app.compiled.entity(entity)
    table = ce.table
    assert table is not None
    allowed = tx.row_filter(entity)
    q = sa.select(table).where(table.c.id.in_(ids))
    recs = [dict(r._mapping) for r in tx.conn.execute(q if allowed is None else q.where(allowed))]
    names = fact_fields(tx, entity)
    shown = Presenter(tx, entity, names, lang) if names else None
    texts = shown.text(recs) if shown else [{} for _ in recs]
    titles = title_of(tx, entity, recs, lang)
    return {(entity, r["id"]): {
        "entity": entity, "id": r["id"], "name": r["name"], "title": title,
        "facts": [{"field": n, "label": shown.label(n), "value": text.get(n)} for n in names] if shown else []}
        for r, text, title in zip(recs, texts, titles, strict=True)}


def _task_id(ctx: Ctx, name: str = "id") -> int:
    raw = str(ctx.path.get(name, ""))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise bad_request(f"{name} must be a whole number, got {raw[:40]!r}", name)
    return int(raw)


def _text(ctx: Ctx, name: str) -> str | None:
    value = ctx.body.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > 10_000):
        raise bad_request(f"'{name}' must be text of at most 10000 characters", name)
    return value


def _visible_task(tx: Transaction, task_id: int) -> dict[str, Any]:
    """The task, if the user may act on it or read its record; otherwise it is not found (so that its
    assignee and record stay unknown)."""
    flush(tx.conn)  # tasks of this transaction still buffered
    row = tx.conn.execute(sa.select(task_table).where(task_table.c.id == task_id)).first()
    task = dict(row._mapping) if row is not None else None
    if task is None or not (can_act(tx, task) or _readable(tx, task["entity"], task["record_id"])):
        raise NotFound(f"no task {task_id}")
    return task


def _readable(tx: Transaction, entity: str, record_id: int) -> bool:
    ce = tx.app.compiled.entities.get(entity)
    if ce is None or ce.table is None:
        return False
    q = sa.select(ce.table.c.id).where(ce.table.c.id == record_id)
    allowed = tx.row_filter(entity)
    return tx.conn.execute(q if allowed is None else q.where(allowed)).first() is not None


def act_on_task(ctx: Ctx) -> dict[str, Any]:
    task_id, action = _task_id(ctx), str(ctx.path.get("action", ""))
    if action not in TASK_ACTIONS:
        raise NotFound(f"no task action '{action[:40]}' (actions: {', '.join(TASK_ACTIONS)})")
    comment, to, position = _text(ctx, "comment"), _text(ctx, "to"), _text(ctx, "position") or "after"
    check_action(action, to)
    return ctx.app.run(ctx.actor, lambda tx: perform(tx, task_id, action, comment, to, position),
                       f"{action} on task {task_id}")


def check_action(action: str, to: str | None) -> None:
    """Refuse an action that lacks its target (before anything is read)."""
    if action == "send_back" and not to:
        raise bad_request("send_back needs 'to': the earlier step to send the flow back to", "to")
    if action in ("transfer", "add_approver") and not to:
        raise bad_request(f"{action} needs 'to': the user to hand the task to", "to")


def perform(tx: Transaction, task_id: int, action: str, comment: str | None, to: str | None,
            position: str = "after") -> dict[str, Any]:
    """Do task ``action`` as the user of ``tx`` (the API and the inbox page both act through here)."""
    flows = tx.app.features["flows"]
    task = _visible_task(tx, task_id)
    if action == "urge":
        result = flows.urge(tx, task["instance_id"], comment)
    else:
        name = "reject" if action == "send_back" else action
        result = flows.act(tx, task_id, name, comment=comment, to=to, position=position)
    return {"task": task_id, "action": action, "new_task": result if action in ("transfer", "add_approver")
            else None, "flow": _status(tx, task["entity"], task["record_id"])}


def act_on_instance(ctx: Ctx) -> dict[str, Any]:
    instance_id, action = _task_id(ctx), str(ctx.path.get("action", ""))
    if action not in INSTANCE_ACTIONS:
        raise NotFound(f"no flow instance action '{action[:40]}' (actions: {', '.join(INSTANCE_ACTIONS)})")
    comment = _text(ctx, "comment")

    def work(tx: Transaction) -> dict[str, Any]:
        flows = tx.app.features["flows"]
        inst = _visible_instance(tx, instance_id)
        if action == "comment":
            flows.comment(tx, instance_id, comment or "")
        else:
            getattr(flows, action)(tx, instance_id, comment)
        return {"instance": instance_id, "action": action, "flow": _status(tx, inst["entity"], inst["record_id"])}

    return ctx.app.run(ctx.actor, work, f"{action} on flow instance {instance_id}")


def _visible_instance(tx: Transaction, instance_id: int) -> dict[str, Any]:
    """The instance, if the user started it, holds one of its tasks or may read its record."""
    from ordo.engine.flows.store import flush
    from ordo.engine.flows.tables import instance_table as t

    flush(tx.conn)  # instances started in this transaction and still buffered (flows/rows_later.py)
    row = tx.conn.execute(sa.select(t).where(t.c.id == instance_id)).first()
    inst = dict(row._mapping) if row is not None else None
    if inst is None or not (tx.user.is_admin or inst["started_by"] == tx.user.name
                            or _readable(tx, inst["entity"], inst["record_id"])
                            or any(can_act(tx, task) for task in tx.app.features["flows"].tasks(tx, instance_id))):
        raise NotFound(f"no flow instance {instance_id}")
    return inst


def _status(tx: Transaction, entity: str, record_id: int) -> dict[str, Any] | None:
    from ordo.engine.flows.inbox import status

    return status_data(status(tx, entity, record_id))


def status_data(st: FlowStatus | None) -> dict[str, Any] | None:
    if st is None:
        return None
    return {"instance": st.instance_id, "flow": st.flow, "status": st.status, "outcome": st.outcome,
            "current": st.current, "started_by": st.started_by, "started_at": st.started_at,
            "ended_at": st.ended_at,
            "tasks": [{"id": t["id"], "step": t["node"], "assignee": t["assignee"], "role": t["assignee_role"],
                       "kind": t["kind"], "created_at": t["created_at"], "due_at": t["due_at"]} for t in st.tasks]}


def timeline(ctx: Ctx) -> dict[str, Any]:
    entity, key = entity_of(ctx), key_of(ctx)
    check_known(ctx.request, ())
    with ctx.app.reader(ctx.actor) as tx:
        rec = tx.get(entity, key)  # 404 for a record the user may not read
        flows = _flows(ctx)
        events = flows.timeline(tx, entity, rec["id"])
        return {"record": {"entity": entity, "id": rec["id"], "name": rec["name"],
                           "title": title_of(tx, entity, [rec], ctx.lang)[0]},
                "flow": status_data(flows.status(tx, entity, rec["id"])),
                "events": [{"at": e.at, "user": e.user, "action": e.action, "step": e.node, "comment": e.comment,
                            "task": e.task_id, "instance": e.instance_id, "detail": e.detail} for e in events]}


def routes() -> list:
    return [
        route("/api/v1/tasks", list_tasks),
        route("/api/v1/tasks/{id}/{action}", act_on_task, ["POST"], body=True, optional_body=True),
        route("/api/v1/flows/instances/{id}/{action}", act_on_instance, ["POST"], body=True, optional_body=True),
        route("/api/v1/records/{entity}/{key}/timeline", timeline),
    ]
