"""The gateway nodes of a flow run, as a mixin of :class:`~ordo.engine.flows.runner.Run`: ``condition`` (the
first branch that holds), ``inclusive`` and ``parallel`` (a split into branches, counted on the instance) and
``join`` (waits for all or N of its split's branches; late ones absorbed, the rest cancelled if asked)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from .people import FlowFailed
from .store import Token

if TYPE_CHECKING:
    from .compile import CNode


class Gateways:
    """Splits and joins; uses the Run's instance, state, record and moves (see ``runner.Run``)."""

    inst: Any
    state: Any
    flow: Any
    tx: Any

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
            self.state.finish_token(tok)
            self.history("joined", node.name, late=True)
            return
        if state["arrived"] < need:
            self.state.finish_token(tok)
            return
        state["fired"] = True
        if node.defn.cancel_remaining:
            self.cancel_branches(key, keep=tok, reason=f"not needed: {node.name} had enough branches")
        tok.splits = tok.splits[:-1]
        self.history("joined", node.name, arrived=state["arrived"], of=started)
        self.move(tok, node.next, queue)

    def cancel_branches(self, key: str, keep: Token | None = None, reason: str = "branch cancelled") -> None:
        for other in self.state.tokens():
            if key in other.splits and (keep is None or other.id != keep.id):
                self.leave(other)
                self.cancel_tasks(reason, other.id)
                self.state.finish_token(other, "cancelled")
                self.history("branch_cancelled", other.node)
