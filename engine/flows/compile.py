"""Validated flow definitions -> runtime graphs with every expression compiled once.

A :class:`CompiledFlow` is keyed by its version hash (canonical JSON of the
definition, which includes the declared ``version``); instances store the id of
the version row they started with and are always run on that graph.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ordo.dsl.errors import ExpressionError, ExpressionErrors
from ordo.dsl.expr import CompiledExpression, Env, Scope, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.flow import ROOTS, FlowDef, template_parts
from ordo.dsl.flow_nodes import (
    ActionNode,
    ApprovalNode,
    ApproverSpec,
    CcNode,
    ConditionNode,
    DecisionNode,
    InclusiveNode,
    WaitNode,
    parse_duration,
    successors,
)

from ..errors import OrdoError


class FlowCompileError(OrdoError):
    """A stored flow version no longer fits the app (e.g. a field it reads was removed)."""


def definition_data(defn: FlowDef) -> dict[str, Any]:
    return {"kind": "flow", **defn.to_data()}


def version_hash(defn: FlowDef) -> str:
    canonical = json.dumps(definition_data(defn), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Approver:
    spec: ApproverSpec
    expr: CompiledExpression | None = None
    link_entity: str | None = None  # the expression gives a linked record: use its name


@dataclass
class Template:
    parts: list[tuple[str, CompiledExpression | None]]

    def render(self, record: dict[str, Any], env: Env, initiator: str) -> str:
        out = []
        for text, expr in self.parts:
            out.append(text)
            if expr is not None:
                value = expr(record, env, initiator)
                out.append("" if value is None else str(value))
        return "".join(out)


@dataclass
class CNode:
    name: str
    defn: Any
    type: str
    label: str
    state: str
    exprs: dict[str, CompiledExpression] = field(default_factory=dict)
    branches: list[tuple[CompiledExpression, str]] = field(default_factory=list)
    approvers: list[Approver] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)
    due: Any = None  # timedelta
    escalations: dict[int, Approver] = field(default_factory=dict)  # timeout index -> who takes over

    @property
    def next(self) -> str | None:
        return getattr(self.defn, "next", None)

    @functools.cached_property
    def assignment_rules(self) -> tuple[str, ...]:
        """The assignment rules this node's tasks may come from (its approvers, its escalations)."""
        found = [a.spec.assignment for a in (*self.approvers, *self.escalations.values()) if a.spec.assignment]
        return tuple(dict.fromkeys(found))


@dataclass
class CompiledFlow:
    name: str
    defn: FlowDef
    nodes: dict[str, CNode]
    first: str
    trigger_when: CompiledExpression | None
    ancestors: dict[str, set[str]]

    @property
    def entity(self) -> str:
        return self.defn.entity

    @functools.cached_property
    def hash(self) -> str:
        """The version's digest, made when a run first asks (dumping the definition builds its pydantic
        serializer: opening an app, e.g. for one `ordo get`, starts no flow)."""
        return version_hash(self.defn)

    @functools.cached_property
    def until_waits(self) -> bool:
        """Whether a node is a wait with an ``until`` condition (looked at again after every run's moves)."""
        return any(n.type == "wait" and "until" in n.exprs for n in self.nodes.values())

    @property
    def definition_json(self) -> str:
        return json.dumps(definition_data(self.defn), sort_keys=True, ensure_ascii=False)


