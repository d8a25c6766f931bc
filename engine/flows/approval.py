"""Approval nodes: creating tasks, deciding when a node is approved or rejected.

Modes: ``any`` (the first answer decides), ``all`` (everyone, or ``min_approvals``
of them, must approve; the node is rejected once that can no longer happen) and
``sequential`` (one task after another). Add-sign tasks (``before``/``after`` a
task) must be approved too before the node completes.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ordo.dsl.flow_nodes import NoApproverRole, parse_duration

from .compile import CNode
from .pending import set_fields
from .people import Assignee, FlowFailed, expand, resolve, send
from .store import OPEN_TASK, Token

if TYPE_CHECKING:
    from .runner import Run


def enter_approval(run: Run, tok: Token, node: CNode, queue: deque[Token]) -> None:
    d, tx = node.defn, run.tx
    if "auto_approve_if" in node.exprs and run.eval(node, "auto_approve_if") is True:
        run.history("auto_approved", node.name, reason="auto_approve_if")
        run.inst.data["last_approvers"] = []
        run.move(tok, d.next, queue)
        return
    assignees = _assignees(run, node, resolve(tx, node.approvers, run.record, run.inst.started_by,
                                               run.inst.entity, keep=lambda values: set_fields(run, values)))
    if not assignees:
        policy = d.if_no_approver
        if isinstance(policy, NoApproverRole):
            assignees = _assignees(run, node, [("role", policy.role)])
            if not assignees:
                raise FlowFailed(f"no approver for node '{node.name}' of flow {run.flow.name}: role "
                                 f"'{policy.role}' has no active members")
        elif policy == "fail":
            raise FlowFailed(f"no approver for node '{node.name}' of flow {run.flow.name} "
                             f"({', '.join(a.spec.describe() for a in node.approvers)} gave nobody)")
        elif policy == "reject":
            run.history("auto_rejected", node.name, reason="no approver")
            rejected(run, tok, node, queue)
            return
        else:
            run.history("skipped" if policy == "skip" else "auto_approved", node.name, reason="no approver")
            run.move(tok, d.next, queue)
            return
    run.rest(tok)
    last = set(run.inst.data.get("last_approvers", [])) if d.skip_same_approver else set()
    due_at = run.now + node.due if node.due else None
    for i, (kind, name) in enumerate(assignees):
        status = "pending" if d.mode != "sequential" or i == 0 else "waiting"
        values = dict(instance_id=run.inst.id, token_id=tok.id, flow=run.flow.name, node=node.name,
                      entity=run.inst.entity, record_id=run.inst.record_id, status=status, kind="main", seq=i,
                      visit=tok.data["visit"],
                      created_at=run.now, due_at=due_at,
                      assignee=name if kind == "user" else None, assignee_role=name if kind == "role" else None)
        if kind == "user" and name in last and status == "pending":
            values.update(status="approved", acted_by=name, acted_at=run.now,
                          comment="approved already at the previous step")
        task_id = run.state.add_task(**values)["id"]
        run.history("auto_approved" if values["status"] == "approved" else "assigned", node.name, task_id=task_id,
                    assignee=name, role=kind == "role", reason="same approver" if values["status"] == "approved"
                    else None)
    for i, t in enumerate(d.timeouts()):
        run.timer(tok, i, parse_duration(t.after), "approval")
    evaluate(run, tok, node, queue, fresh=True)


def _assignees(run: Run, node: CNode, found: list[Assignee]) -> list[Assignee]:
    """Roles are expanded to their members unless one member's answer suffices (mode any)."""
    if node.defn.mode != "any":
        return [("user", u) for u in expand(None, found, run.members)]
    return [a for a in found if a[0] == "user" or run.members(a[1])]


def notify_task(run: Run, task: dict, node: CNode, reminder: bool = False) -> None:
    if not node.defn.notify and not reminder:
        return
    users = [task["assignee"]] if task["assignee"] else run.members(task["assignee_role"])
    title = run.flow.defn.label or run.flow.name
    title = title if isinstance(title, str) else next(iter(title.values()))
    subject = f"{'Reminder: ' if reminder else ''}{title}: {run.record.get('name')} waits for you ({node.label})"
    send(run.tx, users, subject, "", "inbox", {**run.payload(node), "task": task["id"]})


def evaluate(run: Run, tok: Token, node: CNode, queue: deque[Token], fresh: bool = False) -> None:
    """Decide whether the node is complete; activate the next sequential task; notify new tasks."""
    d = node.defn
    assert tok.id is not None
    tasks = run.state.token_tasks(tok)
    main = [t for t in tasks if t["kind"] == "main" and t["status"] not in ("transferred", "cancelled")]
    added_open = [t for t in tasks if t["kind"] != "main" and t["status"] in OPEN_TASK]
    approved = [t for t in main if t["status"] == "approved"]
    if d.mode == "any":
        done = bool(approved) or not main
    elif d.mode == "all":
        need = min(d.min_approvals or len(main), len(main))
        done = len(approved) >= need
    else:
        done = all(t["status"] == "approved" for t in main)
        pending_main = [t for t in main if t["status"] == "pending"]
        nxt = next((t for t in main if t["status"] == "waiting"), None)
        if not done and not pending_main and not added_open and nxt is not None:
            run.state.set_task(nxt, "waiting", status="pending", created_at=run.now,
                               due_at=run.now + node.due if node.due else None)
            notify_task(run, nxt, node)
    if done and not added_open:
        run.cancel_tasks(f"not needed: {node.name} was approved" if approved else
                         f"{node.name} went on without its cancelled tasks", tok.id)
        run.inst.data["last_approvers"] = list(dict.fromkeys(
            t["acted_by"] for t in tasks if t["status"] == "approved" and t["acted_by"]))
        run.leave(tok)
        if approved:
            run.history("approved", node.name, approvers=run.inst.data["last_approvers"])
        else:  # every task was cancelled (cancel_task): the step goes on, approved by nobody
            run.history("skipped", node.name, reason="every task was cancelled")
        run.move(tok, d.next, queue)
        return
    if fresh:
        for t in tasks:
            if t["status"] == "pending":
                notify_task(run, t, node)


def reject_allowed_to_continue(run: Run, tok: Token, node: CNode) -> bool:
    """Mode all with min_approvals: a rejection only ends the node when the quorum became impossible."""
    d = node.defn
    if d.mode != "all" or not d.min_approvals:
        return False
    assert tok.id is not None
    tasks = run.state.token_tasks(tok)
    main = [t for t in tasks if t["kind"] == "main" and t["status"] not in ("transferred", "cancelled")]
    possible = [t for t in main if t["status"] in ("approved", *OPEN_TASK)]
    return len(possible) >= min(d.min_approvals, len(main))


def rejected(run: Run, tok: Token, node: CNode, queue: deque[Token], to: str | None = None,
             comment: str | None = None, why: str | None = None) -> None:
    """The node is rejected: send back to ``to`` / ``on_reject``, or end the flow as rejected."""
    target = to or node.defn.on_reject
    if tok.id is not None:
        run.cancel_tasks(why or f"{node.name} was rejected", tok.id)
    run.leave(tok)
    run.inst.data["last_approvers"] = []
    if target is None:
        run.finish("rejected", "rejected", comment)
        return
    if target in run.flow.ancestors.get(node.name, set()):  # sent back: start over from there
        for other in run.state.tokens():
            if other.id != tok.id:
                run.leave(other)
                run.cancel_tasks(f"{node.name} was sent back to {target}", other.id)
                run.state.finish_token(other, "cancelled")
        tok.splits = []
        run.history("sent_back", node.name, to=target)
    run.move(tok, target, queue)
