"""The designer's routes in ``/openapi.json``: shown only to users holding the ``designer`` privilege."""

from __future__ import annotations

from typing import Any

from ordo.dsl.yaml_edit import MAX_EDITS

from .openapi_paths import _body, _json, _op, _path, _q, _ref

_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
_VERSION = {"type": "string", "maxLength": 40, "description": "a version number, draft or published"}
_ERRORS = {"type": "array", "items": {"type": "object", "properties": {
    "file": {"type": "string", "nullable": True}, "line": {"type": "integer", "nullable": True},
    "column": {"type": "integer", "nullable": True}, "path": {"type": "string", "nullable": True},
    "message": {"type": "string"}, "text": {"type": "string"}}}}
_FILE_PATH = _path("path", {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_./-]*\.ya?ml$"},
                   "a file relative to the app folder, e.g. flows/order_lifecycle.yaml")
_FILES = {"type": "object", "additionalProperties": {"type": "string"}, "description": "path -> YAML text"}
_W = "400 401 403 404 409 413 415 503"
TAG = "designer"
P = "/api/v1/designer"


def designer(spec: dict[str, Any]) -> None:
    """Add the designer's routes to ``spec``."""
    v = [_q("version", _VERSION, "a version number, draft (default) or published")]
    _op(spec, f"{P}/files", "get", "designerFiles", "The files of the draft or of a version", TAG,
        {"200": _json(_OBJ)}, "400 401 403 404 409 503", params=v)
    _op(spec, f"{P}/files/{{path}}", "get", "designerFile", "One file's text", TAG, {"200": _json(_OBJ)},
        "400 401 403 404 409 503", params=[_FILE_PATH, *v])
    _op(spec, f"{P}/files/{{path}}", "put", "designerSaveFile", "Write one file of the draft", TAG,
        {"200": _json({"type": "object", "properties": {"path": {"type": "string"}, "errors": _ERRORS}})}, _W,
        params=[_FILE_PATH], body=_body({"type": "object", "required": ["text"], "additionalProperties": False,
                                         "properties": {"text": {"type": "string"},
                                                        "base": {"type": "string", "maxLength": 64}}}))
    _op(spec, f"{P}/files/{{path}}", "delete", "designerDeleteFile", "Remove one file from the draft", TAG,
        {"200": _json(_OBJ)}, _W, params=[_FILE_PATH])
    _op(spec, f"{P}/edit", "post", "designerEdit", "Structured edits of one file of the draft", TAG,
        {"200": _json(_OBJ)}, _W, body=_body({"type": "object", "required": ["file", "edits"], "properties": {
            "file": {"type": "string"}, "save": {"type": "boolean"}, "base": {"type": "string", "maxLength": 64},
            "edits": {"type": "array", "minItems": 1, "maxItems": MAX_EDITS, "items": _OBJ}}}))
    _op(spec, f"{P}/validate", "post", "designerValidate", "Check the draft (with unsaved changes)", TAG,
        {"200": _json({"type": "object", "properties": {"valid": {"type": "boolean"}, "errors": _ERRORS,
                                                        "schema": _OBJ}})}, _W,
        body=_body({"type": "object", "properties": {"files": {
            "type": "object", "additionalProperties": {"type": "string", "nullable": True}}}}, False))
    _op(spec, f"{P}/diff", "get", "designerDiff", "What changed between two versions, item by item", TAG,
        {"200": _json(_OBJ), "422": _ref("responses", "Refused")}, "400 401 403 404 409 503",
        params=[_q("from", _VERSION, "default: published"), _q("to", _VERSION, "default: draft")])
    _op(spec, f"{P}/draft/discard", "post", "designerDiscardDraft",
        "Discard the draft's changes: the draft is the published version again", TAG,
        {"200": _json({"type": "object", "properties": {
            "discarded": {"type": "object", "additionalProperties": {"type": "string",
                                                                     "enum": ["added", "removed", "changed"]}},
            "version": _OBJ}})}, _W,
        body=_body({"type": "object", "additionalProperties": False, "properties": {"base": {
            "type": "string", "maxLength": 64,
            "description": "the draft's digest you read (GET versions: draft.digest); 409 when it changed"}}},
            False))
    note = {"type": "string", "maxLength": 2000}
    _op(spec, f"{P}/publish", "post", "designerPublish", "Publish the draft as the next version", TAG,
        {"201": _json(_OBJ), "422": _ref("responses", "Refused")}, _W,
        body=_body({"type": "object", "properties": {"note": note}}, False))
    _op(spec, f"{P}/rollback", "post", "designerRollback", "Publish an earlier version again", TAG,
        {"201": _json(_OBJ), "422": _ref("responses", "Refused")}, _W,
        body=_body({"type": "object", "required": ["version"], "properties": {
            "version": {"type": "integer", "minimum": 1}, "note": note}}))
    _op(spec, f"{P}/versions", "get", "designerVersions", "The published versions and the draft", TAG,
        {"200": _json(_OBJ)}, "401 403 409 503")
    _op(spec, f"{P}/export", "get", "designerExport", "The files of a version as a ZIP", TAG,
        {"200": {"description": "a ZIP file", "content": {"application/zip": {"schema": {
            "type": "string", "format": "binary"}}}}}, "400 401 403 404 409 503",
        params=[_q("version", _VERSION, "default: published")])
    _op(spec, f"{P}/import", "post", "designerImport", "Replace the draft with files (and publish them)", TAG,
        {"200": _json(_OBJ), "201": _json(_OBJ), "422": _ref("responses", "Refused")}, _W,
        body=_body({"type": "object", "required": ["files"], "properties": {
            "files": _FILES, "publish": {"type": "boolean"}, "note": note}}))
    _op(spec, f"{P}/simulate", "post", "designerSimulate", "The path a record would take through a draft flow",
        TAG, {"200": _json(_OBJ)}, _W, body=_body({"type": "object", "required": ["flow"], "properties": {
            "flow": {"type": "string"}, "record": {"description": "an id or name"}, "values": _OBJ,
            "decisions": {"type": "object", "additionalProperties": {"type": "string", "enum": ["approve", "reject"]}},
            "version": {"type": "string"}}}))
