"""Human actions on tasks and instances, each permission-checked and all-or-nothing.

Double actions are impossible: the instance row is locked (PostgreSQL ``FOR
UPDATE``; SQLite has one writer) before its tasks are read, and the task only
changes with a conditional ``UPDATE ... WHERE status = 'pending'``; the instance
is saved with a ``rev`` check. The instance's tokens and tasks are read once per
action (``Run.state``) and decided on in memory.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, NotFound, PermissionDenied, UsageError
from . import ahead, store
from .approval import evaluate, notify_task, reject_allowed_to_continue, rejected
from .pending import set_fields
from .runner import Run
from .store import Token

if TYPE_CHECKING:
    from ..records import Transaction
    from .runtime import FlowRuntime

TASK_ACTIONS = ("approve", "reject", "transfer", "add_approver", "comment", "cancel_task")


def _open(rt: FlowRuntime, tx: Transaction, task_id: int) -> tuple[dict[str, Any], Run]:
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise UsageError(f"task must be a task id (a number), got {task_id!r}")
    loaded = ahead.take(tx, task_id, rt.records, store.flush) or store.load_instance_of_task(
        tx.conn, task_id, rt.records)
    inst = loaded.instance
    run = Run(rt, tx, inst, rt.flow_for(tx, inst), loaded=loaded)
    task = run.state.task(task_id)  # as it is now that we hold the lock
    _visible(run, f"task {task_id}", task)
    return task, run


def _visible(run: Run, what: str, task: dict[str, Any] | None = None) -> None:
    """A task or case the acting user has nothing to do with (not theirs to act on, not started by them,
    on a record they may not read) is, for them, not there: the same answer as for one that does not
    exist, so ids cannot be probed."""
    tx, inst = run.tx, run.inst
    if tx.user.is_admin or tx.user.name == inst.started_by or (task is not None and can_act(tx, task)):
        return
    if tx.find(inst.entity, inst.record_id) is None and not any(
            can_act(tx, t) for t in run.state.open_tasks()):
        raise NotFound(f"{what} not found")


def can_act(tx: Transaction, task: dict[str, Any]) -> bool:
    u = tx.user
    return u.is_admin or task["assignee"] == u.name or (
        task["assignee"] is None and task["assignee_role"] is not None and task["assignee_role"] in u.roles)


def _check(run: Run, task: dict[str, Any], action: str, comment: str | None) -> None:
    if run.inst.status != "running":
        raise Conflict(f"the flow of task {task['id']} is {run.inst.status}; nothing to {action}")
    if task["status"] != "pending":
        by = f" by {task['acted_by']}" if task["acted_by"] else ""
        raise Conflict(f"task {task['id']} is already {task['status']}{by}")
    if not can_act(run.tx, task):
        raise PermissionDenied(f"{run.tx.user.name} may not {action} task {task['id']}: it is assigned to "
                               f"someone else")
    node = run.flow.nodes[task["node"]].defn
    required = node.comment_required
    if (required is True or (isinstance(required, list) and action in required)) and not (comment or "").strip():
        raise UsageError(f"a comment is required to {action} at '{task['node']}' (parameter 'comment')")


def _token(run: Run, task: dict[str, Any]) -> Token:
    found = run.state.token(task["token_id"])
    if found is None or found.node != task["node"]:
        raise Conflict(f"task {task['id']} no longer belongs to an active step")
    return found


def _claim(run: Run, task: dict[str, Any], status: str, comment: str | None) -> None:
    if not run.state.set_task(task, "pending", status=status, acted_by=run.tx.user.name, acted_at=run.now,
                              comment=comment):
        raise Conflict(f"task {task['id']} was handled by someone else meanwhile")


def approve(rt: FlowRuntime, tx: Transaction, task_id: int, comment: str | None = None) -> None:
    task, run = _open(rt, tx, task_id)
    _check(run, task, "approve", comment)
    tok = _token(run, task)
    node = run.flow.nodes[task["node"]]
    _claim(run, task, "approved", comment)
    run.inst.data["human_approved"] = True
    run.history("approve", node.name, task_id=task["id"], comment=comment)
    if task["kind"] == "before" and task["ref_task"]:
        ref = run.state.task(task["ref_task"])
        if run.state.set_task(ref, "waiting", status="pending"):
            notify_task(run, ref, node)
    for t in run.state.token_tasks(tok):
        if t["kind"] == "after" and t["ref_task"] == task["id"] and t["status"] == "waiting":
            run.state.set_task(t, "waiting", status="pending")
            notify_task(run, t, node)
    queue: deque[Token] = deque()
    evaluate(run, tok, node, queue)
    run.go(list(queue))


def reject(rt: FlowRuntime, tx: Transaction, task_id: int, comment: str | None = None,
           to: str | None = None) -> None:
    task, run = _open(rt, tx, task_id)
    _check(run, task, "reject", comment)
    tok = _token(run, task)
    node = run.flow.nodes[task["node"]]
    if to is not None and to not in run.flow.ancestors.get(node.name, set()):
        allowed = ", ".join(sorted(run.flow.ancestors.get(node.name, set()))) or "none"
        raise UsageError(f"cannot send task {task_id} back to '{to}': not an earlier node of '{node.name}' "
                         f"(parameter 'to'; earlier nodes: {allowed})")
    _claim(run, task, "rejected", comment)
    run.history("reject", node.name, task_id=task["id"], comment=comment, to=to)
    queue: deque[Token] = deque()
    if to is None and reject_allowed_to_continue(run, tok, node):
        evaluate(run, tok, node, queue)
    else:
        rejected(run, tok, node, queue, to, comment)
    run.go(list(queue))


def _user(tx: Transaction, name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{what} needs a user name (parameter 'to')")
    info = tx.users.get(name.strip())
    if info is None or not info.active:
        raise NotFound(f"user {name!r} not found or inactive (parameter 'to')")
    return info.name


def transfer(rt: FlowRuntime, tx: Transaction, task_id: int, to: str, comment: str | None = None) -> int:
    task, run = _open(rt, tx, task_id)
    _check(run, task, "transfer", comment)
    _token(run, task)
    target = _user(tx, to, "transfer")
    if target == task["assignee"]:
        raise UsageError(f"task {task_id} is already assigned to {target} (parameter 'to')")
    _claim(run, task, "transferred", comment)
    new = _copy(run, task, assignee=target, assignee_role=None)
    new_id = new["id"]
    _move_assignments(run, task, target)
    run.history("transfer", task["node"], task_id=task["id"], comment=comment, to=target, new_task=new_id)
    notify_task(run, new, run.flow.nodes[task["node"]])
    run.go([])
    return new_id


def _move_assignments(run: Run, task: dict[str, Any], to: str) -> None:
    """A task transferred: the assignments it came from (its node's assignment rules) go with it, so the new
    assignee's load counts it and the old one's no more, and the rule's field names the new assignee (written
    with the run's own update of its record)."""
    node = run.flow.nodes.get(task["node"])
    assigner = run.tx.app.features.get("assignment")
    if node is None or not node.assignment_rules or assigner is None or not task["assignee"]:
        return
    for rule in node.assignment_rules:
        assigner.transfer(run.tx, rule, run.inst.entity, run.record, task["assignee"], to,
                          keep=lambda values: set_fields(run, values))


def _copy(run: Run, task: dict[str, Any], **changes: Any) -> dict[str, Any]:
    values = {k: task[k] for k in ("instance_id", "token_id", "flow", "node", "entity", "record_id", "assignee",
                                   "assignee_role", "kind", "seq", "ref_task", "due_at", "visit")}
    values.update({"status": "pending", "created_at": run.now, **changes})
    return run.state.add_task(**values)


def add_approver(rt: FlowRuntime, tx: Transaction, task_id: int, to: str, position: str = "after",
                 comment: str | None = None) -> int:
    if position not in ("before", "after"):
        raise UsageError(f"position must be 'before' or 'after', got {position!r} (parameter 'position')")
    task, run = _open(rt, tx, task_id)
    _check(run, task, "add_approver", comment)
    _token(run, task)
    target = _user(tx, to, "add_approver")
    if position == "before":
        if not run.state.set_task(task, "pending", status="waiting"):
            raise Conflict(f"task {task_id} was handled by someone else meanwhile")
        new = _copy(run, task, assignee=target, assignee_role=None, kind="before", ref_task=task["id"])
    else:
        new = _copy(run, task, assignee=target, assignee_role=None, kind="after", ref_task=task["id"],
                    status="waiting")
    new_id = new["id"]
    run.history("add_approver", task["node"], task_id=task["id"], comment=comment, to=target, position=position,
                new_task=new_id)
    if position == "before":
        notify_task(run, new, run.flow.nodes[task["node"]])
    run.go([])
    return new_id


def _may(tx: Transaction, flow: str, action: str) -> bool:
    """Whether the acting user holds the flow action (roles' flow permissions; admins hold all)."""
    return tx.app.permissions.may_flow(tx.user, flow, action)


def _readable(run: Run, what: str) -> None:
    """A case on a record the acting user may not read is, for them, not there."""
    inst = run.inst
    if not run.tx.user.is_admin and run.tx.find(inst.entity, inst.record_id) is None:
        raise NotFound(f"{what} not found")


def cancel_task(rt: FlowRuntime, tx: Transaction, task_id: int, comment: str | None = None) -> None:
    """An admin, or a user granted the flow action ``cancel_task``, withdraws one task; its step goes
    on as if the task had never been asked (WCP-19)."""
    task, run = _open(rt, tx, task_id)
    _readable(run, f"task {task_id}")
    if not _may(tx, task["flow"], "cancel_task"):
        raise PermissionDenied(f"{tx.user.name} may not cancel task {task_id}: the flow action cancel_task "
                               f"of {task['flow']} is not granted to them")
    if task["status"] not in store.OPEN_TASK or run.inst.status != "running":
        raise Conflict(f"task {task_id} is already {task['status']}")
    tok = _token(run, task)
    run.state.set_task(task, store.OPEN_TASK, status="cancelled", acted_by=tx.user.name, acted_at=run.now,
                       comment=comment)
    run.history("cancel_task", task["node"], task_id=task["id"], comment=comment)
    queue: deque[Token] = deque()
    evaluate(run, tok, run.flow.nodes[task["node"]], queue)
    run.go(list(queue))


def comment(rt: FlowRuntime, tx: Transaction, instance_id: int, text: str, task_id: int | None = None) -> None:
    if not (text or "").strip():
        raise UsageError("a comment needs text (parameter 'text')")
    loaded = store.load_instance(tx.conn, instance_id, rt.records)
    inst = loaded.instance
    run = Run(rt, tx, inst, rt.flow_for(tx, inst), loaded=loaded)
    task = run.state.task(task_id) if task_id is not None else None
    _visible(run, f"flow instance {instance_id}", task)
    if not (tx.user.is_admin or tx.user.name == inst.started_by or (task is not None and can_act(tx, task))
            or any(can_act(tx, t) for t in run.state.open_tasks())):
        raise PermissionDenied(f"{tx.user.name} may not comment on flow instance {instance_id}")
    run.history("comment", task["node"] if task else None, task_id=task_id, comment=text.strip())
    run.go([])


def urge(rt: FlowRuntime, tx: Transaction, instance_id: int, text: str | None = None) -> int:
    """Remind everyone with a pending task (the submitter or an admin)."""
    loaded = store.load_instance(tx.conn, instance_id, rt.records)
    inst = loaded.instance
    run = Run(rt, tx, inst, rt.flow_for(tx, inst), loaded=loaded)
    _visible(run, f"flow instance {instance_id}")
    if not (tx.user.is_admin or tx.user.name == inst.started_by):
        raise PermissionDenied(f"{tx.user.name} may not urge flow instance {instance_id}: only its submitter may")
    if inst.status != "running":
        raise Conflict(f"flow instance {instance_id} is {inst.status}")
    tasks = run.state.open_tasks()
    for t in tasks:
        notify_task(run, t, run.flow.nodes[t["node"]], reminder=True)
    run.history("urge", comment=text, tasks=[t["id"] for t in tasks])
    run.go([])
    return len(tasks)


def withdraw(rt: FlowRuntime, tx: Transaction, instance_id: int, text: str | None = None) -> None:
    """The submitter takes the request back, as long as nobody has approved yet (WCP-20); in a
    governed app their roles must grant the flow action ``withdraw``."""
    loaded = store.load_instance(tx.conn, instance_id, rt.records)
    inst = loaded.instance
    run = Run(rt, tx, inst, rt.flow_for(tx, inst), loaded=loaded)
    _visible(run, f"flow instance {instance_id}")
    if not (tx.user.is_admin or tx.user.name == inst.started_by):
        raise PermissionDenied(f"{tx.user.name} may not withdraw flow instance {instance_id}: only its "
                               f"submitter may")
    if not _may(tx, inst.flow, "withdraw"):
        raise PermissionDenied(f"{tx.user.name} may not withdraw flow instance {instance_id}: the flow action "
                               f"withdraw of {inst.flow} is not granted to them")
    if inst.status != "running":
        raise Conflict(f"flow instance {instance_id} is {inst.status}")
    if inst.data.get("human_approved"):
        raise Conflict(f"flow instance {instance_id} cannot be withdrawn: someone has approved already")
    run.finish("withdrawn", "withdrawn", text)
    run.go([])


def cancel(rt: FlowRuntime, tx: Transaction, instance_id: int, text: str | None = None) -> None:
    """An admin, or a user granted the flow action ``cancel``, cancels the whole case (WCP-20)."""
    loaded = store.load_instance(tx.conn, instance_id, rt.records)
    inst = loaded.instance
    run = Run(rt, tx, inst, rt.flow_for(tx, inst), loaded=loaded)
    _readable(run, f"flow instance {instance_id}")
    if not _may(tx, inst.flow, "cancel"):
        raise PermissionDenied(f"{tx.user.name} may not cancel flow instance {instance_id}: the flow action "
                               f"cancel of {inst.flow} is not granted to them")
    if inst.status != "running":
        raise Conflict(f"flow instance {instance_id} is {inst.status}")
    run.finish("cancelled", "cancelled", text)
    run.go([])
