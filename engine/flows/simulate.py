"""Dry run: the path a record would take through a flow and who would be asked, writing nothing.

The record is prepared by the same code as a create (``record_input.dry_record``:
defaults, link names, computed fields), in a read-only transaction. Approvals
are assumed approved unless ``decisions`` says ``{node: "reject"}``; waits are
assumed to be satisfied. With ``database`` (the default) links are looked up and
roles expanded to their members; without, links keep the names or nested records
given and roles are shown by name. Values are shown as a person reads them.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ordo.dsl.expr import Env

from ..actor import OWNER
from ..errors import UsageError
from ..record_input import dry_record
from .people import expand, resolve

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction

MAX_STEPS = 500


@dataclass
class Step:
    node: str
    type: str
    text: str
    asks: list[str] = field(default_factory=list)


def _given(entity: str, key: Any) -> Any:
    """Without a database a linked record is what the record JSON says: a nested object, or just a name."""
    if isinstance(key, Mapping):
        return key
    return {"name": key} if isinstance(key, str) else None


def show(tx: Transaction, value: Any, entity: str | None = None) -> str:
    """A value as a person reads it: ISO dates, plain numbers, linked records by name (and title)."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if entity is not None:
        rec = value if isinstance(value, Mapping) else tx.env.link(entity, value)
        if rec and rec.get("name"):
            title_field = tx.app.definition.entities[entity].title_field
            title = rec.get(title_field) if title_field else None
            return f"{rec['name']} ({title})" if title and title != rec["name"] else str(rec["name"])
    if isinstance(value, (list, tuple)):
        return ", ".join(show(tx, v) for v in value)
    return str(value)


def a_label(tx: Transaction, entity: str) -> str:
    """'a sales order', 'an invoice': the entity's label after an article."""
    label = tx.app.compiled.entity(entity).label
    if len(label) > 1 and label[1:2].islower():
        label = label[0].lower() + label[1:]
    return ("an " if label[:1].lower() in "aeiou" else "a ") + label


def simulate(app: App, flow: str, data: Mapping[str, Any], *, initiator: str = "admin",
             decisions: Mapping[str, str] | None = None, database: bool = True,
             before: Mapping[str, Any] | None = None) -> list[Step]:
    """The steps ``data`` would take through ``flow``; with ``before`` (a stored record, as ``tx.load``
    reads it) the record is that one changed by ``data``, computed fields evaluated again as an update
    would."""
    f = app.features["flows"].flow(flow)
    decisions = dict(decisions or {})
    for node, d in decisions.items():
        if node not in f.nodes or d not in ("approve", "reject"):
            raise UsageError(f"decision {node}={d}: use NODE=approve|reject with an approval node of {flow}")
    if not isinstance(data, Mapping):
        raise UsageError("the record must be a JSON object of field values")
    with app.reader(OWNER) as tx:
        if not database:  # nothing to look up: links are as given, aggregates over related records unknown
            tx.env = Env(link=_given, clock=app.clock, related=lambda node, owner: None)
        record = dry_record(tx, app.compiled.entity(f.entity), data, links=database,
                            before=dict(before) if before is not None else None)
        return _walk(tx, f, record, initiator, decisions, database)


