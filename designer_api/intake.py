"""``POST /api/v1/intake/{name}``: a channel pushes a payload (JSON, JSON lines or CSV) through an intake.

The same intake definitions as ``ordo import``: idempotent by the intake's key (a document delivered
again is a duplicate and changes nothing), each document in its own savepoint. The answer (200) says
what was created, what was a duplicate (of which record) and what was refused (line, key, field and
reason); a payload that cannot be read at all is 400. Query parameters: ``channel``, ``shape``,
``dry_run``.
"""

from __future__ import annotations

from typing import Any

from ordo.engine.errors import NotFound, PermissionDenied

from .access import may_use_intake
from .body import bool_param, check_known, read_body, text_param
from .context import Ctx, route
from .errors import ApiError

MEDIA = {  # content type -> the file name that tells the intake the payload's format
    "application/json": "payload.json",
    "application/x-ndjson": "payload.jsonl",
    "application/jsonl": "payload.jsonl",
    "application/json-lines": "payload.jsonl",
    "text/csv": "payload.csv",
}


def source_name(content_type: str) -> str:
    media = content_type.split(";")[0].strip().lower()
    found = MEDIA.get(media)
    if found is None:
        raise ApiError(415, "unsupported_media_type",
                       f"send the payload as one of {', '.join(MEDIA)}, not {media[:60] or 'no content type'}")
    return found


def result_data(result: Any) -> dict[str, Any]:
    return {"intake": result.intake, "shape": result.shape, "channel": result.channel, "dry_run": result.dry_run,
            "documents": result.documents, "created": list(result.created),
            "duplicates": [{"line": d.line, "document": d.document, "key": d.key, "existing": d.existing}
                           for d in result.duplicates],
            "refused": [{"line": e.line, "document": e.document, "key": e.key, "field": e.field or None,
                         "reason": e.reason} for e in result.errors],
            "failed": result.failed, "ok": result.ok}


async def _payload(ctx: Ctx) -> tuple[bytes, str]:
    source = source_name(ctx.request.headers.get("content-type", ""))
    return await read_body(ctx.request, ctx.settings.max_body), source


def push(ctx: Ctx) -> dict[str, Any]:
    name = str(ctx.path.get("name", ""))
    runtime = ctx.app.features["intake"]
    if name not in runtime.intakes:
        raise NotFound(f"no intake '{name[:60]}'")
    check_known(ctx.request, ("channel", "shape", "dry_run"))
    payload, source = ctx.raw
    with ctx.app.reader(ctx.actor) as tx:
        if not may_use_intake(tx, name):
            raise PermissionDenied(f"{ctx.user} may not push payloads through intake {name}")
    result = runtime.import_payload(ctx.actor, name, payload, channel=text_param(ctx.request, "channel", 200),
                                    shape=text_param(ctx.request, "shape", 200), source=source,
                                    dry_run=bool_param(ctx.request, "dry_run"))
    return result_data(result)


def routes() -> list:
    return [route("/api/v1/intake/{name}", push, ["POST"], raw=_payload)]
