"""What a user does on a list besides reading it: saving and deleting their views (``saved.py``), and bulk
edit of the selected rows through the same rules as ``update-many`` (all or nothing, each record through
the full update pipeline: row rules, field rules, validations, flows, audit)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from ordo.engine.db import write_connection
from ordo.engine.errors import OrdoError, ValidationFailed

from ..access import require_action
from ..errors import bad_request
from .base import Page, page, redirect
from .filters import bulk_fields
from .lists import entity_of
from .saved import MAX_NAME, MAX_VIEWS, clean_query, saved_views, store

MAX_BULK = 1000


def save_view(pg: Page) -> Response:
    entity = entity_of(pg)
    name = " ".join((pg.form.get("name") or "").split())[:MAX_NAME]
    if not name:
        raise bad_request("give the view a name", "name")
    query = clean_query(pg.form.get("query") or "")
    with pg.app.reader(pg.actor) as tx:
        require_action(tx, entity, "read")
    with write_connection(pg.app.engine) as conn:
        views = [v for v in saved_views(conn, pg.user, entity) if v["name"] != name]
        if len(views) >= MAX_VIEWS:
            raise bad_request(f"at most {MAX_VIEWS} saved views per list; delete one first", "name")
        views.append({"name": name, "query": query})
        store(conn, pg.user, entity, views)
    return redirect(f"/app/{entity}?{query}" if query else f"/app/{entity}")


def delete_view(pg: Page) -> Response:
    entity = entity_of(pg)
    name = pg.form.get("name") or ""
    with write_connection(pg.app.engine) as conn:
        views = saved_views(conn, pg.user, entity)
        store(conn, pg.user, entity, [v for v in views if v["name"] != name])
    return redirect(f"/app/{entity}")


def bulk_edit(pg: Page) -> Response:
    """Set one field on the selected records, all or nothing, through ``tx.update_many``."""
    entity = entity_of(pg)
    ids: list[int] = []
    for raw in pg.form.all("id")[:MAX_BULK + 1]:
        if raw.isascii() and raw.isdigit() and len(raw) <= 18:
            ids.append(int(raw))
    if len(ids) > MAX_BULK:
        raise bad_request(f"select at most {MAX_BULK} records at once", "id")
    field = pg.form.get("field") or ""
    value = pg.form.get("value")
    back = pg.form.get("back") or ""
    target = f"/app/{entity}?{clean_query(back)}"
    if not ids:
        raise bad_request("select the records to change first", "id")

    def work(tx: Any) -> int:
        require_action(tx, entity, "update")
        allowed = {f["name"] for f in bulk_fields(tx, entity, pg.lang)}
        if field not in allowed:
            raise ValidationFailed(entity, [_error(field[:60], f"unknown field of {entity} (or not one you may set)")])
        where = "id in [" + ", ".join(str(i) for i in sorted(set(ids))) + "]"
        return len(tx.update_many(entity, where, {field: None if value in (None, "") else value},
                                  limit=MAX_BULK))

    try:
        changed = pg.app.run(pg.actor, work, f"updating {entity} records")
    except OrdoError as e:
        from .base import error_page

        return error_page(pg, e)
    return redirect(target + ("&" if "?" in target else "?") + urlencode({"changed": changed}))


def _error(field: str, message: str) -> Any:
    from ordo.engine.errors import FieldError

    return FieldError(field, message)


def routes() -> list:
    return [page("/app/{entity}/views", save_view, ["POST"]), page("/app/{entity}/views/delete", delete_view, ["POST"]),
            page("/app/{entity}/bulk", bulk_edit, ["POST"])]
