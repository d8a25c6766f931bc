"""Load-time checks of a flow's ``type: decision`` node (see ``flow_nodes.DecisionNode``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .expr import Scope
from .expr import types as T

if TYPE_CHECKING:
    from .check import CheckContext
    from .flow_nodes import DecisionNode


def outputs_to_set(node: DecisionNode, table: Any, fields: Any) -> dict[str, str]:
    """Field -> output the node writes: ``set``, or else every output named like a field."""
    if node.set:
        return dict(node.set)
    return {o.name: o.name for o in table.outputs if o.name in fields}


def check_decision_node(ctx: CheckContext, entity: str, scope: Scope, base: tuple, node: DecisionNode) -> None:
    d = ctx.ref((*base, "decision"), "decision", node.decision)
    if d is None:
        return
    if d.entity != entity:
        ctx.error((*base, "decision"), f"decision '{node.decision}' decides on "
                                       f"{'named inputs' if d.entity is None else d.entity + ' records'}, not "
                                       f"on this flow's {entity}")
        return
    table = ctx.schema.decision(node.decision)
    fields = ctx.schema.entity_fields(entity) or {}
    if table is None or table == "cycle":
        return
    outputs = {o.name: o for o in table.outputs}
    for field, output in outputs_to_set(node, table, fields).items():
        path = (*base, "set", field)
        if output not in outputs:
            ctx.error(path, f"decision '{node.decision}' has no output '{output}' (outputs: {', '.join(outputs)})")
            continue
        ft = fields.get(field)
        if ft is None:
            ctx.error((*base, "set", field), f"unknown field '{field}' of {entity}")
            continue
        from .expr.decide import result_type

        rt = result_type(table, list(outputs).index(output))
        if ft.kind in ("table", "related") or not T.compatible(ft, rt):
            ctx.error(path, f"field '{field}' ({ft}) cannot hold output '{output}' ({rt})")
        elif ft.options and outputs[output].values:
            extra = [v for v in outputs[output].values if v not in ft.options]
            if extra:
                ctx.error(path, f"output '{output}' can give {extra[0]!r}, not an option of '{field}'")
    for i, b in enumerate(node.branches):
        ctx.expr((*base, "branches", i, "when"), b.when, scope, T.BOOLEAN)