class _Compiler:
    def __init__(self, app: Any, defn: FlowDef) -> None:
        self.defn = defn
        self.app = app
        self.schema = app.schema
        self.scope = Scope(self.schema, defn.entity, roots=dict(ROOTS))

    @property
    def schema_app(self) -> Any:
        return self.app

    def expr(self, text: str, where: str, expect: T.Type | None = None, scope: Scope | None = None
             ) -> CompiledExpression:
        try:
            return compile_expression(text, scope or self.scope, expect)
        except (ExpressionError, ExpressionErrors) as e:
            raise FlowCompileError(f"flow {self.defn.name}, {where}: {e}") from None

    def each_scope(self, name: str) -> Scope:
        target = self.app.entities[self.defn.entity].fields[name].entity
        return Scope(self.schema, self.defn.entity, roots={**ROOTS, "row": T.record(target or "")})

    def template(self, text: str, where: str) -> Template:
        return Template([(lit, self.expr(e, where) if e else None) for lit, e in template_parts(text or "")])

    def approver(self, spec: ApproverSpec, where: str) -> Approver:
        text = spec.field if spec.field is not None else spec.expr
        if text is None:
            return Approver(spec)
        compiled = self.expr(text, where)
        link = str(compiled.type.arg) if compiled.type.kind == "record" else None
        return Approver(spec, compiled, link)

    def node(self, name: str, d: Any) -> CNode:
        label = d.label if isinstance(d.label, str) else (d.label or {}).get("en") or name.replace("_", " ")
        n = CNode(name, d, d.type, str(label), d.state or name)
        where = f"node {name}"
        if isinstance(d, ApprovalNode):
            n.approvers = [self.approver(a, where) for a in d.approvers]
            if d.auto_approve_if:
                n.exprs["auto_approve_if"] = self.expr(d.auto_approve_if, where, T.BOOLEAN)
            for i, t in enumerate(d.timeouts()):
                if t.when:
                    n.exprs[f"timeout.{i}.when"] = self.expr(t.when, f"{where}, timeout {i + 1} when", T.BOOLEAN)
                spec = t.escalate_to()
                if spec is not None:
                    n.escalations[i] = self.approver(spec, f"{where}, timeout {i + 1}")
            due = d.due or (d.timeouts()[0].after if d.timeouts() else None)
            n.due = parse_duration(due) if due else None
        elif isinstance(d, (ConditionNode, InclusiveNode)):
            n.branches = [(self.expr(b.when, where, T.BOOLEAN), b.to) for b in d.branches]
        elif isinstance(d, WaitNode):
            if d.until:
                n.exprs["until"] = self.expr(d.until, where, T.BOOLEAN)
            if d.timeout is not None and d.timeout.at:
                n.exprs["timeout.at"] = self.expr(d.timeout.at, f"{where}, timeout at", T.DATETIME)
        elif isinstance(d, ActionNode):
            for fname, text in d.set.items():
                n.exprs[f"set.{fname}"] = self.expr(text, f"{where}, set {fname}")
            for i, c in enumerate(d.create):
                scope = self.each_scope(c.for_each) if c.for_each else None
                for fname, text in c.values.items():
                    n.exprs[f"create.{i}.{fname}"] = self.expr(text, f"{where}, create {c.entity}.{fname}",
                                                               scope=scope)
                if c.for_each:
                    for key in ("where", "group_by"):
                        text = getattr(c, key)
                        if text:
                            n.exprs[f"create.{i}.{key}"] = self.expr(
                                text, f"{where}, create {c.entity} {key}", T.BOOLEAN if key == "where" else None,
                                scope)
                    if c.rows is not None:
                        for fname, text in c.rows.values.items():
                            n.exprs[f"create.{i}.rows.{fname}"] = self.expr(
                                text, f"{where}, create {c.entity}.{c.rows.field}.{fname}", scope=scope)
            for i, u in enumerate(d.update):
                scope = Scope(self.schema, u.entity, roots={**ROOTS, "record": T.record(self.defn.entity)})
                n.exprs[f"update.{i}.where"] = self.expr(u.where, f"{where}, update {u.entity}", T.BOOLEAN, scope)
                for fname, text in u.set.items():
                    n.exprs[f"update.{i}.{fname}"] = self.expr(text, f"{where}, update {u.entity}.{fname}",
                                                               scope=scope)
                if u.rows is not None:
                    child = self.app.entities[u.entity].fields[u.rows.table].entity
                    rscope = Scope(self.schema, child, roots={**ROOTS, "record": T.record(self.defn.entity)})
                    if u.rows.where:
                        n.exprs[f"update.{i}.rows.where"] = self.expr(u.rows.where, f"{where}, update rows",
                                                                      T.BOOLEAN, rscope)
                    for fname, text in u.rows.set.items():
                        n.exprs[f"update.{i}.rows.{fname}"] = self.expr(
                            text, f"{where}, update {u.entity}.{u.rows.table}.{fname}", scope=rscope)
            alloc = d.allocation()
            if alloc is not None and alloc.demand:
                n.exprs["allocate.demand"] = self.expr(alloc.demand, f"{where}, allocate demand")
            if alloc is not None and alloc.where:
                rule = self.schema_app.get("allocation", alloc.rule)
                scope = Scope(self.schema, rule.result.entity, roots={**ROOTS, "record": T.record(self.defn.entity)})
                n.exprs["allocate.where"] = self.expr(alloc.where, f"{where}, allocate where", T.BOOLEAN, scope)
            if d.webhook:
                for key, text in d.webhook.body.items():
                    n.exprs[f"webhook.{key}"] = self.expr(text, f"{where}, webhook {key}")
            if d.notify:
                n.approvers = [self.approver(a, where) for a in d.notify.to]
                n.templates = {"subject": self.template(d.notify.subject, where),
                               "body": self.template(d.notify.body, where)}
        elif isinstance(d, DecisionNode):
            from ..decisions.flow_node import compile_decision_node

            compile_decision_node(self, n, d, where)
        elif isinstance(d, CcNode):
            n.approvers = [self.approver(a, where) for a in d.to]
            n.templates = {"subject": self.template(d.subject, where), "body": self.template(d.body, where)}
        return n

    def compile(self) -> CompiledFlow:
        d = self.defn
        nodes = {name: self.node(name, nd) for name, nd in d.nodes.items()}
        when = self.expr(d.trigger.when, "trigger", T.BOOLEAN) if d.trigger.when else None
        return CompiledFlow(d.name, d, nodes, d.first, when, _ancestors(d))


def _ancestors(d: FlowDef) -> dict[str, set[str]]:
    """Nodes from which each node can be reached (the targets a task may be sent back to)."""
    reverse: dict[str, set[str]] = {n: set() for n in d.nodes}
    for name, node in d.nodes.items():
        for _, target in successors(node):
            if target in reverse:
                reverse[target].add(name)
    out: dict[str, set[str]] = {}
    for name in d.nodes:
        seen: set[str] = set()
        todo = list(reverse[name])
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(reverse[n])
        out[name] = seen
    return out


def compile_flow(app: Any, defn: FlowDef) -> CompiledFlow:
    """Compile a validated flow definition against the app definition (raises FlowCompileError if it no longer
    fits the app)."""
    return _Compiler(app, defn).compile()