def _walk(tx: Transaction, f: Any, record: dict[str, Any], initiator: str, decisions: dict[str, str],
          database: bool) -> list[Step]:
    env = tx.env
    steps: list[Step] = []
    queue: deque[tuple[str, tuple[str, ...]]] = deque([(f.first, ())])
    splits: dict[str, int] = {}
    arrivals: dict[str, int] = {}

    def ev(expr: Any) -> Any:
        return expr(record, env, initiator)

    while queue:
        if len(steps) > MAX_STEPS:
            steps.append(Step("-", "stop", f"stopped after {MAX_STEPS} steps (a loop?)"))
            break
        name, stack = queue.popleft()
        node = f.nodes[name]
        d = node.defn
        if node.type == "condition":
            target = next((to for e, to in node.branches if ev(e) is True), d.default)
            steps.append(Step(name, "condition", f"goes to {target}"))
            queue.append((target, stack))
        elif node.type in ("parallel", "inclusive"):
            targets = list(d.to) if node.type == "parallel" else (
                [to for e, to in node.branches if ev(e) is True] or [d.default])
            key = f"{name}#{len(splits)}"
            splits[key] = len(targets)
            steps.append(Step(name, node.type, "splits into " + ", ".join(targets)))
            queue.extend((t, (*stack, key)) for t in targets)
        elif node.type == "join":
            if not stack:
                queue.append((d.next, stack))
                continue
            key = stack[-1]
            arrivals[key] = arrivals.get(key, 0) + 1
            need = splits[key] if d.wait_for == "all" else min(int(d.wait_for), splits[key])
            if arrivals[key] == need:
                steps.append(Step(name, "join", f"joins {need} branch(es), goes on to {d.next}"))
                queue.append((d.next, stack[:-1]))
        elif node.type == "approval":
            if "auto_approve_if" in node.exprs and ev(node.exprs["auto_approve_if"]) is True:
                steps.append(Step(name, "approval", "approved automatically (auto_approve_if)"))
                queue.append((d.next, stack))
                continue
            found = resolve(tx, node.approvers, record, initiator, f.entity, dry=True)
            users = expand(tx, [a for a in found if a[0] != "rule"]) if database else []
            asks = users or [f"{k}:{v}" if k != "user" else v for k, v in found]
            decision = decisions.get(name, "approve")
            if not asks:
                policy = d.if_no_approver
                text = f"nobody to ask: {policy if isinstance(policy, str) else 'role ' + policy.role}"
                steps.append(Step(name, "approval", text))
                if policy == "fail":
                    break
                decision = "reject" if policy == "reject" else "approve"
            else:
                steps.append(Step(name, "approval", f"asks {', '.join(asks)} (mode {d.mode}); assumed {decision}d",
                                  asks))
            if decision == "approve":
                queue.append((d.next, stack))
            elif d.on_reject:
                queue.append((d.on_reject, ()))
            else:
                steps.append(Step(name, "end", "flow ends: rejected"))
                break
        elif node.type == "wait":
            steps.append(Step(name, "wait", f"waits until {d.until or 'the timer'} (assumed to happen)"))
            queue.append((d.next, stack))
        elif node.type == "action":
            fields = tx.app.definition.entities[f.entity].fields
            parts = []
            if d.set:  # the record changes as it would at run time: later steps see the new values
                record = dry_record(tx, tx.app.compiled.entity(f.entity), {k: ev(node.exprs["set." + k]) for k in d.set},
                                    database, before=record)
                parts.append("sets " + ", ".join(
                    f"{k} = {show(tx, record[k], fields[k].entity if fields[k].type == 'link' else None)}"
                    for k in d.set))
            parts += [f"creates {a_label(tx, c.entity)}" + (f" per {c.group_by or 'row'} of {c.for_each}"
                                                           if c.for_each else "") for c in d.create]
            parts += [f"changes the {u.entity} records where {u.where}" for u in d.update]
            parts += [f"runs allocation {d.allocation().rule} ({d.allocation().mode})"] if d.allocate else []
            parts += [f"calls {d.webhook.url}"] if d.webhook else []
            parts += [f"notifies {', '.join(a.spec.describe() for a in node.approvers)}"] if d.notify else []
            steps.append(Step(name, "action", "; ".join(parts) or "does nothing"))
            queue.append((d.next, stack))
        elif node.type == "decision":
            from ..decisions.flow_node import simulate_decision_node

            record, text, target = simulate_decision_node(tx, f, node, record, ev, database)
            steps.append(Step(name, "decision", text))
            queue.append((target, stack))
        elif node.type == "cc":
            steps.append(Step(name, "cc", "tells " + ", ".join(a.spec.describe() for a in node.approvers)))
            queue.append((d.next, stack))
        else:  # end
            steps.append(Step(name, "end", f"flow ends: {d.outcome or name}"))
            if d.terminate:
                break
    return steps
