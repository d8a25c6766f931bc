"""What the designer's edit and simulate endpoints do with a draft (designer_api/designer.py routes them).

``apply(text, edits, file)``: structured edits of one YAML file, in order. Each edit is a JSON object:
the operations of ``dsl/yaml_edit.apply_edits`` (``set``, ``delete``, ``insert``, ``move``, ``rename``),
or a flow graph operation of ``dsl/flow_edit``:

    {"op": "insert_node", "flow": F, "name": NEW, "node": {...}, "before": N | "after": N}
    {"op": "remove_node", "flow": F, "name": N}
    {"op": "reconnect", "flow": F, "node": N, "edge": "next" | "default" | "branch:0" | ..., "target": T}
    {"op": "set_node", "flow": F, "name": N, "props": {...}}

or a form or field operation of ``dsl/form_edit`` (``move_field``, ``move_section``, ``set_section``,
``set_field_label``, ``set_field_rule``, ``set_field``, ``add_field``: the function's arguments by name;
``move_section`` takes ``from`` and ``to``).

Each changes only the lines it has to (comments, key order and formatting elsewhere are kept).

``simulate(...)``: the path a record would take through a flow of the draft (or of a version) and who would
be asked, with computed fields evaluated as at run time, writing nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ordo.dsl import flow_edit, form_edit
from ordo.dsl.errors import DefinitionError
from ordo.dsl.yaml_edit import apply_edits, check_batch
from ordo.engine.app import App

from .errors import bad_request

if TYPE_CHECKING:
    from ordo.engine.actor import User, UserLike
    from ordo.engine.definitions import DefinitionStore

    from .context import Ctx
    from .live import Live

# op -> (function, positional keys, keyword keys, keys that are objects); text and file= are added
OPS: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...], frozenset[str]]] = {
    "insert_node": (flow_edit.insert_node, ("flow", "name", "node"), ("before", "after"), frozenset({"node"})),
    "remove_node": (flow_edit.remove_node, ("flow", "name"), (), frozenset()),
    "reconnect": (flow_edit.reconnect, ("flow", "node", "edge", "target"), (), frozenset()),
    "set_node": (flow_edit.set_node, ("flow", "name", "props"), (), frozenset({"props"})),
    "move_field": (form_edit.move_field, ("form", "field"), ("section", "index"), frozenset()),
    "move_section": (form_edit.move_section, ("form", "from", "to"), (), frozenset()),
    "set_section": (form_edit.set_section, ("form", "section", "props"), (), frozenset({"props"})),
    "set_field_label": (form_edit.set_field_label, ("entity", "field", "lang", "label"), (), frozenset()),
    "set_field_rule": (form_edit.set_field_rule, ("entity", "field", "rule", "expression"), (), frozenset()),
    "set_field": (form_edit.set_field, ("entity", "field", "props"), (), frozenset({"props"})),
    "add_field": (form_edit.add_field, ("entity", "name", "type"),
                  ("options", "label", "required", "after", "props"), frozenset({"props", "options", "label"})),
}
_NUMBERS = {"index", "from", "to", "section"}  # may be whole numbers (positions) as well as names


def apply(text: str, edits: Sequence[Any], file: str) -> str:
    """``text`` with ``edits`` applied in order (consecutive YAML edits in one batch). The batch is bounded
    as a whole (``yaml_edit.check_batch``: edits, file size, edits x size), else a DefinitionError."""
    check_batch(text, len(edits), file)
    pending: list[Mapping[str, Any]] = []
    for i, e in enumerate(edits):
        if not isinstance(e, dict) or not isinstance(e.get("op"), str):
            raise bad_request(f"edit {i}: each edit is an object with an 'op'", f"edits[{i}]")
        if e["op"] not in OPS:
            pending.append(e)
            continue
        if pending:
            text, pending = apply_edits(text, pending, file=file), []
        text = _op(text, e, i, file)
    return apply_edits(text, pending, file=file) if pending else text


def _op(text: str, e: dict[str, Any], i: int, file: str) -> str:
    fn, positional, keywords, objects = OPS[e["op"]]
    missing = [k for k in positional if k not in e]
    if e["op"] == "move_field" and "section" not in e:
        missing.append("section")
    unknown = sorted(set(e) - {"op", *positional, *keywords})
    if missing or unknown:
        raise bad_request(f"edit {i} ({e['op']}): " + (f"missing {', '.join(missing)}" if missing else
                                                     f"unknown key(s) {', '.join(unknown)}"), f"edits[{i}]")
    for k in (*positional, *keywords):
        v = e.get(k)
        if k == "required":
            ok = v is None or isinstance(v, bool)
        elif k in objects:
            ok = v is None or isinstance(v, (dict, list, str))
        else:
            ok = v is None or isinstance(v, str) or (k in _NUMBERS and isinstance(v, int) and not isinstance(v, bool))
        if not ok:
            raise bad_request(f"edit {i} ({e['op']}): '{k}' has the wrong type", f"edits[{i}].{k}")
    args = [e[k] for k in positional]
    kwargs = {k: e[k] for k in keywords if k in e}
    try:
        return fn(text, *args, **kwargs, file=file)
    except DefinitionError as err:  # which edit of the batch, at the line of its definition or node
        raise DefinitionError(f"edit {i + 1} ({e['op']}): {err.message}", file=err.file, line=err.line,
                              column=err.column) from None


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
        values = _record_values(app, seen_record(ctx.app, ctx.actor, f.entity, key), f.entity)
    steps = app.features["flows"].simulate(flow, values, initiator=user.name, decisions=decisions,
                                           lang=ctx.lang, user=ctx.actor)
    return {"flow": flow, "version": store.version(ref).label,
            "steps": [{"node": s.node, "type": s.type, "text": s.text, "asks": list(s.asks)} for s in steps]}


def seen_record(served: App, actor: UserLike, entity: str, key: int | str) -> dict[str, Any]:
    """Record ``key`` (id or name) of ``entity`` as ``actor`` may see it in the ``served`` App (the published
    permissions): one they may not read is not found, fields hidden from them are left out. What a simulation
    of the draft (the API's and the page's) starts from."""
    with served.reader(actor) as tx:
        return dict(tx.get(entity, key))


def _record_values(app: App, record: dict[str, Any], entity: str) -> dict[str, Any]:
    """A stored record's values as input for ``app``'s entity (its fields only; computed fields are computed
    again by the draft's rules)."""
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
