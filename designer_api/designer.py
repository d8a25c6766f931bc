"""``/api/v1/designer/*``: the app's definitions in its database: the draft, versions, publish, rollback.

Only users holding the ``designer`` privilege (a role with ``privileges: [designer]``; admins hold every
privilege) reach these routes; others get 403. The store is the database's (engine/definitions): every
failure leaves it as it was, and answers 4xx naming the file, line and column, or the parameter.

    GET    /api/v1/designer/files[?version=]          the files of the draft (or of a version)
    GET    /api/v1/designer/files/{path}[?version=]   one file's text
    PUT    /api/v1/designer/files/{path}              {"text": ...}: write one file of the draft
    DELETE /api/v1/designer/files/{path}              remove one file from the draft
    POST   /api/v1/designer/edit                      {"file", "edits": [...]}: structured edits (yaml, flow, form)
    POST   /api/v1/designer/validate                  {"files": {path: text|null}}: the draft (with those
                                                      unsaved changes) checked, and its schema changes
    GET    /api/v1/designer/diff?from=&to=            item by item (versions, "draft", "published")
    POST   /api/v1/designer/draft/discard             {"base"}: the draft back to the published version
    POST   /api/v1/designer/publish                   {"note"}: the draft as the next version
    POST   /api/v1/designer/rollback                  {"version", "note"}: an earlier version again
    GET    /api/v1/designer/versions                  the versions, newest first, and the draft
    GET    /api/v1/designer/export[?version=]         a ZIP of the files, as the app folder holds them
    POST   /api/v1/designer/import                    {"files", "publish", "note"} or a ZIP body
    POST   /api/v1/designer/simulate                  {"flow", "record" | "values", "decisions", "version"}
"""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ordo.dsl.errors import DefinitionError, DefinitionErrors, format_path
from ordo.dsl.files import MAX_FILE_BYTES, MAX_FILES
from ordo.dsl.yaml_edit import MAX_EDITS
from ordo.engine.definitions import DRAFT, DefinitionStore, FileRejected, NothingToDiscard, PublishRefused
from ordo.engine.definitions.export import zip_bytes
from ordo.engine.definitions.publish import publish as publish_files
from ordo.engine.definitions.publish import schema_changes
from ordo.engine.definitions.store import checked_files, text_sha
from ordo.engine.errors import Conflict, PermissionDenied

from .body import check_known, read_body, text_param
from .context import Ctx, RequestScope, json_response, route
from .designer_edit import apply, simulate
from .errors import ApiError, bad_request, payload

if TYPE_CHECKING:
    from ordo.engine.actor import User
    from ordo.engine.audit import AuditEntry

    from .live import Live

DESIGNER = "designer"
PREFIX = "/api/v1/designer"


def live(scope: RequestScope) -> Live:
    return scope.request.app.state.live


def require_designer(scope: RequestScope) -> tuple[User, DefinitionStore]:
    """The signed-in user and the store, if they hold the designer privilege (else PermissionDenied) and the
    app's definitions are stored (else Conflict). Pages call this too."""
    with scope.app.reader(scope.actor) as tx:
        user = tx.user
    if not scope.app.permissions.may(user, DESIGNER):
        raise PermissionDenied(f"{user.name} may not use the designer: it needs the designer privilege "
                               f"(a role with privileges: [designer])")
    store = live(scope).store
    if not store.stored():
        raise Conflict("the app's definitions are not stored in its database yet: serve it with `ordo serve` "
                       "(the first start stores them) or run `ordo import-app`")
    return user, store


def error_json(e: DefinitionError) -> dict[str, Any]:
    return {"file": e.file, "line": e.line, "column": e.column, "path": format_path(e.path) or None,
            "field": None, "message": e.message, "text": str(e)}


def invalid(errors: list[DefinitionError], what: str) -> Response:
    """422 listing every definition error (nothing was changed)."""
    return JSONResponse(payload("invalid_definition", f"{what}: {len(errors)} error(s) in the definitions; "
                                f"first: {errors[0]}", None, [error_json(e) for e in errors]), status_code=422)


def _ref(ctx: Ctx, name: str = "version", default: str = "draft") -> str:
    return text_param(ctx.request, name, 40) or default


def _text(body: dict[str, Any], key: str, limit: int = 2000) -> str:
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"'{key}' must be text", key)
    if len(value) > limit:
        raise bad_request(f"'{key}' may hold at most {limit} characters", key)
    return value


