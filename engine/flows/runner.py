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

from ..actor import User
from ..coerce import to_jsonable
from ..records import Transaction
from . import effects, store
from .compile import CNode, CompiledFlow
from .people import FlowFailed, expand, resolve, send
from .store import Instance, Token

if TYPE_CHECKING:
    from .runtime import FlowRuntime

MAX_STEPS = 10_000
ACTIVE = "ordo_flows_active"  # ids of the instances being run on a connection (never re-entered)
RESTING = ("approval", "wait")


def timer_prefix(instance_id: int, token_id: int | None = None) -> str:
    return f"flowtimer:{instance_id}:" + (f"{token_id}:" if token_id is not None else "")


class Run:
    """One unit of flow work on one instance inside a transaction."""

    def __init__(self, rt: FlowRuntime, tx: Transaction, inst: Instance, flow: CompiledFlow) -> None:
        self.rt, self.tx, self.conn, self.inst, self.flow = rt, tx, tx.conn, inst, flow
        self.now = tx.now
        self._record: dict[str, Any] | None = None
        self._writer: Transaction | None = None

    # -- context
    @property
    def record(self) -> dict[str, Any]:
        if self._record is None:
            rec = self.tx._fetch(self.inst.entity, self.inst.record_id)
            if rec is None:
                raise FlowFailed(f"{self.inst.entity} #{self.inst.record_id} of flow instance {self.inst.id} "
                                 "no longer exists")
            self._record = rec
        return self._record

    @property
    def writer(self) -> Transaction:
        """The acting user's transaction with the flow's authority to set fields the flow names."""
        if self._writer is None:
            u = self.tx.user
            self._writer = Transaction(self.tx.app, self.conn, User(u.name, u.roles, True, u.attrs), automated=True)
        return self._writer

    def eval(self, node: CNode, key: str) -> Any:
        return node.exprs[key](self.record, self.tx.env, self.inst.started_by)

    def history(self, action: str, node: str | None = None, *, task_id: int | None = None,
                comment: str | None = None, user: str | None = None, **detail: Any) -> None:
        store.add_history(self.conn, self.inst, at=self.now, user=user or self.tx.user.name, action=action,
                          node=node, task_id=task_id, comment=comment, detail=detail)

    def cancel_tasks(self, reason: str, token_id: int | None = None) -> None:
        """Cancel the open tasks of the instance (or of one token): each gets a timeline entry saying why."""
        for t in store.close_tasks(self.conn, now=self.now, instance_id=self.inst.id, token_id=token_id,
                                   reason=reason):
            self.history("task_cancelled", t["node"], task_id=t["id"], assignee=t["assignee"],
                         role=t["assignee_role"], reason=reason)

    def _seq(self) -> int:
        self.inst.data["seq"] = self.inst.data.get("seq", 0) + 1
        return self.inst.data["seq"]

    # -- the loop
    def go(self, tokens: list[Token]) -> None:
        active = self.conn.info.setdefault(ACTIVE, set())
        mine = self.inst.id not in active
        active.add(self.inst.id)
        try:
            self._go(tokens)
        finally:
            if mine:
                active.discard(self.inst.id)

    def _go(self, tokens: list[Token]) -> None:
        queue: deque[Token] = deque(tokens)
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
        if self.inst.status == "running" and "last_outcome" in self.inst.data \
                and not store.active_tokens(self.conn, self.inst.id):
            self.finish("completed", self.inst.data["last_outcome"])  # the last open branch has ended
        self.sync_state()

    def move(self, tok: Token, target: str | None, queue: deque[Token]) -> None:
        assert target is not None
        tok.node = target
        queue.append(tok)

    def leave(self, tok: Token) -> None:
        """The token leaves its resting node: its timers are cancelled."""
        if tok.id is not None:
            self.tx.cancel_jobs(prefix=timer_prefix(self.inst.id, tok.id))

    def rest(self, tok: Token) -> None:
        tok.data["visit"] = tok.data.get("visit", 0) + 1
        store.save_token(self.conn, self.inst.id, tok, self.now)

    def timer(self, tok: Token, index: int, after: dt.timedelta, kind: str) -> None:
        assert tok.id is not None
        payload = {"instance": self.inst.id, "token": tok.id, "node": tok.node, "visit": tok.data["visit"],
                   "index": index, "kind": kind}
        self.tx.enqueue("flow.timer", payload, self.now + after,
                        unique_key=f"{timer_prefix(self.inst.id, tok.id)}{index}")

    def _wake_waits(self, queue: deque[Token]) -> bool:
        """Wait tokens whose condition now holds (e.g. set by an action of another branch) move on."""
        if not any(n.type == "wait" and "until" in n.exprs for n in self.flow.nodes.values()):
            return False
        self._record = None
        for tok in store.active_tokens(self.conn, self.inst.id):
            node = self.flow.nodes[tok.node]
            if node.type == "wait" and "until" in node.exprs and self.eval(node, "until") is True:
                self.leave(tok)
                self.history("waited", node.name, reason="condition")
                self.move(tok, node.next, queue)
        return bool(queue)

    # -- state shown on the record
    def sync_state(self) -> None:
        if self.inst.status == "running":
            states = [self.flow.nodes[t.node].state for t in store.active_tokens(self.conn, self.inst.id)]
            self.inst.current = ", ".join(dict.fromkeys(states))
            value = states[0] if states else None
        else:
            self.inst.current = ""
            value = self.inst.outcome if self.inst.status == "completed" else self.inst.status
        store.save_instance(self.conn, self.inst)
        field = self.flow.defn.state_field
        if field and value is not None:
            entity = self.tx.app.definition.entities[self.inst.entity]
            if entity.fields[field].type != "enum" and self.inst.status == "running":
                value = self.inst.current
            rec = self.tx._fetch(self.inst.entity, self.inst.record_id)
            if rec is not None and rec.get(field) != value:
                self.writer.update(self.inst.entity, self.inst.record_id, {field: value})
                self._record = None

    def finish(self, status: str, outcome: str | None, comment: str | None = None) -> None:
        """End the instance: every branch, task and timer stops."""
        c = self.conn
        for tok in store.active_tokens(c, self.inst.id):
            store.finish_token(c, tok, "cancelled" if status != "completed" else "done")
        self.cancel_tasks(f"flow {status}" + (f" ({outcome})" if status == "completed" else "")
                          + (f": {comment}" if comment else ""))
        self.tx.cancel_jobs(prefix=timer_prefix(self.inst.id))
        self.inst.status, self.inst.outcome, self.inst.ended_at = status, outcome, self.now
        self.history(status, comment=comment, outcome=outcome)

    # -- node kinds
    def _condition(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        target = next((to for expr, to in node.branches
                       if expr(self.record, self.tx.env, self.inst.started_by) is True), node.defn.default)
        if target is None:
            raise FlowFailed(f"flow {self.flow.name}: no branch of node '{node.name}' holds and it has no default")
        self.move(tok, target, queue)

    def _inclusive(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        targets = [to for expr, to in node.branches if expr(self.record, self.tx.env, self.inst.started_by) is True]
        if not targets:
            if node.defn.default is None:
                raise FlowFailed(f"flow {self.flow.name}: no branch of node '{node.name}' holds and it has no "
                                 "default")
            targets = [node.defn.default]
        self.split(tok, node, targets, queue)

    def _parallel(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        self.split(tok, node, list(node.defn.to), queue)

    def split(self, tok: Token, node: CNode, targets: list[str], queue: deque[Token]) -> None:
        key = f"{node.name}#{self._seq()}"
        self.inst.data.setdefault("splits", {})[key] = len(targets)
        for i, target in enumerate(targets):
            branch = tok if i == 0 else Token(None, target)
            branch.node, branch.splits, branch.data = target, [*tok.splits, key], {} if i else tok.data
            queue.append(branch)

    def _join(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        if not tok.splits:  # not inside a split: a plain pass-through
            self.move(tok, node.next, queue)
            return
        key = tok.splits[-1]
        started = self.inst.data.get("splits", {}).get(key, 1)
        wait_for = node.defn.wait_for
        need = started if wait_for == "all" else min(int(wait_for), started)
        joins = self.inst.data.setdefault("joins", {})
        state = joins.setdefault(f"{node.name}|{key}", {"arrived": 0, "fired": False})
        state["arrived"] += 1
        if state["fired"]:  # a late branch of a discriminator: absorbed
            store.finish_token(self.conn, tok)
            self.history("joined", node.name, late=True)
            return
        if state["arrived"] < need:
            store.finish_token(self.conn, tok)
            return
        state["fired"] = True
        if node.defn.cancel_remaining:
            self.cancel_branches(key, keep=tok, reason=f"not needed: {node.name} had enough branches")
        tok.splits = tok.splits[:-1]
        self.history("joined", node.name, arrived=state["arrived"], of=started)
        self.move(tok, node.next, queue)

    def cancel_branches(self, key: str, keep: Token | None = None, reason: str = "branch cancelled") -> None:
        for other in store.active_tokens(self.conn, self.inst.id):
            if key in other.splits and (keep is None or other.id != keep.id):
                self.leave(other)
                self.cancel_tasks(reason, other.id)
                store.finish_token(self.conn, other, "cancelled")
                self.history("branch_cancelled", other.node)

    def _end(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        outcome = node.defn.outcome or node.name
        if node.defn.terminate:
            store.finish_token(self.conn, tok)
            self.finish("completed", outcome)
            return
        store.finish_token(self.conn, tok)
        others = [t for t in store.active_tokens(self.conn, self.inst.id) if t.id != tok.id]
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
        return {"flow": self.flow.name, "instance": self.inst.id, "entity": self.inst.entity,
                "record": self.inst.record_id, "name": self.record.get("name"), "node": node.name}

    def _action(self, tok: Token, node: CNode, queue: deque[Token]) -> None:
        d = node.defn
        if d.set:
            values = {f: self.eval(node, f"set.{f}") for f in d.set}
            self.writer.update(self.inst.entity, self.inst.record_id, values)
            self._record = None
            self.history("set", node.name, values=to_jsonable(values))
        for i, c in enumerate(d.create):
            if c.for_each:
                made = effects.create_each(self, node, i)
                self.history("created", node.name, entity=c.entity, names=[r["name"] for r in made])
                self._record = None
                continue
            values = {f: self.eval(node, f"create.{i}.{f}") for f in c.values}
            created = self.writer.create(c.entity, values)
            self.history("created", node.name, entity=c.entity, name=created["name"], id=created["id"])
        for i, u in enumerate(d.update):
            names = effects.update_matching(self, node, i)
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
