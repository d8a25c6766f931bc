"""The decision routes of the OpenAPI description (see :mod:`openapi` and :mod:`decisions`).

``GET /api/v1/decisions`` is a route every app has; ``POST /api/v1/decisions/{name}`` is described
once per table the user may run, its request from the table's inputs (the named inputs, or the
fields of a record of its entity the user may see) and its response from its outputs and hit policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ordo.dsl.base import label_text
from ordo.forms.schema import entity_json_schema

from .access import field_access
from .openapi_paths import _body, _json, _op, _ref
from .openapi_schemas import to_oas

if TYPE_CHECKING:
    from ordo.dsl.decision_table import DecisionTable
    from ordo.engine.records import Transaction

_COLUMN = {"type": "object", "required": ["name", "type"], "properties": {
    "name": {"type": "string"}, "type": {"type": "string"},
    "values": {"type": "array", "items": {}, "nullable": True}, "default": {"nullable": True}}}
SCHEMAS: dict[str, Any] = {
    "Decision": {"type": "object", "required": ["name", "label", "hit_policy", "inputs", "outputs"], "properties": {
        "name": {"type": "string"}, "label": {"type": "string"}, "entity": {"type": "string", "nullable": True},
        "hit_policy": {"type": "string"}, "inputs": {"type": "array", "items": _COLUMN},
        "outputs": {"type": "array", "items": _COLUMN}}},
    "DecisionExplain": {"type": "object", "required": ["decision", "hit_policy", "inputs", "rules"],
                        "additionalProperties": True, "properties": {
        "decision": {"type": "string"}, "hit_policy": {"type": "string"},
        "inputs": {"type": "object", "additionalProperties": True},
        "rules": {"type": "array", "items": {"type": "object", "additionalProperties": True, "properties": {
            "rule": {"type": "string"}, "index": {"type": "integer"}, "matched": {"type": "boolean"},
            "chosen": {"type": "boolean"}, "failed": {"type": "object", "nullable": True,
                                                      "additionalProperties": True}}}},
        "error": {"type": "string", "description": "why the table gives no result (e.g. UNIQUE rules overlap)"}}},
}
_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "description": "an exact decimal as text"}]}
_VALUE = {"string": {"type": "string"}, "integer": {"type": "integer"}, "decimal": _NUMBER, "money": _NUMBER,
          "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
          "datetime": {"type": "string", "format": "date-time"}}


def _value(kind: str, values: Any = None, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {**_VALUE.get(kind, {}), "nullable": True}
    if values and kind == "string":
        out["enum"] = [*values, None]
    if description:
        out["description"] = description
    return out


def listing(spec: dict[str, Any]) -> None:
    """``GET /api/v1/decisions``: a route every app has."""
    _op(spec, "/api/v1/decisions", "get", "listDecisions", "The decision tables the user may run", "decisions",
        {"200": _json({"type": "array", "items": _ref("schemas", "Decision")})}, "400 401 503")


def _inputs(tx: Transaction, table: DecisionTable) -> dict[str, Any]:
    if table.entity is None:
        labels = {name: label for label, name in table.labels.items()}
        domains = {i.name: i.type.options for i in table.inputs}
        props = {name: _value(t.kind, t.options or domains.get(name), labels.get(name))
                 for name, t in table.roots.items()}
        return {"type": "object", "properties": props, "additionalProperties": False,
                "description": "the named inputs (missing ones are null)"}
    schema = to_oas(entity_json_schema(tx.app.definition, table.entity, user=tx.user,
                                       permissions=tx.app.permissions))
    ce = tx.app.compiled.entities[table.entity]
    hidden = field_access(tx, table.entity).hidden
    props = {k: v for k, v in schema.get("properties", {}).items()
             if k in ce.fields and k not in hidden and ce.fields[k].defn.type not in ("table", "related")}
    return {"type": "object", "properties": props, "additionalProperties": False,
            "description": f"fields of a {table.entity} (links by id or name; computed fields as what-if values)"}


def _result(table: DecisionTable) -> dict[str, Any]:
    outputs = table.outputs
    if table.aggregation == "COUNT":
        return {"type": "integer", "description": "how many rules matched"}
    if table.aggregation is not None:
        return _value(outputs[0].type.kind, description=f"{table.policy_text()} of the matching rules' "
                                                        f"{outputs[0].name}")
    if len(outputs) == 1:
        one = _value(outputs[0].type.kind, outputs[0].values, outputs[0].name)
    else:
        one = {"type": "object", "nullable": True, "properties": {
            o.name: _value(o.type.kind, o.values) for o in outputs}}
    if table.policy in ("RULE ORDER", "OUTPUT ORDER", "COLLECT"):
        return {"type": "array", "items": one, "description": "one result per matching rule"}
    return one


def decision(spec: dict[str, Any], tx: Transaction, table: DecisionTable, lang: str) -> None:
    """``POST /api/v1/decisions/{name}`` for one table the user may run."""
    d = tx.app.definition.get("decision", table.name)
    props: dict[str, Any] = {"inputs": _inputs(tx, table),
                             "explain": {"type": "boolean", "default": False,
                                         "description": "also every rule's outcome"}}
    if table.entity is not None:
        props["record"] = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
                           "description": f"a stored {table.entity} (id or name) instead of inputs"}
    body = {"type": "object", "properties": props, "additionalProperties": False,
            "description": "give inputs" + (" or record" if table.entity is not None else "")}
    result = {**_result(table), "nullable": True}  # with explain: null when the table gives no result
    ok = {"type": "object", "required": ["decision", "result"], "properties": {
        "decision": {"type": "string", "enum": [table.name]}, "result": result,
        "explain": _ref("schemas", "DecisionExplain")}}
    _op(spec, f"/api/v1/decisions/{table.name}", "post", f"decide_{table.name}",
        label_text(d.label if d is not None else None, lang, table.name), "decisions",
        {"200": _json(ok, "the table's result")}, "400 401 403 404 413 415 503", body=_body(body))