# -- files
def list_files(ctx: Ctx) -> dict[str, Any]:
    check_known(ctx.request, ["version"])
    _, store = require_designer(ctx)
    ref = _ref(ctx)
    files = store.files(ref)
    published = store.published()
    changed = store.changed_files("published", "draft") if store.number(ref) == DRAFT else {}
    return {"version": store.version(ref).as_dict(), "published": published,
            "files": [{"path": p, "size": len(t.encode("utf-8")), "sha": text_sha(t), "changed": changed.get(p)}
                      for p, t in sorted(files.items())],
            "removed": sorted(p for p, what in changed.items() if what == "removed")}


def get_file(ctx: Ctx) -> dict[str, Any]:
    check_known(ctx.request, ["version"])
    _, store = require_designer(ctx)
    path, ref = ctx.path["path"], _ref(ctx)
    files = store.files(ref)
    if path not in files:
        from ordo.engine.errors import NotFound

        raise NotFound(f"{store.version(ref).label} has no file {path!r}")
    return {"path": path, "version": store.version(ref).label, "text": files[path], "sha": text_sha(files[path])}


def put_file(ctx: Ctx) -> Any:
    check_known(ctx.request, [])
    user, store = require_designer(ctx)
    if set(ctx.body) - {"text", "base"} or "text" not in ctx.body:
        raise bad_request("send {\"text\": \"...the file's YAML...\", \"base\": \"the sha it was read with\"}",
                          "text")
    path = store.save_file(ctx.path["path"], ctx.body["text"], user, expected=_base(ctx.body))
    return {"path": path, "sha": text_sha(ctx.body["text"]), "errors": [error_json(e) for e in store.validate()]}


def _base(body: dict[str, Any]) -> str | None:
    """The ``base`` a client sends: the sha of the text its change was made to ("" for a new file)."""
    base = body.get("base")
    if base is not None and (not isinstance(base, str) or len(base) > 64):
        raise bad_request("'base' must be the sha the file was read with (\"\" for a new file)", "base")
    return base


def delete_file(ctx: Ctx) -> Any:
    check_known(ctx.request, [])
    user, store = require_designer(ctx)
    store.delete_file(ctx.path["path"], user)
    return {"deleted": ctx.path["path"], "errors": [error_json(e) for e in store.validate()]}


def edit(ctx: Ctx) -> Any:
    """Structured edits of one file of the draft; the new text and the draft's errors."""
    user, store = require_designer(ctx)
    path = ctx.body.get("file")
    edits = ctx.body.get("edits")
    if not isinstance(path, str) or not path:
        raise bad_request("'file' must name a file of the draft (e.g. flows/order_lifecycle.yaml)", "file")
    if not isinstance(edits, list) or not edits or len(edits) > MAX_EDITS:
        raise bad_request(f"'edits' must be a list of 1 to {MAX_EDITS} edits ({{\"op\": \"set\", \"path\": [...], "
                          f"...}})", "edits")
    if set(ctx.body) - {"file", "edits", "save", "base"}:
        raise bad_request(f"unknown key(s): {', '.join(sorted(set(ctx.body) - {'file', 'edits', 'save', 'base'}))}")
    files = store.draft()
    if path not in files:
        from ordo.engine.errors import NotFound

        raise NotFound(f"the draft has no file {path!r}")
    try:
        text = apply(files[path], edits, path)
    except DefinitionError as e:  # a bad edit or a batch beyond the limits: file:line and the edit, nothing saved
        return JSONResponse(payload("bad_request", str(e), "edits", [error_json(e)]), status_code=400)
    save = ctx.body.get("save", True)
    base = _base(ctx.body)
    if save is not False:
        store.save_file(path, text, user, expected=text_sha(files[path]) if base is None else base,
                        action="edit_file")
    errors = store.validate({**files, path: text})
    return {"path": path, "text": text, "sha": text_sha(text), "saved": save is not False,
            "errors": [error_json(e) for e in errors]}


