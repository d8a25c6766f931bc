"""JSON Schema (draft 2020-12) of the data a record of an entity accepts.

Used to validate input at the API edge and by editors and front ends to build
forms. Links accept an id or a record name; computed and system fields are
read-only; child tables are arrays of row objects. Given the reader and the app's permissions,
fields hidden from the reader are left out and those they may not change are read-only, so that
documents built from it (the OpenAPI document) show only what the reader may use.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Protocol

from ordo.dsl.app import AppDefinition
from ordo.dsl.base import humanize, label_text
from ordo.dsl.entity import EntityDef
from ordo.dsl.field import FieldDef


class FieldPermissions(Protocol):
    """What :class:`ordo.engine.permissions.Permissions` offers: (hidden, read-only) fields per user."""

    def fields(self, user: Any, entity: str) -> tuple[frozenset[str], frozenset[str]]: ...


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def field_schema(app: AppDefinition, f: FieldDef, name: str, lang: str = "en") -> dict[str, Any]:
    s: dict[str, Any] = {"title": label_text(f.label, lang, humanize(name))}
    if f.help:
        s["description"] = label_text(f.help, lang)
    t = f.type
    if t in ("string", "text"):
        s["type"] = "string"
        if f.max_length:
            s["maxLength"] = f.max_length
        if f.min_length:
            s["minLength"] = f.min_length
        if f.pattern:
            s["pattern"] = f"^(?:{f.pattern})$"
    elif t == "integer":
        s["type"] = "integer"
    elif t in ("decimal", "money"):
        s["type"] = ["number", "string"]  # exact amounts may be sent as strings
        s["x-scale"] = f.decimal_shape()[1]
    elif t == "boolean":
        s["type"] = "boolean"
    elif t == "date":
        s["type"], s["format"] = "string", "date"
    elif t == "datetime":
        s["type"], s["format"] = "string", "date-time"
    elif t == "enum":
        s["enum"] = list(f.option_values)
        s["x-labels"] = {o if isinstance(o, str) else o.value: label_text(None if isinstance(o, str) else o.label,
                                                                             lang, o if isinstance(o, str) else o.value)
                         for o in f.options or []}
    elif t == "link":
        s["type"] = ["integer", "string"]
        s["x-link"] = f.entity
    elif t == "table":
        child = app.get("entity", f.entity or "")
        s["type"] = "array"
        s["items"] = entity_json_schema(app, child, lang, child_row=True) if child else {}
    elif t == "computed":
        s["readOnly"] = True
    if f.min is not None:
        s["minimum" if t not in ("date", "datetime") else "formatMinimum"] = _jsonable(f.min)
    if f.max is not None:
        s["maximum" if t not in ("date", "datetime") else "formatMaximum"] = _jsonable(f.max)
    if f.default is not None and not f.default_is_expr:
        s["default"] = _jsonable(f.default)
    if f.read_only:
        s["readOnly"] = True
    if not f.required and t not in ("table", "computed"):
        if "type" in s:
            s["type"] = [*(s["type"] if isinstance(s["type"], list) else [s["type"]]), "null"]
        elif "enum" in s:
            s["enum"] = [*s["enum"], None]
    return s


def entity_json_schema(app: AppDefinition, entity: EntityDef | str, lang: str = "en",
                       child_row: bool = False, *, user: Any = None,
                       permissions: FieldPermissions | None = None) -> dict[str, Any]:
    """The JSON Schema of input data for records of ``entity``; with ``user`` and ``permissions``, as
    that user may see and write them (hidden fields left out, read-only ones marked ``readOnly``)."""
    e = app.get("entity", entity) if isinstance(entity, str) else entity
    if e is None:
        raise KeyError(f"unknown entity {entity!r}")
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    if user is not None and permissions is not None:
        hidden, read_only = permissions.fields(user, e.name)
    props = {name: field_schema(app, f, name, lang) for name, f in e.fields.items()
             if f.type != "related" and name not in hidden}
    for name in read_only:
        if name in props:
            props[name]["readOnly"] = True
    props["id" if child_row else "name"] = {"type": ["integer"] if child_row else ["string"], "readOnly": not child_row}
    schema: dict[str, Any] = {
        "type": "object",
        "title": label_text(e.label, lang, humanize(e.name)),
        "properties": props,
        "required": [n for n, f in e.fields.items()
                     if f.required and f.default is None and f.type != "table" and n not in hidden | read_only],
        "additionalProperties": False,
    }
    if not child_row:
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"ordo:{app.name}/{e.name}"
        for system in ("id", "created_at", "created_by", "updated_at", "updated_by", "version"):
            props[system] = {"readOnly": True}
    return schema
