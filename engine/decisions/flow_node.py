"""The flow node ``type: decision``: compiled with the flow, run by the flow runner.

The outputs are written through the flow's automated writer (so validations, computed fields and
audit apply), then the first branch that holds is taken, else ``next``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ordo.dsl.decision_flow import outputs_to_set
from ordo.dsl.expr import types as T

from ..coerce import to_jsonable


def compile_decision_node(compiler: Any, n: Any, d: Any, where: str) -> None:
    table = compiler.schema.decision(d.decision)
    fields = compiler.schema.entity_fields(compiler.defn.entity) or {}
    for field, output in outputs_to_set(d, table, fields).items():
        n.exprs[f"set.{field}"] = compiler.expr(f"decide('{d.decision}', '{output}')", f"{where}, set {field}")
    n.branches = [(compiler.expr(b.when, where, T.BOOLEAN), b.to) for b in d.branches]


def run_decision_node(runner: Any, tok: Any, node: Any, queue: deque) -> None:
    values = {key[4:]: runner.eval(node, key) for key in node.exprs if key.startswith("set.")}
    if values:
        with runner.authority() as w:
            w.update(runner.inst.entity, runner.inst.record_id, values)
        runner._record = None
    runner.history("decided", node.name, decision=node.defn.decision, values=to_jsonable(values))
    target = next((to for expr, to in node.branches
                   if expr(runner.record, runner.tx.env, runner.inst.started_by) is True), node.next)
    runner.move(tok, target, queue)


def simulate_decision_node(tx: Any, flow: Any, node: Any, record: dict, ev: Any,
                           database: bool) -> tuple[dict, str, str]:
    """What the node would do in ``ordo flow simulate``: the record with the outputs, a line, the next node."""
    from ..record_input import dry_record

    values = {key[4:]: ev(node.exprs[key]) for key in node.exprs if key.startswith("set.")}
    if values:
        record = dry_record(tx, tx.app.compiled.entity(flow.entity), values, database, before=record)
    target = next((to for e, to in node.branches if e(record, tx.env, None) is True), node.next)
    sets = ", ".join(f"{k} = {record.get(k)}" for k in values)
    return record, f"decision {node.defn.decision}: {sets or 'decided'}; goes to {target}", target
