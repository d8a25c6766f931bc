"""The operations of the OpenAPI description: the routes every app has, and those of its entities,
reports and intakes (see :mod:`openapi`)."""

from __future__ import annotations

from typing import Any

from ordo.dsl.base import label_text

from .intake import MEDIA
from .listing import MAX_LIMIT
from .openapi_schemas import schema_name
from .reports import FORMATS
from .tasks import INSTANCE_ACTIONS, MAX_OFFSET, TASK_ACTIONS

INTRO = """

Every call acts as the signed-in user. Errors have one shape (`Error`). Record lists filter with `where`
(the expression language); its parameters are query parameters `p.NAME=value` (JSON when the value parses
as JSON, else text), e.g. `?where=total > :min&p.min=100`. See docs/api.md."""


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("schemas", "Error")}}}


RESPONSES = {
    "BadRequest": _error("a bad parameter or body (named in `field`)"),
    "Unauthenticated": _error("no or bad token / session"),
    "Forbidden": _error("the user may not do this (or a session write without its CSRF token)"),
    "NotFound": _error("no such record (or one the user may not read), entity or route"),
    "Conflict": _error("the record changed since it was read (its current version is in ETag), or is in use"),
    "TooLarge": _error("the body is larger than the server accepts"),
    "UnsupportedMedia": _error("a body of a type this route does not take"),
    "Refused": _error("the record was refused; `errors` lists every field"),
    "Throttled": _error("too many failed sign-ins; retry after Retry-After seconds"),
    "Unavailable": _error("the database is busy or unavailable; retry"),
}
_STATUS = {"400": "BadRequest", "401": "Unauthenticated", "403": "Forbidden", "404": "NotFound", "409": "Conflict",
           "413": "TooLarge", "415": "UnsupportedMedia", "422": "Refused", "429": "Throttled",
           "503": "Unavailable"}


