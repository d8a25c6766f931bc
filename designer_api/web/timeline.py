"""A record's timeline: field changes from the audit log, flow steps, tasks and comments in one stream,
newest first, as the reader may see them (audit entries through ``audit.visible_to``, hidden fields left
out, links by title, options by label)."""

from __future__ import annotations

from typing import Any

from ordo.dsl.base import label_text
from ordo.engine import audit
from ordo.engine.present import Presenter

MAX_EVENTS = 200
_ACTIONS = {
    "create": ("created the record", "创建了记录"), "update": ("changed", "修改了"), "delete": ("deleted", "删除了"),
    "start": ("started the flow", "发起了流程"), "approve": ("approved", "同意"), "reject": ("rejected", "驳回"),
    "comment": ("commented", "评论"), "transfer": ("transferred the task", "转交了任务"),
    "add_approver": ("added an approver", "加签"), "urge": ("urged", "催办"), "withdraw": ("withdrew", "撤回"),
    "cancel": ("cancelled", "取消"), "end": ("the flow ended", "流程结束"), "task": ("task created", "生成任务"),
    "waiting": ("waiting for", "等待处理"),
}


def _say(action: str, lang: str) -> str:
    en, zh = _ACTIONS.get(action, (action.replace("_", " "), action.replace("_", " ")))
    return zh if lang == "zh" else en


def record_timeline(tx: Any, entity: str, record_id: int, lang: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    entries = audit.without_hidden(tx, audit.read(tx.conn, entity=entity, record_id=record_id, limit=MAX_EVENTS,
                                                  visible=audit.visible_to(tx)))
    shown = Presenter(tx, entity, lang=lang)
    for entry, changes in zip(entries, _changes(tx, entries, lang), strict=True):
        items = [{"label": shown.label(f), "before": v[0], "after": v[1]} for f, v in changes.items()
                 if isinstance(v, list) and len(v) == 2 and f not in ("version", "updated_at", "updated_by")]
        events.append({"at": entry.at, "user": entry.user, "kind": "audit", "action": entry.action,
                       "text": _say(entry.action, lang), "changes": items if entry.action == "update" else [],
                       "comment": None})
    flows = tx.app.features.get("flows")
    if flows is not None:
        history = flows.timeline(tx, entity, record_id)
        names = _flow_names(tx, {e.instance_id for e in history})
        for e in history:
            step = _node(flows, names.get(e.instance_id, ""), e.node, lang) if e.node else ""
            events.append({"at": e.at, "user": e.user, "kind": "flow", "action": e.action,
                           "text": _say(e.action, lang) + (f" · {step}" if step else ""),
                           "changes": [], "comment": e.comment})
        status = flows.status(tx, entity, record_id)
        if status is not None:
            for t in status.tasks:
                who = t["assignee"] or t["assignee_role"] or ""
                events.append({"at": t["created_at"], "user": who, "kind": "task", "action": "waiting",
                               "text": f"{_say('waiting', lang)} · {_node(flows, status.flow, t['node'], lang)}",
                               "changes": [], "comment": None})
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:MAX_EVENTS]


def _changes(tx: Any, entries: list[Any], lang: str) -> list[dict[str, Any]]:
    from ordo.engine.present import audit_changes

    return audit_changes(tx, entries, lang=lang) if entries else []


def _node(flows: Any, flow: str, node: str, lang: str) -> str:
    f = flows.flows.get(flow)
    n = f.nodes.get(node) if f is not None else None
    return label_text(n.defn.label, lang, n.label) if n is not None else node


def _flow_names(tx: Any, ids: set[int]) -> dict[int, str]:
    import sqlalchemy as sa

    from ordo.engine.flows.store import flush
    from ordo.engine.flows.tables import instance_table as t

    if not ids:
        return {}
    flush(tx.conn)  # instances started in this transaction and still buffered (flows/rows_later.py)
    return {r.id: r.flow for r in tx.conn.execute(sa.select(t.c.id, t.c.flow).where(t.c.id.in_(sorted(ids))))}
