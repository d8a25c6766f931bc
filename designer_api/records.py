"""``/api/v1/records/{entity}``: list, create, read, change and delete records.

Every call acts as the signed-in user through the engine (row rules, validations, flows, audit): a
record the user may not read is 404 like a missing one. A record's ``version`` is its ETag; a change or
delete sent with ``If-Match: "<version>"`` (or ``"version"`` in the body) is refused with 409 when the
record changed meanwhile, naming its current version (also in the 409's ``ETag`` header).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ordo.dsl.expr.limits import text_problem
from ordo.engine.errors import Conflict, FieldError, NotFound, ValidationFailed

from .access import field_access, require_action
from .body import check_known, list_param
from .context import Ctx, json_response, route
from .errors import ApiError, bad_request
from .listing import ListQuery
from .views import RecordView

BASE = "/api/v1/records"


def entity_of(ctx: Ctx) -> str:
    """The entity named in the path; an unknown (or child) entity is 404."""
    name = str(ctx.path.get("entity", ""))
    ce = ctx.app.compiled.entities.get(name)
    if ce is None or ce.defn.child:
        raise NotFound(f"no entity '{name[:60]}'")
    return name


MAX_KEY = 500  # longer than any record name


def key_of(ctx: Ctx) -> int | str:
    """The record key in the path: a whole number is an id, anything else a name."""
    raw = str(ctx.path.get("key", ""))
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    problem = text_problem(raw)
    if problem is not None:
        raise bad_request(f"record key: {problem}", "key")
    if len(raw) > MAX_KEY:
        raise NotFound(f"no {ctx.path.get('entity')} named {raw[:40]!r}... ({len(raw)} characters)")
    return raw


def etag(rec: dict[str, Any]) -> str:
    return f'"{rec["version"]}"'


def location(entity: str, rec: dict[str, Any]) -> str:
    return f"{BASE}/{entity}/{rec['id']}"


def list_records(ctx: Ctx) -> dict[str, Any]:
    entity = entity_of(ctx)
    with ctx.reader() as tx:
        query = ListQuery.parse(ctx, ctx.app.compiled.entity(entity), tx.app.permissions.hidden(tx.user, entity))
        require_action(tx, entity, "read")
        return query.run(tx, entity, ctx.lang)


def get_record(ctx: Ctx) -> Response:
    entity, key = entity_of(ctx), key_of(ctx)
    check_known(ctx.request, ("fields", "expand"))
    with ctx.reader() as tx:
        require_action(tx, entity, "read")
        view = RecordView(tx, entity, list_param(ctx.request, "fields"), list_param(ctx.request, "expand"), ctx.lang)
        rec = tx.get(entity, key)
        return json_response(view.one(rec), headers={"ETag": etag(rec)})


def create_record(ctx: Ctx) -> Response:
    entity = entity_of(ctx)
    check_known(ctx.request, ())
    data = _input(ctx)

    def work(tx: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        require_action(tx, entity, "create")
        _refuse_hidden(tx, entity, data)
        rec = tx.create(entity, data)
        return rec, RecordView(tx, entity, lang=ctx.lang).one(rec)

    rec, shown = ctx.app.run(ctx.actor, work, f"creating a {entity}")
    return json_response(shown, 201, headers={"Location": location(entity, rec), "ETag": etag(rec)})


def update_record(ctx: Ctx) -> Response:
    entity, key = entity_of(ctx), key_of(ctx)
    check_known(ctx.request, ())
    expected = expected_version(ctx)
    data = _input(ctx)

    def work(tx: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        require_action(tx, entity, "update")
        _refuse_hidden(tx, entity, data)
        rec = tx.update(entity, key, data, expected)
        return rec, RecordView(tx, entity, lang=ctx.lang).one(rec)

    try:
        rec, shown = ctx.app.run(ctx.actor, work, f"updating {entity} {key}")
    except Conflict as e:
        raise _stale(ctx, entity, key, e, expected) from None
    return json_response(shown, headers={"ETag": etag(rec)})


def delete_record(ctx: Ctx) -> Response:
    entity, key = entity_of(ctx), key_of(ctx)
    check_known(ctx.request, ())
    expected = expected_version(ctx, body=False)

    def work(tx: Any) -> None:
        require_action(tx, entity, "delete")
        tx.delete(entity, key, expected)

    try:
        ctx.app.run(ctx.actor, work, f"deleting {entity} {key}")
    except Conflict as e:
        raise _stale(ctx, entity, key, e, expected) from None
    return Response(status_code=204)


def _input(ctx: Ctx) -> dict[str, Any]:
    """The record data of a write: the body without ``version`` (the optimistic-locking check)."""
    return {k: v for k, v in ctx.body.items() if k != "version"}


def _refuse_hidden(tx: Any, entity: str, data: dict[str, Any]) -> None:
    hidden = field_access(tx, entity).hidden
    unknown = [k for k in data if k in hidden]
    if unknown:
        raise ValidationFailed(entity, [FieldError(k, f"unknown field of {entity}") for k in unknown])


def expected_version(ctx: Ctx, body: bool = True) -> int | None:
    """The version the client last saw: ``If-Match: "<version>"`` (``*``: any) or ``"version"`` in the body."""
    header = ctx.request.headers.get("if-match")
    from_header = None
    if header is not None and header.strip() != "*":
        text = header.strip()
        text = text[2:] if text.startswith("W/") else text
        text = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise bad_request(f"If-Match must be a record version such as \"3\" (the ETag), got {header[:40]!r}",
                              "If-Match")
        from_header = int(text)
    from_body = ctx.body.get("version") if body else None
    if from_body is not None and (isinstance(from_body, bool) or not isinstance(from_body, int)
                                  or not 1 <= from_body < 2**63):
        raise bad_request("'version' must be the record's version number (a whole number)", "version")
    if from_header is not None and from_body is not None and from_header != from_body:
        raise bad_request(f"If-Match {from_header} and 'version' {from_body} disagree", "version")
    return from_header if from_header is not None else from_body


def _stale(ctx: Ctx, entity: str, key: int | str, error: Conflict, expected: int | None) -> Exception:
    """A stale version answered with the record's current one (``ETag``); other conflicts as they are."""
    if expected is None:
        return error
    with ctx.app.reader(ctx.actor) as tx:
        current = tx.find(entity, key)
    if current is None or current["version"] == expected:
        return error
    return ApiError(409, "conflict", error.message, field="version", headers={"ETag": etag(current)})


def routes() -> list:
    return [
        route(f"{BASE}/{{entity}}", list_records, reads=True),
        route(f"{BASE}/{{entity}}", create_record, ["POST"], body=True),
        route(f"{BASE}/{{entity}}/{{key}}", get_record, reads=True),
        route(f"{BASE}/{{entity}}/{{key}}", update_record, ["PATCH"], body=True),
        route(f"{BASE}/{{entity}}/{{key}}", delete_record, ["DELETE"]),
    ]
