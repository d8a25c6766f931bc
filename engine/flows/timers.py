"""Timer jobs: approval timeouts (remind, escalate, approve, reject, goto) and wait timeouts.

A timer is a row in ``ordo_job`` enqueued with the state that needs it and
cancelled when the token moves on; a stale timer (the token has since left and
come back: ``visit`` differs) does nothing. The job runner claims jobs with
SKIP LOCKED, so several workers never fire one timer twice.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ordo.dsl.flow_nodes import parse_duration

from . import store
from .approval import notify_task, rejected
from .people import resolve
from .runner import Run
from .store import Token

if TYPE_CHECKING:
    from ..records import Transaction
    from .runtime import FlowRuntime


def fire(rt: FlowRuntime, tx: Transaction, payload: dict[str, Any]) -> None:
    loaded = store.load_instance(tx.conn, int(payload["instance"]), rt.records)
    inst = loaded.instance
    if inst.status != "running":
        return
    run = Run(rt, tx, inst, rt.flow_for(tx, inst), loaded=loaded)
    tok = run.state.token(int(payload["token"]))
    if tok is None or tok.node != payload["node"] or tok.data.get("visit") != payload["visit"]:
        return  # the flow has moved on since this timer was set
    node = run.flow.nodes[tok.node]
    queue: deque[Token] = deque()
    if payload["kind"] == "wait":
        t = node.defn.timeout
        run.leave(tok)
        run.history("timeout", node.name, after=t.after)
        run.move(tok, t.to or node.next, queue)
    else:
        _approval_timeout(run, tok, node, int(payload["index"]), queue)
    run.go(list(queue))


def _approval_timeout(run: Run, tok: Token, node: Any, index: int, queue: deque[Token]) -> None:
    t = node.defn.timeouts()[index]
    assert tok.id is not None
    pending = [x for x in run.state.token_tasks(tok) if x["status"] == "pending"]
    if t.when and run.eval(node, f"timeout.{index}.when") is not True:
        run.history("timeout_skipped", node.name, timeout=t.action, after=t.after, reason=f"{t.when} does not hold")
        if t.repeat:
            run.timer(tok, index, parse_duration(t.after), "approval")
        return
    if t.action == "remind":
        for task in pending:
            notify_task(run, task, node, reminder=True)
        run.history("remind", node.name, tasks=[x["id"] for x in pending], after=t.after)
        if t.repeat:
            run.timer(tok, index, parse_duration(t.after), "approval")
    elif t.action == "escalate":
        _escalate(run, tok, node, index, pending)
    elif t.action == "approve":
        run.cancel_tasks(f"timed out after {t.after}: {node.name} approved automatically", tok.id)
        run.leave(tok)
        run.history("auto_approved", node.name, reason=f"timeout after {t.after}")
        run.inst.data["last_approvers"] = []
        run.move(tok, node.next, queue)
    elif t.action == "reject":
        run.history("auto_rejected", node.name, reason=f"timeout after {t.after}")
        rejected(run, tok, node, queue, why=f"timed out after {t.after}: {node.name} rejected automatically")
    else:  # goto
        run.cancel_tasks(f"timed out after {t.after}: the flow went to {t.to}", tok.id)
        run.leave(tok)
        run.history("timeout", node.name, to=t.to, after=t.after)
        run.move(tok, t.to, queue)


def _escalate(run: Run, tok: Token, node: Any, index: int, pending: list[dict[str, Any]]) -> None:
    """The pending tasks move to the people the timeout names (a role gets one shared task)."""
    t = node.defn.timeouts()[index]
    found = resolve(run.tx, [node.escalations[index]], run.record, run.inst.started_by, run.inst.entity)
    found = [a for a in found if a[0] == "user" or run.members(a[1])]
    if not found:  # nobody to hand the task to: it stays where it is
        run.history("escalate", node.name, after=t.after, to=[], reason=f"{t.escalate_to().describe()} gave nobody")
        return
    who = ", ".join(name if kind == "user" else f"role {name}" for kind, name in found)
    for task in pending:
        if run.state.set_task(task, "pending", status="cancelled", acted_at=run.now,
                              comment=f"escalated to {who} after {t.after}"):
            run.history("task_cancelled", node.name, task_id=task["id"], assignee=task["assignee"],
                        role=task["assignee_role"], reason=f"escalated to {who} after {t.after}")
    for kind, name in found:
        new = run.state.add_task(
            instance_id=run.inst.id, token_id=tok.id, flow=run.flow.name, node=node.name,
            entity=run.inst.entity, record_id=run.inst.record_id, status="pending", kind="main", seq=0,
            created_at=run.now, due_at=None, assignee=name if kind == "user" else None,
            assignee_role=name if kind == "role" else None, visit=tok.data["visit"])
        run.history("escalate", node.name, task_id=new["id"], assignee=name, role=kind == "role", after=t.after)
        notify_task(run, new, node, reminder=True)