def _q(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


PARAMETERS = {
    "lang": _q("lang", {"type": "string", "enum": ["en", "zh"]}, "language of labels (default: Accept-Language)"),
    "limit": _q("limit", {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": 50}, "page size"),
    "offset": _q("offset", {"type": "integer", "minimum": 0}, "records to skip (not with cursor)"),
    "cursor": _q("cursor", {"type": "string"}, "next_cursor of the previous page (keyset paging)"),
    "where": _q("where", {"type": "string"}, "filter in the expression language, e.g. total > :min; "
                "its parameters as p.NAME=value"),
    "order_by": _q("order_by", {"type": "string"}, "stored fields, '-' for descending: -total,name; nulls sort "
                   "last ascending and first descending"),
    "total": _q("total", {"type": "boolean", "default": True}, "count every matching record (false: skip)"),
    "fields": _q("fields", {"type": "string"}, "comma-separated fields to return (dotted paths follow links)"),
    "expand": _q("expand", {"type": "string"}, "comma-separated link fields to return as {id, name, title}"),
    "children": _q("children", {"type": "boolean", "default": False}, "include child rows in lists"),
    "ifMatch": {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                "description": "the version last read, as its ETag (\"3\"): refused with 409 if it changed"},
}

_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
SCHEMAS: dict[str, Any] = {
    "Me": {"type": "object", "properties": {
        "user": {"type": "string"}, "display_name": {"type": "string", "nullable": True},
        "email": {"type": "string", "nullable": True}, "roles": {"type": "array", "items": {"type": "string"}},
        "groups": {"type": "array", "items": {"type": "string"}},
        "csrf_token": {"type": "string", "nullable": True}}},
    "Token": {"type": "object", "properties": {
        "id": {"type": "integer"}, "label": {"type": "string", "nullable": True},
        "created_at": {"type": "string"}, "last_used_at": {"type": "string", "nullable": True},
        "revoked": {"type": "boolean"}}},
    "FlowStatus": {"type": "object", "nullable": True, "additionalProperties": True, "properties": {
        "instance": {"type": "integer"}, "flow": {"type": "string"}, "status": {"type": "string"},
        "outcome": {"type": "string", "nullable": True}, "current": {"type": "array", "items": {"type": "string"}},
        "tasks": {"type": "array", "items": _OBJ}}},
    "Task": {"type": "object", "additionalProperties": True, "properties": {
        "id": {"type": "integer"}, "instance": {"type": "integer"}, "flow": _OBJ, "step": _OBJ,
        "record": {"type": "object", "description": "entity, name, title and key facts (name and title are "
                   "null when the user may not read the record)", "additionalProperties": True},
        "why": {"type": "object", "properties": {"code": {"type": "string",
                                                          "enum": ["assigned", "added_approver", "role"]},
                                                 "role": {"type": "string", "nullable": True},
                                                 "text": {"type": "string"}}},
        "created_at": {"type": "string"}, "due_at": {"type": "string", "nullable": True},
        "overdue": {"type": "boolean"}}},
    "TaskAction": {"type": "object", "properties": {
        "comment": {"type": "string", "maxLength": 10000, "nullable": True},
        "to": {"type": "string", "nullable": True, "description": "transfer/add_approver: a user; send_back: an "
               "earlier step"},
        "position": {"type": "string", "enum": ["before", "after"], "nullable": True}}},
    "Report": {"type": "object", "additionalProperties": True, "properties": {
        "name": {"type": "string"}, "label": {"type": "string"}, "params": _OBJ,
        "formats": {"type": "array", "items": {"type": "string"}}}},
    "ReportResult": {"type": "object", "required": ["report", "columns", "rows"], "properties": {
        "report": {"type": "string"}, "label": {"type": "string"}, "lang": {"type": "string"},
        "params": _OBJ, "pivot": {"type": "string", "nullable": True},
        "columns": {"type": "array", "items": _OBJ}, "rows": {"type": "array", "items": _OBJ},
        "totals": {**_OBJ, "nullable": True}}},
    "IntakeResult": {"type": "object", "required": ["created", "duplicates", "refused"], "properties": {
        "intake": {"type": "string"}, "shape": {"type": "string"}, "channel": {"type": "string", "nullable": True},
        "dry_run": {"type": "boolean"}, "documents": {"type": "integer"},
        "created": {"type": "array", "items": {"type": "string"}},
        "duplicates": {"type": "array", "items": _OBJ},
        "refused": {"type": "array", "items": {"type": "object", "properties": {
            "line": {"type": "integer", "nullable": True}, "document": {"type": "integer"},
            "key": {"type": "string", "nullable": True}, "field": {"type": "string", "nullable": True},
            "reason": {"type": "string"}}}},
        "failed": {"type": "integer"}, "ok": {"type": "boolean"}}},
}


def _json(schema: dict[str, Any], description: str = "OK", headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _op(spec: dict[str, Any], path: str, method: str, op_id: str, summary: str, tag: str, ok: dict[str, Any],
        errors: str = "400 401 403 503", *, params: list[Any] | None = None, body: dict[str, Any] | None = None,
        public: bool = False) -> None:
    responses = dict(ok)
    for status in errors.split():
        responses[status] = _ref("responses", _STATUS[status])
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag],
                          "parameters": [*(params or []), _ref("parameters", "lang")], "responses": responses}
    if body is not None:
        op["requestBody"] = body
    if public:
        op["security"] = []
    spec["paths"].setdefault(path, {})[method] = op
    if tag not in {t["name"] for t in spec["tags"]}:
        spec["tags"].append({"name": tag})


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


_ETAG = {"ETag": {"description": "the record's version", "schema": {"type": "string"}}}
_WRITE = "400 401 403 404 409 413 415 422 503"


def common(spec: dict[str, Any]) -> None:
    """The routes every app has."""
    _op(spec, "/api/v1/health", "get", "health", "Is the server up", "session",
        {"200": _json({"type": "object", "properties": {"status": {"type": "string"}, "app": {"type": "string"}}})},
        "503", public=True)
    creds = {"type": "object", "required": ["user", "password"],
             "properties": {"user": {"type": "string"}, "password": {"type": "string", "format": "password"}}}
    _op(spec, "/api/v1/auth/signin", "post", "signIn", "Sign in (sets the session cookie)", "session",
        {"200": _json({"type": "object", "properties": {"user": {"type": "string"},
                                                        "csrf_token": {"type": "string"}}})},
        "400 401 413 415 429 503", body=_body(creds), public=True)
    _op(spec, "/api/v1/auth/signout", "post", "signOut", "End the session", "session",
        {"200": _json({"type": "object", "properties": {"signed_out": {"type": "boolean"}}})}, "401 403 503")
    _op(spec, "/api/v1/me", "get", "me", "The signed-in user", "session", {"200": _json(_ref("schemas", "Me"))},
        "401 503")
    _op(spec, "/api/v1/auth/tokens", "get", "listTokens", "The user's API tokens", "session",
        {"200": _json({"type": "array", "items": _ref("schemas", "Token")})}, "401 503")
    _op(spec, "/api/v1/auth/tokens", "post", "createToken", "Create an API token (shown once)", "session",
        {"201": _json({"type": "object", "properties": {"id": {"type": "integer"}, "token": {"type": "string"},
                                                        "label": {"type": "string", "nullable": True}}})},
        "400 401 403 413 415 503",
        body=_body({"type": "object", "properties": {"label": {"type": "string", "maxLength": 200}}}, False))
    _op(spec, "/api/v1/auth/tokens/{id}", "delete", "revokeToken", "Revoke one of the user's tokens", "session",
        {"204": {"description": "revoked"}}, "400 401 403 404 503",
        params=[_path("id", {"type": "integer", "minimum": 0}, "token id")])
    _op(spec, "/api/v1/meta", "get", "meta", "Entities, fields, forms, flows and reports the user may use",
        "meta", {"200": _json({"type": "object", "additionalProperties": True})}, "400 401 503")
    _op(spec, "/api/v1/tasks", "get", "inbox", "The user's pending tasks", "tasks",
        {"200": _json({"type": "object", "properties": {
            "items": {"type": "array", "items": _ref("schemas", "Task")}, "limit": {"type": "integer"},
            "offset": {"type": "integer"}, "more": {"type": "boolean"}}})}, "400 401 503",
        params=[_ref("parameters", "limit"),
                _q("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, "tasks to skip")])
    result = {"type": "object", "additionalProperties": True, "properties": {"flow": _ref("schemas", "FlowStatus")}}
    _op(spec, "/api/v1/tasks/{id}/{action}", "post", "actOnTask", "Act on a task", "tasks",
        {"200": _json(result)}, "400 401 403 404 409 413 415 503",
        params=[_path("id", {"type": "integer", "minimum": 0}, "task id"),
                _path("action", {"type": "string", "enum": list(TASK_ACTIONS)}, "what to do")],
        body=_body(_ref("schemas", "TaskAction"), False))
    _op(spec, "/api/v1/flows/instances/{id}/{action}", "post", "actOnInstance", "Act on a flow instance", "tasks",
        {"200": _json(result)}, "400 401 403 404 409 413 415 503",
        params=[_path("id", {"type": "integer", "minimum": 0}, "flow instance id"),
                _path("action", {"type": "string", "enum": list(INSTANCE_ACTIONS)}, "what to do")],
        body=_body({"type": "object", "properties": {"comment": {"type": "string", "nullable": True}}}, False))
    _op(spec, "/api/v1/reports", "get", "listReports", "The reports the user may run", "reports",
        {"200": _json({"type": "array", "items": _ref("schemas", "Report")})}, "400 401 503")


def records(spec: dict[str, Any], entity: str, actions: list[str], ce: Any, lang: str, flows: bool) -> None:
    """The record operations of ``entity`` the user may attempt."""
    label = label_text(ce.defn.label, lang, ce.label)
    base, one = f"/api/v1/records/{entity}", f"/api/v1/records/{entity}/{{key}}"
    record = _ref("schemas", schema_name(entity))
    key = _path("key", {"type": "string"}, "record id (a whole number) or name")
    tag, suffix = entity, schema_name(entity)
    if "read" in actions:
        _op(spec, base, "get", f"list{suffix}", f"List {label} records", tag,
            {"200": _json(_ref("schemas", schema_name(entity, "Page")))}, "400 401 403 404 503",
            params=[_ref("parameters", p) for p in ("where", "order_by", "limit", "offset", "cursor", "total",
                                                     "fields", "expand", "children")])
        _op(spec, one, "get", f"get{suffix}", f"One {label} record with its child rows", tag,
            {"200": _json(record, headers=_ETAG)}, "400 401 403 404 503",
            params=[key, _ref("parameters", "fields"), _ref("parameters", "expand")])
        if flows:
            _op(spec, f"{one}/timeline", "get", f"timeline{suffix}", f"Flow status and history of a {label}", tag,
                {"200": _json({"type": "object", "properties": {
                    "record": {"type": "object", "additionalProperties": True},
                    "flow": _ref("schemas", "FlowStatus"),
                    "events": {"type": "array", "items": _OBJ}}})}, "400 401 403 404 503", params=[key])
    if "create" in actions:
        created = _json(record, "created", {**_ETAG, "Location": {"description": "the record's URL",
                                                                   "schema": {"type": "string"}}})
        _op(spec, base, "post", f"create{suffix}", f"Create a {label}", tag, {"201": created}, _WRITE,
            body=_body(_ref("schemas", schema_name(entity, "Create"))))
    if "update" in actions:
        _op(spec, one, "patch", f"change{suffix}", f"Change a {label} (child rows by id)", tag,
            {"200": _json(record, headers=_ETAG)}, _WRITE, params=[key, _ref("parameters", "ifMatch")],
            body=_body(_ref("schemas", schema_name(entity, "Change"))))
    if "delete" in actions:
        _op(spec, one, "delete", f"delete{suffix}", f"Delete a {label}", tag, {"204": {"description": "deleted"}},
            "400 401 403 404 409 503", params=[key, _ref("parameters", "ifMatch")])


_PARAM_TYPES = {"integer": {"type": "integer"}, "decimal": {"type": "number"}, "boolean": {"type": "boolean"}}


def report(spec: dict[str, Any], r: Any, lang: str) -> None:
    params = []
    for name, p in r.defn.params.items():
        schema = dict(_PARAM_TYPES.get(p.type, {"type": "string"}))
        if p.options:
            schema["enum"] = list(p.options)
        params.append(_q(f"p.{name}", schema, f"{label_text(p.label, lang, name)} ({p.type})", p.required))
    params.append(_q("format", {"type": "string", "enum": list(FORMATS), "default": "json"}, "output format"))
    ok = {"description": "the report", "content": {
        "application/json": {"schema": _ref("schemas", "ReportResult")},
        "text/csv": {"schema": {"type": "string"}},
        FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}}}}
    _op(spec, f"/api/v1/reports/{r.name}", "get", f"report_{r.name}", r.title(lang), "reports", {"200": ok},
        "400 401 403 404 503", params=params)


def intake(spec: dict[str, Any], ci: Any, lang: str) -> None:
    params = [_q("shape", {"type": "string", "enum": list(ci.shapes)}, "payload shape (default: the channel's, "
                 "or the only one of the payload's format)"),
              _q("dry_run", {"type": "boolean", "default": False}, "check every document, store nothing")]
    if ci.defn.channel is not None:
        params.insert(0, _q("channel", {"type": "string"}, f"the {ci.defn.channel.entity} the payload comes from",
                            True))
    content = {media: {"schema": {} if media == "application/json" else {"type": "string"}} for media in MEDIA}
    _op(spec, f"/api/v1/intake/{ci.name}", "post", f"intake_{ci.name}",
        label_text(ci.defn.label, lang, f"Push {ci.name}"), "intake",
        {"200": _json(_ref("schemas", "IntakeResult"), "what was created, duplicated and refused")},
        "400 401 403 404 413 415 503", params=params, body={"required": True, "content": content})