def validate(ctx: Ctx) -> Any:
    """The draft checked as a whole, with unsaved changes ({"files": {path: text or null}}) laid over it."""
    check_known(ctx.request, [])
    _, store = require_designer(ctx)
    files = store.draft()
    changes = ctx.body.get("files", {})
    if set(ctx.body) - {"files"} or not isinstance(changes, dict) or len(changes) > MAX_FILES:
        raise bad_request("send {\"files\": {\"PATH\": \"TEXT\" or null}} (or nothing: the draft as saved)", "files")
    for path, text in changes.items():
        if text is None:
            files.pop(path, None)
        else:
            files[path] = text
    errors = store.validate(files)
    out: dict[str, Any] = {"valid": not errors, "errors": [error_json(e) for e in errors]}
    if not errors:
        planned, refused = schema_changes(store, files)
        out["schema"] = {"changes": planned, "refused": refused}
    return out


def diff(ctx: Ctx) -> Any:
    check_known(ctx.request, ["from", "to"])
    _, store = require_designer(ctx)
    a, b = _ref(ctx, "from", "published"), _ref(ctx, "to", "draft")
    files = store.changed_files(a, b)
    try:
        changes = store.diff(a, b)
    except DefinitionErrors as e:
        return invalid(e.errors, f"cannot compare {a} and {b}")
    return {"from": store.version(a).label, "to": store.version(b).label, "files": files,
            "changes": [{"kind": c.kind, "name": c.name, "action": c.action, "path": list(c.path), "old": c.old,
                         "new": c.new, "text": c.describe(ctx.lang)} for c in changes]}


def discard(ctx: Ctx) -> Any:
    """The draft back to the published version. ``base``: the draft's digest the client decided on (409
    when the draft changed since); 409 ``nothing_to_discard`` when the draft is the published version."""
    check_known(ctx.request, [])
    user, store = require_designer(ctx)
    if set(ctx.body) - {"base"}:
        raise bad_request("send {\"base\": \"the draft's digest you read\"} (or nothing)", "base")
    base = ctx.body.get("base")
    if base is not None and (not isinstance(base, str) or len(base) > 64):
        raise bad_request("'base' must be the draft's digest you read (its 'digest' in /versions)", "base")
    try:
        discarded = store.discard_draft(user, expected=base)
    except NothingToDiscard as e:
        raise ApiError(409, "nothing_to_discard", e.message) from None
    return {"discarded": discarded, "version": store.version("draft").as_dict()}


# -- versions
def publish(ctx: Ctx) -> Any:
    check_known(ctx.request, [])
    user, store = require_designer(ctx)
    if set(ctx.body) - {"note"}:
        raise bad_request("send {\"note\": \"what changed\"}", "note")
    try:
        version = store.publish(user, _text(ctx.body, "note"))
    except PublishRefused as e:
        return invalid(e.errors, "nothing was published")
    live(ctx).refresh(force=True)
    return json_response({"version": version.as_dict()}, 201)


def rollback(ctx: Ctx) -> Any:
    check_known(ctx.request, [])
    user, store = require_designer(ctx)
    if set(ctx.body) - {"note", "version"} or "version" not in ctx.body:
        raise bad_request("send {\"version\": N, \"note\": \"why\"}", "version")
    number = ctx.body["version"]
    if isinstance(number, bool) or not isinstance(number, (int, str)):
        raise bad_request("'version' must be a version number", "version")
    try:
        version = store.rollback(number, user, _text(ctx.body, "note"))
    except PublishRefused as e:
        return invalid(e.errors, "nothing was rolled back")
    live(ctx).refresh(force=True)
    return json_response({"version": version.as_dict()}, 201)


def versions(ctx: Ctx) -> Any:
    check_known(ctx.request, [])
    _, store = require_designer(ctx)
    draft = store.version("draft")
    return {"published": store.published(), "served": live(ctx).version,
            "versions": [v.as_dict() for v in store.versions()],
            "draft": {**draft.as_dict(), "changed": store.changed_files("published", "draft"),
                      "edits": [edit_json(e) for e in store.draft_edits()]}}


def edit_json(e: AuditEntry) -> dict[str, Any]:
    """An audit entry of a draft change: who, when, what (save_file, edit_file, ...), the file(s), the shas."""
    return {"at": e.at, "user": e.user, "action": e.action, "changes": e.changes}


