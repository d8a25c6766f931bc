"""What every designer page gets on top of a web page: the ``designer`` privilege checked first, its own
templates and words (en/zh), and JSON answers for the small endpoints the pages' scripts call.

``designer_page(path, fn)`` is ``web.base.page`` (session, CSRF on every POST, language, HTML errors) plus
the privilege: a signed-in user without it gets 403 and the designer is not linked for them.
``json_endpoint(path, fn)`` is the same for a script's call (a posted form carrying ``csrf_token``); it
answers JSON, an error a user can cause as ``{"code", "message"}`` with its 4xx status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ordo.engine.coerce import to_jsonable
from ordo.engine.errors import OrdoError

from ..errors import ApiError
from ..web.base import ENV as WEB_ENV
from ..web.base import Page, base_of, here, page, prefixed, status_of
from ..web.words import WORDS as WEB_WORDS
from ..web.words import word as web_word
from .words import WORDS

HERE = Path(__file__).parent
PRIVILEGE = "designer"

ENV = jinja2.Environment(
    loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(HERE / "templates")), WEB_ENV.loader]),
    autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
    undefined=jinja2.StrictUndefined)


def dword(key: str, lang: str = "en") -> str:
    """The designer's word ``key`` in ``lang``, else the pages' word (English for any other language)."""
    if key in WORDS:
        en, zh = WORDS[key]
        return zh if lang == "zh" else en
    return web_word(key, lang)


def require(pg: Page) -> None:
    if not pg.may_design:
        raise ApiError(403, "forbidden", dword("need_designer", pg.lang))


def render(pg: Page, template: str, code: int = 200, /, **context: Any) -> HTMLResponse:
    """A designer template (it may extend the pages' ``layout.html``) with the designer's words."""
    base = base_of(pg.request)
    html = ENV.get_template(template).render(
        t=lambda key: dword(key, pg.lang), lang=pg.lang, user=pg.identity.user if pg.identity else None,
        csrf=pg.identity.csrf if pg.identity else "", here=here(pg.request), base=base, designer=True, **context)
    return HTMLResponse(prefixed(html, base), status_code=code)


def flash(pg: Page) -> str | None:
    """The word key of ``?done=`` (what the last action did), when it is one of the designer's words."""
    done = pg.params.get("done")
    return done if done in WORDS or done in WEB_WORDS else None


def designer_page(path: str, fn: Callable[[Page], Response], methods: Sequence[str] = ("GET",)) -> Route:
    """``fn(pg)`` as a page only designers reach (see the module's docstring)."""
    def guarded(pg: Page) -> Response:
        require(pg)
        return fn(pg)

    guarded.__name__ = fn.__name__
    return page(path, guarded, methods, name=f"designer_{fn.__name__}")


def json_endpoint(path: str, fn: Callable[[Page], Any], methods: Sequence[str] = ("POST",)) -> Route:
    """``fn(pg)`` -> JSON for the pages' scripts; errors as JSON with their 4xx status."""
    def answer(pg: Page) -> Response:
        try:
            require(pg)
            return JSONResponse(to_jsonable(fn(pg)))
        except OrdoError as e:
            return JSONResponse({"code": getattr(e, "code", "bad_request"), "message": e.message},
                                status_code=status_of(e))

    answer.__name__ = fn.__name__
    route = page(path, answer, methods, name=f"designer_json_{fn.__name__}")
    return route


def lines_of(errors: Sequence[Any], path: str | None = None) -> list[dict[str, Any]]:
    """Definition errors as rows a page shows and links: file, line, column, message, ``href`` to the
    YAML editor at that line. ``path`` keeps only the errors of that file."""
    out = []
    for e in errors:
        file = getattr(e, "file", None)
        if path is not None and file != path:
            continue
        line = getattr(e, "line", None)
        out.append({"file": file, "line": line, "column": getattr(e, "column", None),
                    "where": e.location() if hasattr(e, "location") else (file or ""),
                    "message": str(getattr(e, "message", e)), "text": str(e),
                    "href": f"/designer/file?path={file}" + (f"#L{line}" if line else "") if file else None})
    return out


def is_number(text: str) -> bool:
    """Whether ``text`` is a whole number a page may pass to int() and the database: ASCII digits only
    (``"²".isdigit()`` is true), at most 18 of them (a 64-bit integer)."""
    return re.fullmatch(r"[0-9]{1,18}", text) is not None
