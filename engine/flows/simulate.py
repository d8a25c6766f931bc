"""Dry run: the path a record would take through a flow and who would be asked, writing nothing.

Approvals are assumed approved unless ``decisions`` says ``{node: "reject"}``;
waits are assumed to be satisfied; role members are read from the database when
it is there (read-only), else roles are shown by name.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ordo.dsl.expr import Env

from ..coerce import CoercionError, coerce
from ..errors import UsageError
from .people import expand, resolve

if TYPE_CHECKING:
    from ..app import App

MAX_STEPS = 500


@dataclass
class Step:
    node: str
    type: str
    text: str
    asks: list[str] = field(default_factory=list)


def prepare_record(app: App, entity: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values for the entity's fields (links may be given as nested objects)."""
    if not isinstance(data, Mapping):
        raise UsageError("the record must be a JSON object of field values")
    fields = app.definition.entities[entity].fields
    out: dict[str, Any] = {"id": data.get("id"), "name": data.get("name")}
    for key, value in data.items():
        f = fields.get(key)
        if f is None or value is None or isinstance(value, (dict, list)) or f.type in ("link", "table", "computed"):
            out[key] = value
            continue
        try:
            out[key] = coerce(f, value)
        except CoercionError as e:
            raise UsageError(f"record field '{key}': {e}") from None
    for name, f in fields.items():
        out.setdefault(name, None if f.type != "table" else [])
    return out


def simulate(app: App, flow: str, data: Mapping[str, Any], *, initiator: str = "admin",
             decisions: Mapping[str, str] | None = None, members: Callable[[str], list[str]] | None = None,
             link: Callable[[str, Any], Any] | None = None) -> list[Step]:
    rt = app.features["flows"]
    f = rt.flow(flow)
    record = prepare_record(app, f.entity, data)
    # aggregates over related records need the database: in a dry run they are unknown (null); give the
    # computed fields that use them (e.g. a risk score) in the record JSON
    env = Env(link=link or (lambda e, i: None), clock=app.clock, related=lambda node, owner: None)
    decisions = dict(decisions or {})
    for node, d in decisions.items():
        if node not in f.nodes or d not in ("approve", "reject"):
            raise UsageError(f"decision {node}={d}: use NODE=approve|reject with an approval node of {flow}")
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
            found = resolve(None, node.approvers, record, initiator, f.entity)
            users = expand(None, [a for a in found if a[0] != "rule"], members) if members else []
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
            values = {k: ev(node.exprs["set." + k]) for k in d.set}
            parts = ["sets " + ", ".join(f"{k}={v!r}" for k, v in values.items())] if d.set else []
            parts += [f"creates a {c.entity}" + (f" per {c.group_by or 'row'} of {c.for_each}" if c.for_each else "")
                      for c in d.create]
            parts += [f"changes the {u.entity} records where {u.where}" for u in d.update]
            parts += [f"runs allocation {d.allocation().rule} ({d.allocation().mode})"] if d.allocate else []
            parts += [f"calls {d.webhook.url}"] if d.webhook else []
            parts += [f"notifies {', '.join(a.spec.describe() for a in node.approvers)}"] if d.notify else []
            steps.append(Step(name, "action", "; ".join(parts) or "does nothing"))
            queue.append((d.next, stack))
        elif node.type == "cc":
            steps.append(Step(name, "cc", "tells " + ", ".join(a.spec.describe() for a in node.approvers)))
            queue.append((d.next, stack))
        else:  # end
            steps.append(Step(name, "end", f"flow ends: {d.outcome or name}"))
            if d.terminate:
                break
    return steps