def export(ctx: Ctx) -> Response:
    check_known(ctx.request, ["version"])
    _, store = require_designer(ctx)
    ref = _ref(ctx, default="published")
    label = store.version(ref).label
    data = zip_bytes(store.files(ref))
    name = f"{ctx.app.name}-{label}.zip"
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def _import_body(ctx: Ctx) -> dict[str, Any]:
    """A ZIP body (application/zip: its files) or a JSON object."""
    from .body import parse_json

    limit = max(ctx.settings.max_body, MAX_FILE_BYTES * 8)
    raw = await read_body(ctx.request, limit)
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip()
    if ctype in ("application/zip", "application/x-zip-compressed"):
        return {"files": _unzip(raw, limit), "publish": ctx.request.query_params.get("publish") in ("1", "true"),
                "note": ctx.request.query_params.get("note", "")}
    if ctype and "json" not in ctype:
        raise bad_request(f"send application/json or application/zip, not {ctype}")
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise bad_request("request body must be a JSON object")
    return value


def _unzip(raw: bytes, limit: int) -> dict[str, str]:
    try:
        z = zipfile.ZipFile(io.BytesIO(raw))
        infos = [i for i in z.infolist() if not i.is_dir()]
        if len(infos) > MAX_FILES or sum(i.file_size for i in infos) > limit * 4:
            raise bad_request(f"the ZIP holds too much: at most {MAX_FILES} files")
        out: dict[str, str] = {}
        for info in infos:
            if info.file_size > MAX_FILE_BYTES:
                raise bad_request(f"{info.filename} is larger than {MAX_FILE_BYTES} bytes")
            try:
                out[info.filename] = z.read(info).decode("utf-8")
            except UnicodeDecodeError:
                raise bad_request(f"{info.filename} is not UTF-8 text") from None
        return out
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError):
        raise bad_request("the body is not a readable ZIP file") from None


def import_files(ctx: Ctx) -> Any:
    """Replace the draft with the files sent (and publish them with "publish": true)."""
    user, store = require_designer(ctx)
    body = ctx.raw
    files, do_publish = body.get("files"), body.get("publish", False)
    if set(body) - {"files", "publish", "note"} or not isinstance(files, dict) or not files \
            or not all(isinstance(t, str) for t in files.values()) or not isinstance(do_publish, bool):
        raise bad_request("send {\"files\": {\"PATH\": \"TEXT\", ...}, \"publish\": false, \"note\": \"...\"}",
                          "files")
    note = _text(body, "note")
    try:
        checked = checked_files(files)
    except FileRejected as e:  # every file refused, each with its path
        return JSONResponse(payload("bad_request", e.message, "files", [error_json(x) for x in e.errors]),
                            status_code=400)
    errors = store.validate(checked)
    if do_publish:
        if errors:
            return invalid(errors, "nothing was imported")
        version = publish_files(store, user, note or "imported", files=checked, action="import", replace_draft=True)
        live(ctx).refresh(force=True)
        return json_response({"version": version.as_dict(), "errors": []}, 201)
    store.replace_draft(checked, user)
    return {"version": store.version("draft").as_dict(), "errors": [error_json(e) for e in errors]}


def simulate_route(ctx: Ctx) -> Any:
    check_known(ctx.request, [])
    user, store = require_designer(ctx)
    try:
        return simulate(ctx, user, store, live(ctx))
    except DefinitionErrors as e:
        return invalid(e.errors, "the flow cannot be simulated")


def routes() -> list[Any]:
    return [
        route(f"{PREFIX}/files", list_files),
        route(f"{PREFIX}/files/{{path:path}}", get_file),
        route(f"{PREFIX}/files/{{path:path}}", put_file, ["PUT"], body=True, optional_body=True, name="put_file"),
        route(f"{PREFIX}/files/{{path:path}}", delete_file, ["DELETE"], name="delete_file"),
        route(f"{PREFIX}/edit", edit, ["POST"], body=True, optional_body=True),
        route(f"{PREFIX}/validate", validate, ["POST"], body=True, optional_body=True),
        route(f"{PREFIX}/diff", diff),
        route(f"{PREFIX}/draft/discard", discard, ["POST"], body=True, optional_body=True),
        route(f"{PREFIX}/publish", publish, ["POST"], body=True, optional_body=True),
        route(f"{PREFIX}/rollback", rollback, ["POST"], body=True, optional_body=True),
        route(f"{PREFIX}/versions", versions),
        route(f"{PREFIX}/export", export),
        route(f"{PREFIX}/import", import_files, ["POST"], raw=_import_body),
        route(f"{PREFIX}/simulate", simulate_route, ["POST"], body=True, optional_body=True),
    ]
