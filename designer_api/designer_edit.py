"""What the designer's edit and simulate endpoints do with a draft (designer_api/designer.py routes them).

``apply(text, edits, file)``: structured edits of one YAML file, in order. Each edit is a JSON object:
the operations of ``dsl/yaml_edit.apply_edits`` (``set``, ``delete``, ``insert``, ``move``, ``rename``),
or a flow graph operation of ``dsl/flow_edit``:

    {"op": "insert_node", "flow": F, "name": NEW, "node": {...}, "before": N | "after": N}
    {"op": "remove_node", "flow": F, "name": N}
    {"op": "reconnect", "flow": F, "node": N, "edge": "next" | "default" | "branch:0" | ..., "target": T}
    {"op": "set_node", "flow": F, "name": N, "props": {...}}

Each changes only the lines it has to (comments, key order and formatting elsewhere are kept).

``simulate(...)``: the path a record would take through a flow of the draft (or of a version) and who would
be asked, with computed fields evaluated as at run time, writing nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ordo.dsl import flow_edit
from ordo.dsl.yaml_edit import apply_edits
from ordo.engine.app import App

from .errors import bad_request

if TYPE_CHECKING:
    from ordo.engine.actor import User
    from ordo.engine.definitions import DefinitionStore

    from .context import Ctx
    from .live import Live

FLOW_OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # op -> (required keys, optional keys)
    "insert_node": (("flow", "name", "node"), ("before", "after")),
    "remove_node": (("flow", "name"), ()),
    "reconnect": (("flow", "node", "edge", "target"), ()),
    "set_node": (("flow", "name", "props"), ()),
}


def apply(text: str, edits: Sequence[Any], file: str) -> str:
    """``text`` with ``edits`` applied in order (consecutive YAML edits in one round trip)."""
    pending: list[Mapping[str, Any]] = []
    for i, e in enumerate(edits):
        if not isinstance(e, dict) or not isinstance(e.get("op"), str):
            raise bad_request(f"edit {i}: each edit is an object with an 'op'", f"edits[{i}]")
        if e["op"] not in FLOW_OPS:
            pending.append(e)
            continue
        if pending:
            text, pending = apply_edits(text, pending, file=file), []
        text = _flow_op(text, e, i, file)
    return apply_edits(text, pending, file=file) if pending else text


def _flow_op(text: str, e: dict[str, Any], i: int, file: str) -> str:
    required, optional = FLOW_OPS[e["op"]]
    missing = [k for k in required if k not in e]
    unknown = sorted(set(e) - {"op", *required, *optional})
    if missing or unknown:
        raise bad_request(f"edit {i} ({e['op']}): " + (f"missing {', '.join(missing)}" if missing else
                                                     f"unknown key(s) {', '.join(unknown)}"), f"edits[{i}]")
    for k in ("flow", "name", "node", "edge", "target", "before", "after"):
        if k in e and e[k] is not None and not isinstance(e[k], str) and not (k == "node" and e["op"] == "insert_node"):
            raise bad_request(f"edit {i} ({e['op']}): '{k}' must be text", f"edits[{i}].{k}")
    if e["op"] == "insert_node":
        if not isinstance(e["node"], dict):
            raise bad_request(f"edit {i} (insert_node): 'node' must be an object of the node's properties",
                              f"edits[{i}].node")
        return flow_edit.insert_node(text, e["flow"], e["name"], e["node"], before=e.get("before"),
                                     after=e.get("after"), file=file)
    if e["op"] == "remove_node":
        return flow_edit.remove_node(text, e["flow"], e["name"], file=file)
    if e["op"] == "reconnect":
        return flow_edit.reconnect(text, e["flow"], e["node"], e["edge"], e["target"], file=file)
    if not isinstance(e["props"], dict):
        raise bad_request(f"edit {i} (set_node): 'props' must be an object", f"edits[{i}].props")
    return flow_edit.set_node(text, e["flow"], e["name"], e["props"], file=file)


def simulate(ctx: Ctx, user: User, store: DefinitionStore, live: Live) -> dict[str, Any]:
    """POST /api/v1/designer/simulate: {"flow", "record": ID or NAME | "values": {...}, "decisions": {NODE:
    "approve" | "reject"}, "version": "draft" (default) | N}."""
    body = ctx.body
    unknown = set(body) - {"flow", "record", "values", "decisions", "version"}
    if unknown:
        raise bad_request(f"unknown key(s): {', '.join(sorted(unknown))} (send flow, record or values, decisions, "
                          f"version)")
    flow, decisions = body.get("flow"), body.get("decisions") or {}
    if not isinstance(flow, str) or not flow:
        raise bad_request("'flow' must name a flow of the draft", "flow")
    if not isinstance(decisions, dict) or not all(isinstance(v, str) for v in decisions.values()):
        raise bad_request("'decisions' must map approval nodes to \"approve\" or \"reject\"", "decisions")
    if ("record" in body) == ("values" in body):
        raise bad_request("send either 'record' (an existing record's id or name) or 'values' (a sample)", "record")
    ref = body.get("version", "draft")
    if not isinstance(ref, (str, int)) or isinstance(ref, bool):
        raise bad_request("'version' must be \"draft\" or a version number", "version")
    app = live.app_for(ref)
    f = app.features["flows"].flow(flow)
    if "values" in body:
        if not isinstance(body["values"], dict):
            raise bad_request("'values' must be an object of field values", "values")
        values = body["values"]
    else:
        key = body["record"]
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise bad_request("'record' must be a record's id or name", "record")
        values = _record_values(ctx, app, f.entity, key)
    steps = app.features["flows"].simulate(flow, values, initiator=user.name, decisions=decisions)
    return {"flow": flow, "version": store.version(ref).label,
            "steps": [{"node": s.node, "type": s.type, "text": s.text, "asks": list(s.asks)} for s in steps]}


def _record_values(ctx: Ctx, app: App, entity: str, key: int | str) -> dict[str, Any]:
    """The stored values of a record the user may read, as input for the draft's entity (its fields only;
    computed fields are computed again by the draft's rules)."""
    with ctx.app.reader(ctx.actor) as tx:
        record = tx.get(entity, key)
    ce = app.compiled.entity(entity)
    out: dict[str, Any] = {}
    for name, cf in ce.fields.items():
        if name not in record or cf.computed is not None or cf.related_where is not None:
            continue
        value = record[name]
        if isinstance(value, list):  # child rows: their own fields, without row ids
            value = [{k: v for k, v in row.items() if k not in ("id", "parent_id", "idx")}
                     if isinstance(row, dict) else row for row in value]
        out[name] = value
    return out
