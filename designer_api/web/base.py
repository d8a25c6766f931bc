"""What every page gets: the signed-in user, their language, the posted form, and jinja2 rendering.

``page(path, fn)`` turns ``fn(pg)`` into a Starlette route like ``context.route`` does for the API, with
the browser's manners: an anonymous visitor is sent to the sign-in page, a posted form is read within
the body limit and must carry the session's CSRF token (field ``csrf_token``), and an error a user can
cause is an HTML page with its 4xx status and the engine's message (never a traceback). ``fn`` runs in
the thread pool and returns a Response (``pg.render(...)``, ``redirect(...)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ordo.engine.errors import OrdoError, ValidationFailed

from ..body import read_body
from ..context import UNSAFE, RequestScope, browser_lang
from ..errors import _BY_TYPE, ApiError, bad_request
from .words import WORDS, word

if TYPE_CHECKING:

    pass

HERE = Path(__file__).parent
LANG_COOKIE = "ordo_lang"
MAX_FIELDS = 5000  # inputs of one posted form (a record with many child rows stays far below)

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                         autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                         undefined=jinja2.StrictUndefined)


class Form:
    """A posted form: first value of a name (``get``), all of them (``all``), every pair (``items``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.pairs if k == name), default)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)


@dataclass
class Page(RequestScope):
    form: Form = field(default_factory=lambda: Form([]))
    cookies: dict[str, str] = field(default_factory=dict)  # to set on the response

    @property
    def lang(self) -> str:
        """``?lang=``, else the language the user chose (cookie), else the browser's, else English."""
        return browser_lang(self.request, self.request.query_params.get("lang"),
                            self.request.cookies.get(LANG_COOKIE))

    @property
    def may_design(self) -> bool:
        """Whether the signed-in user holds the ``designer`` privilege (the designer is linked for them)."""
        actor = self.identity.actor if self.identity else None
        return actor is not None and self.app.permissions.may(actor, "designer")

    def t(self, key: str) -> str:
        return word(key, self.lang)

    def render(self, template: str, code: int = 200, /, **context: Any) -> HTMLResponse:
        base = base_of(self.request)
        html = ENV.get_template(template).render(
            t=self.t, lang=self.lang, user=self.identity.user if self.identity else None,
            csrf=self.identity.csrf if self.identity else "", here=here(self.request), base=base,
            designer=self.may_design, **context)
        response = HTMLResponse(prefixed(html, base), status_code=code)
        for name, value in self.cookies.items():
            response.set_cookie(name, value, max_age=365 * 86400, path="/", samesite="lax", httponly=True)
        return response


def base_of(request: Request) -> str:
    """The prefix the app is served under (``/acme`` when several apps share a server), else ``""``."""
    return str(request.scope.get("root_path") or "").rstrip("/")


def here(request: Request) -> str:
    """The path (within the app) and query of the request: where to come back to."""
    path, base = request.url.path, base_of(request)
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base):] or "/"
    query = request.url.query
    return path + (f"?{query}" if query else "")


_LINK = re.compile(r'(\s(?:href|action|formaction|src|data-ordo-api)=")/(?!/)')


def prefixed(html: str, base: str) -> str:
    """The page's own links (``href="/..."``) under the app's prefix."""
    return _LINK.sub(lambda m: f"{m.group(1)}{base}/", html) if base else html


def local(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (never another site: no open redirects), else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def redirect(target: str) -> Response:
    return RedirectResponse(target, status_code=303)


def status_of(exc: OrdoError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    for kind, status, _ in _BY_TYPE:
        if isinstance(exc, kind):
            return status
    return 400


def error_page(pg: Page, exc: OrdoError) -> Response:
    status = status_of(exc)
    message = exc.message
    if isinstance(exc, ValidationFailed):
        message = "; ".join(str(e) for e in exc.errors) or message
    return pg.render("error.html", status, status=status, message=message,
                     headers=getattr(exc, "headers", None) or {})


async def read_form(request: Request, limit: int) -> Form:
    """The urlencoded form of a POST, within ``limit`` bytes and :data:`MAX_FIELDS` fields."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await read_body(request, limit)
    if not raw:
        return Form([])
    if kind != "application/x-www-form-urlencoded":
        raise ApiError(415, "unsupported_media_type", "pages take forms (application/x-www-form-urlencoded)")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise bad_request("the form is not UTF-8 text") from None
    except ValueError:
        raise bad_request(f"the form has more than {MAX_FIELDS} fields") from None
    return Form(pairs)


def _call(pg: Page, fn: Callable[[Page], Response], auth: bool) -> Response:
    response = _answer(pg, fn, auth)
    base = base_of(pg.request)
    location = response.headers.get("location")
    if base and location and location.startswith("/") and not location.startswith("//"):
        response.headers["location"] = base + location  # the app's own paths, under its prefix
    return response


def _answer(pg: Page, fn: Callable[[Page], Response], auth: bool) -> Response:
    from ..auth import authenticate

    try:
        if auth:
            csrf = pg.form.get("csrf_token", "") if pg.request.method in UNSAFE else None
            pg.identity = authenticate(pg.request, csrf)
        return fn(pg)
    except ApiError as e:
        if e.status == 401:
            response = redirect("/signin?next=" + quote(here(pg.request) if pg.request.method == "GET" else "/"))
            return response
        return error_page(pg, e)
    except OrdoError as e:
        return error_page(pg, e)


def page(path: str, fn: Callable[[Page], Response], methods: Sequence[str] = ("GET",), *, auth: bool = True,
         name: str | None = None) -> Route:
    """``fn(pg)`` as a page route (see the module's docstring)."""
    async def endpoint(request: Request) -> Response:
        pg = Page(request, request.app.state.ordo, request.app.state.settings)
        if request.method in UNSAFE:
            try:
                pg.form = await read_form(request, pg.settings.max_body)
            except ApiError as e:
                return error_page(pg, e)
        return await run_in_threadpool(_call, pg, fn, auth)

    return Route(path, endpoint, methods=list(methods), name=name or f"page_{fn.__name__}")


__all__ = ["Page", "page", "redirect", "local", "here", "WORDS", "ENV"]
