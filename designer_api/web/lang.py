"""The language switch: the user's choice (en / zh) is remembered in a cookie for a year."""

from __future__ import annotations

from starlette.responses import Response

from ..context import LANGUAGES
from .base import LANG_COOKIE, Page, local, page, redirect


def switch(pg: Page) -> Response:
    lang = pg.params.get("to")
    response = redirect(local(pg.params.get("next")))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="lax", httponly=True)
    return response


def routes() -> list:
    return [page("/lang", switch, auth=False)]
