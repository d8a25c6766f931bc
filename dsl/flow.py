"""Flow definitions (``flows/*.yaml``): approval processes attached to an entity.

A flow is a graph of named nodes (``flow_nodes.py``). The check pass reports,
with file:line:column: unknown node names, unreachable nodes, dead ends (a
node that is not an ``end`` without a way on, or a part of the graph from which
no ``end`` can be reached), conditions that can fall through without a default,
unknown approver fields, and every ill-typed expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from .base import KINDS, Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T
from .flow_nodes import (
    ActionNode,
    ApprovalNode,
    ApproverSpec,
    CcNode,
    ConditionNode,
    DecisionNode,
    EndNode,
    InclusiveNode,
    JoinNode,
    NoApproverRole,
    Node,
    ParallelNode,
    WaitNode,
    successors,
)

ROOTS: dict[str, T.Type] = {"initiator": T.STRING}  # names every flow expression may use besides the record
TERMINAL_STATES = ("rejected", "withdrawn", "cancelled")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


def template_parts(text: str) -> Iterator[tuple[str, str | None]]:
    """Split ``'Expense {name} needs you'`` into (literal, expression-or-None) pieces."""
    pos = 0
    for m in _TEMPLATE.finditer(text):
        yield text[pos:m.start()], m.group(1).strip()
        pos = m.end()
    yield text[pos:], None


class TriggerDef(Model):
    on: Literal["manual", "create", "update", "create_or_update"] = Field(
        default="manual", description="Start on record create, on update (when 'when' becomes true), or manually")
    when: str | None = Field(default=None, description="Start only when this condition holds")
    from_flows: bool = Field(default=False, description="Also start when another flow's action creates or "
                                                        "changes the record (default: only writes by people "
                                                        "and programs start flows)")


@register_kind
class FlowDef(Definition):
    """An approval flow over the records of one entity."""

    kind_name = "flow"
    folder = "flows"

    kind: Literal["flow"] = "flow"
    label: Label | None = None
    entity: str
    trigger: TriggerDef = Field(default_factory=TriggerDef)
    start: str | None = Field(default=None, description="First node (default: the first node listed)")
    state_field: str | None = Field(default=None, description="Field of the record that shows the current "
                                                              "node(s) and, at the end, the outcome")
    nodes: dict[str, Node] = Field(min_length=1)

    def references(self) -> list[tuple[str, str]]:
        return [("entity", self.entity)]

    @property
    def first(self) -> str:
        return self.start or next(iter(self.nodes))

    def check(self, ctx: CheckContext) -> None:
        entity = ctx.ref(("entity",), "entity", self.entity)
        for name in self.nodes:
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                ctx.error(("nodes", name), f"node name '{name}' must be lower case letters, digits and _", key=True)
        if self.start is not None and self.start not in self.nodes:
            ctx.error(("start",), f"unknown node '{self.start}'")
        self._check_graph(ctx)
        if entity is None:
            return
        scope = Scope(ctx.schema, self.entity, roots=dict(ROOTS))
        if self.trigger.when:
            ctx.expr(("trigger", "when"), self.trigger.when, scope, T.BOOLEAN)
        if self.trigger.on in ("update", "create_or_update") and not self.trigger.when:
            ctx.error(("trigger",), "a flow started on update needs 'when' (the condition that starts it)")
        for name, node in self.nodes.items():
            _NodeChecker(ctx, self, scope, ("nodes", name)).check(node)
        if self.state_field:
            self._check_state_field(ctx, entity)

    # -- graph
    def _check_graph(self, ctx: CheckContext) -> None:
        edges: dict[str, list[str]] = {}
        for name, node in self.nodes.items():
            targets = []
            for path, target in successors(node):
                if target not in self.nodes:
                    ctx.error(("nodes", name, *path), f"unknown node '{target}'" + _hint(target, self.nodes))
                else:
                    targets.append(target)
            edges[name] = targets
            branching = isinstance(node, (ConditionNode, InclusiveNode, ParallelNode))
            if not isinstance(node, EndNode) and not branching and not getattr(node, "next", None):
                ctx.error(("nodes", name), f"dead end: node '{name}' has no 'next' and is not an end node",
                          key=True)
            if isinstance(node, (ConditionNode, InclusiveNode)) and node.default is None \
                    and not any(b.when.strip() == "true" for b in node.branches):
                ctx.error(("nodes", name, "branches"), f"node '{name}' can fall through: no branch may hold and "
                                                       "there is no 'default'")
        first = self.first
        if first not in self.nodes:
            return
        seen = _reach(first, edges)
        for name in self.nodes:
            if name not in seen:
                ctx.error(("nodes", name), f"node '{name}' is unreachable from the start node '{first}'", key=True)
        reverse: dict[str, list[str]] = {n: [] for n in self.nodes}
        for src, targets in edges.items():
            for t in targets:
                reverse[t].append(src)
        ends = [n for n, node in self.nodes.items() if isinstance(node, EndNode)]
        if not ends:
            ctx.error(("nodes",), "the flow has no end node (type: end)")
            return
        finishing: set[str] = set()
        for e in ends:
            finishing |= _reach(e, reverse)
        for name in self.nodes:
            if name in seen and name not in finishing:
                ctx.error(("nodes", name), f"dead end: no end node can be reached from node '{name}'", key=True)

    def _check_state_field(self, ctx: CheckContext, entity: Any) -> None:
        f = entity.fields.get(self.state_field)
        if f is None:
            ctx.error(("state_field",), f"unknown field '{self.state_field}' in {self.entity}")
            return
        if f.type not in ("string", "text", "enum"):
            ctx.error(("state_field",), f"state field '{self.state_field}' must be a string or enum field, "
                                        f"not {f.type}")
            return
        if f.type == "enum":
            missing = [v for v in self.state_values() if v not in f.option_values]
            if missing:
                ctx.error(("state_field",), f"enum field '{self.state_field}' lacks options the flow writes: "
                                            f"{', '.join(missing)}")

    def state_values(self) -> list[str]:
        """Every value the flow may write to its state field."""
        out: list[str] = []
        for name, node in self.nodes.items():
            if isinstance(node, (ApprovalNode, WaitNode)):
                out.append(node.state or name)
            elif isinstance(node, EndNode):
                out.append(node.outcome or name)
        out.extend(TERMINAL_STATES)
        return list(dict.fromkeys(out))


def _reach(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for t in edges.get(todo.pop(), []):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def _hint(name: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _NodeChecker:
    """Type-checks the expressions and references of one node."""

    def __init__(self, ctx: CheckContext, flow: FlowDef, scope: Scope, base: tuple) -> None:
        self.ctx, self.flow, self.scope, self.base = ctx, flow, scope, base

    def check(self, node: Any) -> None:
        ctx, base, scope = self.ctx, self.base, self.scope
        if isinstance(node, ApprovalNode):
            for i, a in enumerate(node.approvers):
                self.approver((*base, "approvers", i), a)
            if node.auto_approve_if:
                ctx.expr((*base, "auto_approve_if"), node.auto_approve_if, scope, T.BOOLEAN)
            if isinstance(node.if_no_approver, NoApproverRole):
                self.role((*base, "if_no_approver", "role"), node.if_no_approver.role)
            for i, t in enumerate(node.timeouts()):
                path = (*base, "timeout", i) if isinstance(node.timeout, list) else (*base, "timeout")
                if t.when:
                    ctx.expr((*path, "when"), t.when, scope, T.BOOLEAN)
                spec = t.escalate_to()
                if spec is not None:
                    self.approver(path, spec)
                for key in t.people() if spec is None else []:  # an error here, not in the model: stored
                    ctx.error((*path, key), f"'{key}' applies to 'escalate' timeouts only")  # versions load
            if node.min_approvals is not None and node.mode != "all":
                ctx.error((*base, "min_approvals"), "'min_approvals' applies to mode 'all'")
        elif isinstance(node, (ConditionNode, InclusiveNode)):
            for i, b in enumerate(node.branches):
                ctx.expr((*base, "branches", i, "when"), b.when, scope, T.BOOLEAN)
        elif isinstance(node, WaitNode):
            if node.until:
                ctx.expr((*base, "until"), node.until, scope, T.BOOLEAN)
            if node.timeout is not None and node.timeout.at:
                ctx.expr((*base, "timeout", "at"), node.timeout.at, scope, T.DATETIME)
        elif isinstance(node, ActionNode):
            self.action(node)
        elif isinstance(node, DecisionNode):
            from .decision_flow import check_decision_node

            check_decision_node(ctx, self.flow.entity, scope, base, node)
        elif isinstance(node, CcNode):
            for i, a in enumerate(node.to):
                self.approver((*base, "to", i), a)
            self.template((*base, "subject"), node.subject)
            self.template((*base, "body"), node.body)
        elif isinstance(node, JoinNode) and node.cancel_remaining and node.wait_for == "all":
            ctx.error((*base, "cancel_remaining"), "'cancel_remaining' needs 'wait_for: N'")
        elif isinstance(node, ParallelNode) and len(set(node.to)) != len(node.to):
            ctx.error((*base, "to"), "a parallel split names the same node twice")

    def role(self, path: tuple, name: str) -> None:
        if name != "admin":
            self.ctx.ref(path, "role", name)

    def approver(self, path: tuple, a: ApproverSpec) -> None:
        ctx = self.ctx
        if a.role:
            self.role((*path, "role"), a.role)
        elif a.field is not None or a.expr is not None:
            key = "field" if a.field is not None else "expr"
            compiled = ctx.expr((*path, key), getattr(a, key), self.scope)
            if compiled is not None:
                t = compiled.type
                ok = t.is_any or t.kind in ("string", "record", "json") or (
                    t.kind == "list" and isinstance(t.arg, T.Type) and (t.arg.is_any or t.arg.kind == "string"))
                if not ok:
                    ctx.error((*path, key), f"approver {key} must give a user name, a list of user names or a "
                                            f"linked record, got {t}")
        elif a.assignment:
            self.rule((*path, "assignment"), "assignment", a.assignment)

    def rule(self, path: tuple, kind: str, name: str) -> None:
        if kind in KINDS:
            self.ctx.ref(path, kind, name)
        else:
            self.ctx.error(path, f"{kind} rule '{name}' cannot be used: {kind} rules are unavailable in this "
                                 f"installation (no '{kind}' definition kind)")

    def template(self, path: tuple, text: str) -> None:
        for _, expr in template_parts(text or ""):
            if expr is not None:
                self.ctx.expr(path, expr, self.scope)

    def action(self, node: ActionNode) -> None:
        ctx, base = self.ctx, self.base
        entity = ctx.app.get("entity", self.flow.entity)
        for fname, text in node.set.items():
            self.assign(entity, (*base, "set", fname), fname, text)
        for i, c in enumerate(node.create):
            target = ctx.ref((*base, "create", i, "entity"), "entity", c.entity)
            if target is None:
                continue
            if target.child:
                ctx.error((*base, "create", i, "entity"), f"cannot create a child entity '{c.entity}' on its own")
            scope = self.scope
            if c.for_each is not None:
                scope = self.each_scope((*base, "create", i), c.for_each)
                if scope is None:
                    continue
                for key in ("where", "group_by"):
                    text = getattr(c, key)
                    if text:
                        ctx.expr((*base, "create", i, key), text, scope, T.BOOLEAN if key == "where" else None)
                if c.rows is not None:
                    self.rows(target, (*base, "create", i, "rows"), c.rows, scope)
            for fname, text in c.values.items():
                self.assign(target, (*base, "create", i, "values", fname), fname, text, scope)
        for i, u in enumerate(node.update):
            target = ctx.ref((*base, "update", i, "entity"), "entity", u.entity)
            if target is None:
                continue
            if target.child:
                ctx.error((*base, "update", i, "entity"), f"cannot update child rows of '{u.entity}' on their own")
                continue
            scope = Scope(ctx.schema, u.entity, roots={**ROOTS, "record": T.record(self.flow.entity)})
            ctx.expr((*base, "update", i, "where"), u.where, scope, T.BOOLEAN)
            for fname, text in u.set.items():
                self.assign(target, (*base, "update", i, "set", fname), fname, text, scope)
            if u.rows is not None:
                self.update_rows(target, (*base, "update", i, "rows"), u.rows)
        alloc = node.allocation()
        if alloc is not None:
            path = (*base, "allocate") if isinstance(node.allocate, str) else (*base, "allocate", "rule")
            self.rule(path, "allocation", alloc.rule)
            self.allocation(alloc, (*base, "allocate"))
        if node.webhook:
            for key, text in node.webhook.body.items():
                ctx.expr((*base, "webhook", "body", key), text, self.scope)
        if node.notify:
            for i, a in enumerate(node.notify.to):
                self.approver((*base, "notify", "to", i), a)
            self.template((*base, "notify", "subject"), node.notify.subject)
            self.template((*base, "notify", "body"), node.notify.body)

    def assign(self, entity: Any, path: tuple, fname: str, text: str, scope: Scope | None = None) -> None:
        f = entity.fields.get(fname)
        if f is None:
            self.ctx.error(path, f"unknown field '{fname}' in {entity.name}", key=True)
            return
        if f.type in ("computed", "table", "related"):
            self.ctx.error(path, f"field '{fname}' is {f.type} and cannot be set", key=True)
            return
        expect = None if f.type in ("link", "json") else f.value_type().plain()
        self.ctx.expr(path, text, scope or self.scope, expect)

    def each_scope(self, path: tuple, name: str) -> Scope | None:
        """The scope of a ``for_each``: the flow's record plus ``row``, a row of the named field."""
        entity = self.ctx.app.get("entity", self.flow.entity)
        f = entity.fields.get(name) if entity is not None else None
        if f is None or f.type not in ("table", "related"):
            what = "unknown field" if f is None else f"{f.type} field"
            self.ctx.error((*path, "for_each"), f"for_each needs a table or related field of {self.flow.entity}, "
                                                f"not '{name}' ({what})")
            return None
        return Scope(self.ctx.schema, self.flow.entity, roots={**ROOTS, "row": T.record(f.entity or "")})

    def rows(self, target: Any, path: tuple, spec: Any, scope: Scope) -> None:
        f = target.fields.get(spec.field)
        if f is None or f.type != "table":
            self.ctx.error((*path, "field"), f"'{spec.field}' is not a table field of {target.name}")
            return
        child = self.ctx.app.get("entity", f.entity or "")
        if child is None:
            return
        for fname, text in spec.values.items():
            self.assign(child, (*path, "values", fname), fname, text, scope)

    def update_rows(self, target: Any, path: tuple, spec: Any) -> None:
        f = target.fields.get(spec.table)
        child = self.ctx.app.get("entity", f.entity or "") if f is not None and f.type == "table" else None
        if child is None:
            self.ctx.error((*path, "table"), f"'{spec.table}' is not a table field of {target.name}")
            return
        scope = Scope(self.ctx.schema, child.name, roots={**ROOTS, "record": T.record(self.flow.entity)})
        if spec.where:
            self.ctx.expr((*path, "where"), spec.where, scope, T.BOOLEAN)
        for fname, text in spec.set.items():
            self.assign(child, (*path, "set", fname), fname, text, scope)

    def allocation(self, alloc: Any, path: tuple) -> None:
        if alloc.mode != "consume" and alloc.where:
            self.ctx.error((*path, "where"), "'where' applies to mode 'consume'")
        rule = self.ctx.app.get("allocation", alloc.rule) if "allocation" in KINDS else None
        if rule is None:
            return
        if alloc.demand:
            self.ctx.expr((*path, "demand"), alloc.demand, self.scope)
        elif rule.demand.entity != self.flow.entity:
            self.ctx.error(path, f"allocation rule '{alloc.rule}' allocates {rule.demand.entity} records, not "
                                 f"{self.flow.entity}: give 'demand' (an expression for the demand record)")
        if alloc.where:
            scope = Scope(self.ctx.schema, rule.result.entity, roots={**ROOTS, "record": T.record(self.flow.entity)})
            self.ctx.expr((*path, "where"), alloc.where, scope, T.BOOLEAN)
