"""The language switch: the user's choice (en / zh) is remembered in a cookie for a year and, for a
signed-in user, in the database (``ordo_meta``), so it follows them to another browser at sign-in."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from starlette.responses import Response

from ordo.engine.db import write_connection
from ordo.engine.schema_sync import meta_table

from ..context import LANGUAGES
from ..errors import ApiError
from .base import LANG_COOKIE, Page, local, page, redirect


def _key(user: str) -> str:
    return "web.lang:" + hashlib.sha256(user.encode()).hexdigest()[:40]


def remembered(conn: sa.Connection, user: str) -> str | None:
    """The language ``user`` chose last, if any."""
    value = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == _key(user))).scalar()
    return value if value in LANGUAGES else None


def remember(pg: Page, lang: str) -> None:
    with write_connection(pg.app.engine) as conn:
        conn.execute(sa.delete(meta_table).where(meta_table.c.key == _key(pg.user)))
        conn.execute(sa.insert(meta_table).values(key=_key(pg.user), value=lang))


def set_lang_cookie(response: Response, lang: str) -> None:
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="lax", httponly=True)


def switch(pg: Page) -> Response:
    from ..auth import authenticate

    lang = pg.params.get("to")
    response = redirect(local(pg.params.get("next")))
    if lang in LANGUAGES:
        set_lang_cookie(response, lang)
        try:
            pg.identity = authenticate(pg.request)
        except ApiError:
            pg.identity = None
        if pg.identity is not None and pg.identity.via == "session":
            remember(pg, lang)
    return response


def routes() -> list:
    return [page("/lang", switch, auth=False)]
