"""OpenAPI 3.0.3 schemas of an app's records, for one user.

Input schemas (create, change) come from the one JSON Schema of an entity's input
(:func:`ordo.forms.schema.entity_json_schema`), rewritten in the OpenAPI 3.0 dialect (``nullable``
instead of ``null`` types, ``anyOf`` for alternatives); output schemas say what the API returns: links
by name or expanded, money and decimals as exact strings, dates and times as ISO text (times in UTC,
without offset). Fields the user may not see are left out; fields they may not set are read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ordo.dsl.base import humanize, label_text
from ordo.forms.schema import entity_json_schema

from .access import FieldAccess, field_access

if TYPE_CHECKING:
    from ordo.engine.compiled import CompiledEntity, CompiledField
    from ordo.engine.records import Transaction

DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "description": "exact decimal, at its scale"}
DATETIME = {"type": "string", "description": "ISO 8601 date and time, UTC (no offset)"}
_RENAMED = {"formatMinimum": "x-formatMinimum", "formatMaximum": "x-formatMaximum"}

ERROR = {
    "type": "object",
    "required": ["code", "message", "field", "errors"],
    "properties": {
        "code": {"type": "string", "example": "validation_failed"},
        "message": {"type": "string"},
        "field": {"type": "string", "nullable": True, "description": "the field or parameter at fault"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["message"],
            "properties": {"field": {"type": "string", "nullable": True}, "message": {"type": "string"}}}},
    },
}

LINK = {
    "type": "object",
    "description": "an expanded link; id and name are null when the user may not read the linked record",
    "required": ["id", "name", "title"],
    "properties": {"id": {"type": "integer", "nullable": True}, "name": {"type": "string", "nullable": True},
                   "title": {"type": "string"}},
}


def schema_name(entity: str, suffix: str = "") -> str:
    return "".join(p.capitalize() for p in entity.split("_")) + suffix


def to_oas(schema: Any) -> Any:
    """A JSON Schema (2020-12, as :mod:`ordo.forms.schema` writes it) in the OpenAPI 3.0 dialect."""
    if isinstance(schema, list):
        return [to_oas(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("$schema", "$id"):
            continue
        if key == "properties":
            out[key] = {k: to_oas(v) for k, v in value.items()}
        elif key == "items":
            out[key] = to_oas(value)
        else:
            out[_RENAMED.get(key, key)] = value
    types = out.pop("type", None)
    if isinstance(types, list):
        kinds = [t for t in types if t != "null"]
        if len(kinds) < len(types):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        elif kinds:
            out["anyOf"] = [{"type": t} for t in kinds]
    elif types is not None:
        out["type"] = types
    if "enum" in out:
        out.setdefault("type", "string")
        if None in out["enum"]:
            out["nullable"] = True
    return out


def input_schema(tx: Transaction, ce: CompiledEntity, creating: bool) -> dict[str, Any]:
    """What a create (``creating``) or a change accepts: fields the user may set."""
    access = field_access(tx, ce.name)
    schema = to_oas(entity_json_schema(tx.app.definition, ce.name, user=tx.user, permissions=tx.app.permissions))
    _restrict(schema, access)
    for cf in ce.table_fields:
        rows = schema["properties"].get(cf.name, {}).get("items")
        if cf.child is not None and rows:
            _restrict(rows, field_access(tx, cf.child.name))
            rows["additionalProperties"] = True  # rows as returned (with idx) save back
    props = schema["properties"]
    if creating:
        props["name"] = {"type": "string", "minLength": 1, "maxLength": 140,
                         "description": "the record's name; given by the entity's naming pattern when left out"}
    else:
        schema.pop("required", None)
        props["version"] = {"type": "integer", "minimum": 1, "description": "the version last read: the change "
                            "is refused (409) if the record changed since (like If-Match)"}
    schema["additionalProperties"] = True  # system fields of a record as returned are ignored
    schema["title"] = schema_name(ce.name, "Create" if creating else "Change")
    return schema


def _restrict(schema: dict[str, Any], access: FieldAccess) -> None:
    props = schema.get("properties", {})
    for name in access.hidden:
        props.pop(name, None)
    for name in access.read_only:
        if name in props:
            props[name] = {**props[name], "readOnly": True}
    if "required" in schema:
        schema["required"] = [n for n in schema["required"] if n in props and not props[n].get("readOnly")]
        if not schema["required"]:
            schema.pop("required")


def value_schema(cf: CompiledField, lang: str) -> dict[str, Any]:
    """The JSON of one stored value of ``cf`` as the API returns it."""
    kind = cf.kind
    if cf.defn.type == "link" or kind == "link":
        out: dict[str, Any] = {"anyOf": [{"type": "string", "description": "the linked record's name"},
                                         {"$ref": "#/components/schemas/Link"}]}
    elif kind in ("decimal", "money"):
        out = dict(DECIMAL)
    elif kind == "integer":
        out = {"type": "integer"}
    elif kind == "boolean":
        out = {"type": "boolean"}
    elif kind == "date":
        out = {"type": "string", "format": "date"}
    elif kind == "datetime":
        out = dict(DATETIME)
    elif kind in ("string", "text"):
        out = {"type": "string"}
    elif kind == "enum":
        out = {"type": "string", "x-labels": {
            o if isinstance(o, str) else o.value: o if isinstance(o, str) else label_text(o.label, lang, o.value)
            for o in cf.defn.options or []}}
    else:  # json, or a computed value of no fixed type
        return {"description": label_text(cf.defn.label, lang, cf.label)}
    out["nullable"] = True
    out["description"] = label_text(cf.defn.label, lang, cf.label) + (
        f" ({out['description']})" if "description" in out else "")
    return out


def output_schema(tx: Transaction, ce: CompiledEntity, lang: str, child: bool = False) -> dict[str, Any]:
    """A record (or child row) as the API returns it."""
    access = field_access(tx, ce.name)
    if child:
        props: dict[str, Any] = {"id": {"type": "integer"}, "idx": {"type": "integer"}}
    else:
        props = {"id": {"type": "integer"}, "name": {"type": "string"},
                 "created_at": {**DATETIME, "nullable": True}, "created_by": {"type": "string", "nullable": True},
                 "updated_at": {**DATETIME, "nullable": True}, "updated_by": {"type": "string", "nullable": True},
                 "version": {"type": "integer"}}
    for name, cf in ce.fields.items():
        if name in access.hidden or cf.related_where is not None:
            continue
        if cf.child is not None:
            props[name] = {"type": "array", "description": "child rows (on a single record, or with children=true)",
                           "items": output_schema(tx, cf.child, lang, child=True)}
        else:
            props[name] = value_schema(cf, lang)
    return {"type": "object", "title": label_text(ce.defn.label, lang, humanize(ce.name)), "properties": props,
            "additionalProperties": True}


def page_schema(entity: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name(entity)}"}
    return {"type": "object", "required": ["items", "total", "limit", "offset", "next_cursor"], "properties": {
        "items": {"type": "array", "items": ref},
        "total": {"type": "integer", "nullable": True, "description": "every matching record (null with total=false)"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer", "nullable": True, "description": "null when paging by cursor"},
        "next_cursor": {"type": "string", "nullable": True, "description": "pass as cursor for the next page; "
                        "null on the last page"}}}


def entity_schemas(tx: Transaction, entity: str, lang: str) -> dict[str, Any]:
    """The components of one entity: the record, its page, its create and change bodies."""
    ce = tx.app.compiled.entity(entity)
    return {schema_name(entity): output_schema(tx, ce, lang),
            schema_name(entity, "Page"): page_schema(entity),
            schema_name(entity, "Create"): input_schema(tx, ce, True),
            schema_name(entity, "Change"): input_schema(tx, ce, False)}
