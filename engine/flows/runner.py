"""The interpreter: moves an instance's tokens through the graph until each one rests.

A token rests at an ``approval`` (waiting for people), a ``wait`` (waiting for a
condition or a timer) or inside a ``join`` (waiting for its sibling branches);
every other node is passed through at once. Everything a :class:`Run` does is
on the caller's transaction: tasks, tokens, history, jobs and outbox rows
commit together with the action that caused them, or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from .. import jobs
from ..actor import User
from ..coerce import to_jsonable
from . import effects, history, mirror, pending, store
from .compile import CNode, CompiledFlow
from .gateways import Gateways
from .people import FlowFailed, expand, resolve, send
from .state import FlowState
from .store import Instance, Token

if TYPE_CHECKING:
    from ..records import Transaction
    from .runtime import FlowRuntime

MAX_STEPS = 10_000
ACTIVE = "ordo_flows_active"  # ids of the instances being run on a connection (never re-entered)
RESTING = ("approval", "wait")


def timer_prefix(instance_id: int, token_id: int | None = None) -> str:
    return f"flowtimer:{instance_id}:" + (f"{token_id}:" if token_id is not None else "")


def timer_count(node: CNode) -> int:
    """How many timers a token resting at ``node`` may have (keys ``<prefix><index>``)."""
    if node.type == "approval":
        return len(node.defn.timeouts())
    if node.type == "wait" and node.defn.timeout is not None:
        return 1
    return 0


class flow_authority:  # lower case: used as the function it was, ``with flow_authority(tx) as tx:``
    """The acting user's transaction, for the block, with the flow's authority: the fields and records the
    flow names are written whatever the user may do themselves, as an automated write (``editable_if``
    does not apply). Same connection, same caches: the flow's writes are the transaction's own. (A plain
    context manager: entered a few times per flow action, no generator each time.)"""

    __slots__ = ("tx", "saved")

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def __enter__(self) -> Transaction:
        tx = self.tx
        u = tx.user
        self.saved = u, tx.guard, tx.automated
        tx.user, tx.guard, tx.automated = User(u.name, u.roles, True, u.attrs), None, True
        return tx

    def __exit__(self, *exc: object) -> None:
        self.tx.user, self.tx.guard, self.tx.automated = self.saved


class Run(Gateways):
    """One unit of flow work on one instance inside a transaction."""

    def __init__(self, rt: FlowRuntime, tx: Transaction, inst: Instance, flow: CompiledFlow, *,
                 new: bool = False, loaded: store.Loaded | None = None) -> None:
        self.rt, self.tx, self.conn, self.inst, self.flow = rt, tx, tx.conn, inst, flow
        self.now = tx.now
        self._record: dict[str, Any] | None = None
        self._pending: dict[str, Any] = {}  # fields set on the record, written with the state (see pending.py)
        self.state = FlowState(tx.conn, inst, new=new, loaded=loaded)
        self._members: dict[str, list[str]] = {}
        self._joined: dict[str, Any] | None = None  # the record's row read with the instance, child rows to come
        self._joined_at = 0  # ... as the transaction was then (not used once anything was written since)
        self._queue: deque[Token] = deque()  # the tokens still to move (see rest)
        if loaded is not None and loaded.record is not None:
            self._adopt(loaded.record)

    def _adopt(self, row: dict[str, Any]) -> None:
        """The record's row, read with the instance: the transaction knows it from now on (no second read
        for the state mirror or an expression), unless it knows it already; one with child rows is learnt
        when first needed, with its child rows (read then)."""
        ce = self.tx.app.compiled.entity(self.inst.entity)
        uow = self.tx.uow
        if uow.get(ce.name, row["id"]) is not None:
            return
        if ce.table_fields:
            self._joined, self._joined_at = row, uow.writes
        else:
            uow.put(ce.name, row)

    # -- context
    @property
    def record(self) -> dict[str, Any]:
        if self._record is None:
            joined, self._joined = self._joined, None
            uow = self.tx.uow
            if joined is not None and uow.writes == self._joined_at and uow.get(self.inst.entity, joined["id"]) is None:
                row = dict(joined)
                self.tx._attach_children(self.tx.app.compiled.entity(self.inst.entity), [row])
                uow.put(self.inst.entity, row)
            rec = self.tx._fetch(self.inst.entity, self.inst.record_id)
            if rec is None:
                raise FlowFailed(f"{self.inst.entity} #{self.inst.record_id} of flow instance {self.inst.id} "
                                 "no longer exists")
            self._record = {**rec, **self._pending} if self._pending else rec
        return self._record

    def authority(self) -> flow_authority:
        """Write with the flow's authority (``with run.authority() as tx:``, see :func:`flow_authority`); the
        timeline so far is written first, as the write may start other flows on the record (and a new
        instance's row is written: the write's listeners see it running)."""
        if self._pending:
            pending.write(self)  # what the run set on its record first: the write's listeners may read it
        self.state.ensure()
        self.state.flush()
        return flow_authority(self.tx)

    def members(self, role: str) -> list[str]:
        """Active members of a role (read once per run)."""
        found = self._members.get(role)
        if found is None:
            found = self._members[role] = self.tx.users.members(role)
        return found

    def eval(self, node: CNode, key: str) -> Any:
        return node.exprs[key](self.record, self.tx.env, self.inst.started_by)

    def history(self, action: str, node: str | None = None, *, task_id: int | None = None,
                comment: str | None = None, user: str | None = None, **detail: Any) -> None:
        self.state.history(history.history_row(self.inst, at=self.now, user=user or self.tx.user.name, action=action,
                                             node=node, task_id=task_id, comment=comment, detail=detail))

    def cancel_tasks(self, reason: str, token_id: int | None = None) -> None:
        """Cancel the open tasks of the instance (or of one token): each gets a timeline entry saying why."""
        for t in self.state.close_tasks(reason, self.now, token_id):
            self.history("task_cancelled", t["node"], task_id=t["id"], assignee=t["assignee"],
                         role=t["assignee_role"], reason=reason)

    def _seq(self) -> int:
        self.inst.data["seq"] = self.inst.data.get("seq", 0) + 1
        return self.inst.data["seq"]

    # -- the loop
    def go(self, tokens: list[Token]) -> None:
        active = self.conn.info.setdefault(ACTIVE, set())
        new = self.inst.id is None  # its row is written while it runs (see FlowState.ensure): mark it then
        mine = new or self.inst.id not in active
        if new:
            self.state.on_insert = active.add
        else:
            active.add(self.inst.id)
        try:
            self._go(tokens)
        finally:
            self.state.on_insert = None
            if mine and self.inst.id is not None:
                active.discard(self.inst.id)

    def _go(self, tokens: list[Token]) -> None:
        queue: deque[Token] = deque(tokens)
        self._queue = queue
        steps = 0
        while True:
            while queue and self.inst.status == "running":
                steps += 1
                if steps > MAX_STEPS:
                    raise FlowFailed(f"flow {self.flow.name} ran {MAX_STEPS} steps without resting: a loop "
                                     "without an approval or wait?")
                tok = queue.popleft()
                node = self.flow.nodes[tok.node]
                getattr(self, "_" + node.type)(tok, node, queue)
            if self.inst.status != "running" or not self._wake_waits(queue):
                break
        if self.inst.status == "running" and "last_outcome" in self.inst.data and not self.state.tokens():
            self.finish("completed", self.inst.data["last_outcome"])  # the last open branch has ended
        self.sync_state()
        self.state.flush()

    def move(self, tok: Token, target: str | None, queue: deque[Token]) -> None:
        assert target is not None
        tok.node = target
        queue.append(tok)

    def leave(self, tok: Token) -> None:
        """The token leaves its resting node: its timers (if the node has any) are cancelled by their exact
        keys, through the transaction (which may hold jobs it has not written yet), and the assignments its
        tasks came from (an approval's assignment rules) end: the work they stood for is done, it counts
        no more in a rule's load balance (the record's assignee field keeps who it was)."""
        node = self.flow.nodes.get(tok.node)
        if tok.id is not None and node is not None:
            prefix = timer_prefix(self.inst.id, tok.id)
            for i in range(timer_count(node)):
                self.tx.cancel_jobs(unique_key=f"{prefix}{i}")
            if node.assignment_rules:
                assigner = self.tx.app.features.get("assignment")
                if assigner is not None:
                    for rule in node.assignment_rules:
                        assigner.release(self.tx, rule, self.inst.entity, self.inst.record_id)

    def rest(self, tok: Token) -> None:
        tok.data["visit"] = tok.data.get("visit", 0) + 1
        if self.inst.id is None:
            # a new instance's row is written now (its token needs the id): with the state it rests in once
            # this token rests (what sync_state finds, unless another branch moves on), so it is written once
            # (and the branches still queued that would rest where they are, e.g. the other targets of a
            # parallel split: they are inserted after it; a guess, a wrong one costs the UPDATE it saves)
            nodes = self.flow.nodes
            states = [nodes[t.node].state for t in (*self.state.tokens(), tok, *self._queue)
                      if t is tok or t.id is not None or nodes[t.node].type in RESTING]
            self.inst.current = ", ".join(dict.fromkeys(states))
        self.state.save_token(tok, self.now)

    def timer(self, tok: Token, index: int, after: dt.timedelta, kind: str) -> None:
        assert tok.id is not None
        payload = {"instance": self.inst.id, "token": tok.id, "node": tok.node, "visit": tok.data["visit"],
                   "index": index, "kind": kind}
        key = f"{timer_prefix(self.inst.id, tok.id)}{index}"
        if tok.id in self.state.inserted:  # a token new in this transaction has no timer yet: written at commit
            jobs.enqueue_later(self.conn, "flow.timer", payload, self.now + after, now=self.now, unique_key=key)
        else:
            self.tx.enqueue("flow.timer", payload, self.now + after, unique_key=key)

    def _wake_waits(self, queue: deque[Token]) -> bool:
        """Wait tokens whose condition now holds (e.g. set by an action of another branch) move on."""
        if not self.flow.until_waits:
            return False
        self._record = None
        for tok in self.state.tokens():
            node = self.flow.nodes[tok.node]
            if node.type == "wait" and "until" in node.exprs and self.eval(node, "until") is True:
                self.leave(tok)
                self.history("waited", node.name, reason="condition")
                self.move(tok, node.next, queue)
        return bool(queue)

    # -- state shown on the record
    def sync_state(self) -> None:
        if self.inst.status == "running":
            states = [self.flow.nodes[t.node].state for t in self.state.tokens()]
            self.inst.current = ", ".join(dict.fromkeys(states))
            value = states[0] if states else None
        else:
            self.inst.current = ""
            value = self.inst.outcome if self.inst.status == "completed" else self.inst.status
        self.state.save_instance()
        field = self.flow.defn.state_field
        if field and value is not None:
            entity = self.tx.app.compiled.entity(self.inst.entity).defn  # (definition.entities builds a dict)
            if entity.fields[field].type != "enum" and self.inst.status == "running":
                value = self.inst.current
            mirror.mirror(self, field, value)
        if self._pending:
            pending.write(self)  # the fields set, without a state to show (or showing it already)

    def finish(self, status: str, outcome: str | None, comment: str | None = None) -> None:
        """End the instance: every branch, task and timer stops."""
        for tok in self.state.tokens():
            self.leave(tok)
            self.state.finish_token(tok, "cancelled" if status != "completed" else "done")
        self.cancel_tasks(f"flow {status}" + (f" ({outcome})" if status == "completed" else "")
                          + (f": {comment}" if comment else ""))
        self.inst.status, self.inst.outcome, self.inst.ended_at = status, outcome, self.now
        self.history(status, comment=comment, outcome=outcome)

    # -- node kinds
    def _end(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        outcome = node.defn.outcome or node.name
        if node.defn.terminate:
            self.state.finish_token(tok)
            self.finish("completed", outcome)
            return
        self.state.finish_token(tok)
        others = [t for t in self.state.tokens() if t.id != tok.id]
        self.history("branch_ended", node.name, outcome=outcome)
        self.inst.data["last_outcome"] = outcome
        if not others and not queue:
            self.finish("completed", outcome)

    def _wait(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        if "until" in node.exprs and self.eval(node, "until") is True:
            self.history("waited", node.name, reason="condition")
            self.move(tok, node.next, queue)
            return
        self.rest(tok)
        t = node.defn.timeout
        if t is not None:
            from ordo.dsl.flow_nodes import parse_duration

            at = self.eval(node, "timeout.at") if t.at else None
            if at is not None:
                if (at.tzinfo is None) != (self.now.tzinfo is None):
                    at = at.replace(tzinfo=self.now.tzinfo)
                self.timer(tok, 0, max(at - self.now, dt.timedelta(0)), "wait")
            elif t.after:
                self.timer(tok, 0, parse_duration(t.after), "wait")
        self.history("waiting", node.name)

    def _cc(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        self.notify(node, node.defn.channel)
        self.move(tok, node.next, queue)

    def notify(self, node: CNode, channel: str) -> None:
        users = expand(self.tx, resolve(self.tx, node.approvers, self.record, self.inst.started_by,
                                        self.inst.entity))
        subject = node.templates["subject"].render(self.record, self.tx.env, self.inst.started_by)
        body = node.templates["body"].render(self.record, self.tx.env, self.inst.started_by)
        send(self.tx, users, subject, body, channel, self.payload(node))
        self.history("cc" if node.type == "cc" else "notified", node.name, to=users, subject=subject)

    def payload(self, node: CNode) -> dict[str, Any]:
        return {"flow": self.flow.name, "instance": self.state.ensure(), "entity": self.inst.entity,
                "record": self.inst.record_id, "name": self.record.get("name"), "node": node.name}

    def _action(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        d = node.defn
        if d.set:
            values = {f: self.eval(node, f"set.{f}") for f in d.set}
            pending.set_fields(self, values)  # kept, written with the state when the run rests
            self.history("set", node.name, values=to_jsonable(values))
        carry = not d.create and not d.allocate and effects.updates_own_record_first(self, node)
        if self._pending and (d.create or d.update or d.allocate) and not carry:
            pending.write(self)  # the effects read and write records: they see the record as set
        for i, c in enumerate(d.create):
            if c.for_each:
                made = effects.create_each(self, node, i)
                self.history("created", node.name, entity=c.entity, names=[r["name"] for r in made])
                self._record = None
                continue
            values = {f: self.eval(node, f"create.{i}.{f}") for f in c.values}
            with self.authority() as w:
                created = w.create(c.entity, values)
            self.history("created", node.name, entity=c.entity, name=created["name"], id=created["id"])
        for i, u in enumerate(d.update):
            names = effects.update_matching(self, node, i, carry=carry and i == 0)
            self._record = None
            self.history("updated", node.name, entity=u.entity, names=names)
        if d.allocate:
            spec = d.allocation()
            result = effects.allocation(self, node)
            self._record = None
            self.history({"allocate": "allocated", "release": "released", "consume": "consumed"}[spec.mode],
                         node.name, rule=spec.rule, result=to_jsonable(result))
        if d.webhook:
            body = {**self.payload(node), **{k: to_jsonable(self.eval(node, f"webhook.{k}")) for k in d.webhook.body}}
            self.tx.notify("webhook", d.webhook.url, f"{self.flow.name}: {node.name}",
                           json.dumps(body, default=str, ensure_ascii=False), body)
            self.history("webhook", node.name, url=d.webhook.url)
        if d.notify:
            self.notify(node, d.notify.channel)
        self.move(tok, node.next, queue)

    def _decision(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        from ..decisions.flow_node import run_decision_node

        run_decision_node(self, tok, node, queue)

    def _approval(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        from .approval import enter_approval

        enter_approval(self, tok, node, queue)
