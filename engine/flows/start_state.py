"""A flow started by a create shows its first state in the record's INSERT, not in an UPDATE right after it.

A flow triggered on create starts from the create's write listener, runs to its first resting node
and mirrors that node's state on the record (``state_field``, see :mod:`.mirror`): the record was
inserted, then updated (a second statement, version 2, a second audit row). ``app.before_insert``
lets this module work out that state first, from the record about to be inserted, and put it in the
INSERT: the flow then finds its record showing the state already and writes nothing to it. The record
is created at version 1 with one audit row (``create``, the state among its values).

Only what is known exactly before the insert is worked out: one flow on the entity, started on
create (not while a flow is writing: those start only ``from_flows``), whose trigger condition and
the expressions on the way to its first rest read only the record's own stored fields (not the state
field, not its id or name) and the initiator; the way goes through ``condition`` gateways (and an
``approval`` or ``wait`` passed on at once by ``auto_approve_if`` / ``until``) to an ``approval``
(whose missing approvers fail the flow, the default, or go to a role) or a ``wait``. The state is
checked as the mirror's write checks it (coerced, field checks); a state field that something else
depends on (a computed field, a related field's filter, an entity rule, a unique index) is left to
the mirror. Anything else, or any doubt, leaves the record as given: the flow mirrors the state as
before. Whatever is worked out here, the mirror still compares the record with the state the flow
really rests in and writes the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ordo.dsl.flow_nodes import NoApproverRole

from ..coerce import CoercionError, coerce
from ..compiled import CompiledEntity, CompiledField
from ..errors import FieldError
from ..validation import check_field
from .compile import CNode, CompiledFlow
from .pending import _deferrable
from .runtime import _BUSY

if TYPE_CHECKING:
    from ..records import Transaction
    from .runtime import FlowRuntime

MAX_HOPS = 64  # nodes passed on the way to the first rest (a longer way is left to the flow)


@dataclass(frozen=True)
class StartPlan:
    """What an entity's create needs to show its flow's first state: built once per compiled entity."""

    flow: CompiledFlow
    field: CompiledField
    known: frozenset[str]  # the nodes whose expressions read only what is known before the insert


def _reads_known(expr: Any, ce: CompiledEntity, field: str) -> bool:
    for p in expr.paths():
        if p.root is None:
            cf = ce.fields.get(p.parts[0]) if p.parts else None
            if cf is None or not cf.stored or cf.name == field:
                return False
        elif p.root != "initiator":
            return False
    return True


def _plan(rt: FlowRuntime, ce: CompiledEntity) -> StartPlan | None:
    flows = rt.by_entity.get(ce.name) or []
    if len(flows) != 1:  # several flows on the entity: each may see the other's writes (left to them)
        return None
    f = flows[0]
    name = f.defn.state_field
    if f.defn.trigger.on not in ("create", "create_or_update") or not name or name not in ce.fields:
        return None
    if name not in _deferrable(ce) or ce.fields[name].defn.unique or any(
            i.unique and name in i.fields for i in ce.defn.index_list()) or any(
            name in v.reads for v in ce.validations):
        return None
    if f.trigger_when is not None and not _reads_known(f.trigger_when, ce, name):
        return None
    known = frozenset(n.name for n in f.nodes.values()
                      if all(_reads_known(e, ce, name) for e in n.exprs.values())
                      and all(_reads_known(e, ce, name) for e, _ in n.branches))
    return StartPlan(f, ce.fields[name], known)


def _resting_state(plan: StartPlan, rec: dict[str, Any], tx: Transaction) -> str | None:
    """The state of the node the flow will rest at first, or None when it is not known for sure."""
    f, env, initiator = plan.flow, tx.env, tx.user.name
    node: CNode | None = f.nodes.get(f.first)
    for _ in range(MAX_HOPS):
        if node is None or node.name not in plan.known:
            return None
        if node.type == "condition":
            target = next((to for e, to in node.branches if e(rec, env, initiator) is True), node.defn.default)
        elif node.type == "approval":
            policy = node.defn.if_no_approver
            if policy != "fail" and not isinstance(policy, NoApproverRole):
                return None  # nobody to ask moves the flow on: who is asked is not worked out here
            if "auto_approve_if" not in node.exprs or node.exprs["auto_approve_if"](rec, env, initiator) is not True:
                return node.state
            target = node.next
        elif node.type == "wait":
            if "until" not in node.exprs or node.exprs["until"](rec, env, initiator) is not True:
                return node.state
            target = node.next
        else:
            return None
        node = f.nodes.get(target) if target is not None else None
    return None


def install(rt: FlowRuntime) -> None:
    """Register the hook on the runtime's app (see the module doc)."""
    plans: dict[str, tuple[CompiledEntity, StartPlan | None]] = {}

    def first_state(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any]) -> None:
        found = plans.get(ce.name)
        if found is None or found[0] is not ce:
            found = plans[ce.name] = (ce, _plan(rt, ce) if ce.name in rt.by_entity else None)
        plan = found[1]
        if plan is None or tx.conn.info.get(_BUSY):
            return
        f = plan.flow
        if f.trigger_when is not None and f.trigger_when(rec, tx.env, tx.user.name) is not True:
            return
        state = _resting_state(plan, rec, tx)
        if state is None:
            return
        cf = plan.field
        try:
            value = coerce(cf.defn, state)
        except CoercionError:
            return  # the mirror reports it
        errors: list[FieldError] = []
        check_field(cf, value, cf.name, errors)
        if not errors:
            rec[cf.name] = value

    rt.app.before_insert.append(first_state)
