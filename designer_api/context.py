"""What every endpoint gets: the Ordo app, the settings, the signed-in user, the parsed body.

``route(path, fn, ...)`` turns a plain function ``fn(ctx)`` into a Starlette route: the caller is
authenticated first (a token or a session; unsafe methods on a session need the CSRF token), the body is
read within the size limit, and ``fn`` runs in the thread pool (the engine is synchronous). ``fn`` returns
JSON-able data or a Response.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ordo.engine.actor import UserLike
from ordo.engine.coerce import to_jsonable

from .body import json_object

if TYPE_CHECKING:
    from ordo.engine.app import App
    from ordo.engine.records import Transaction

    from .auth import Identity
    from .settings import Settings

LANGUAGES = ("en", "zh")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def browser_lang(request: Request, *asked: str | None) -> str:
    """The first of ``asked`` that is a known language, else the browser's preference, else English."""
    for lang in asked:
        if lang in LANGUAGES:
            return lang
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"


@dataclass
class RequestScope:
    """What an endpoint and a page share: the request, the Ordo app, the settings and the signed-in user."""

    request: Request
    app: App
    settings: Settings
    identity: Identity | None = None

    @property
    def user(self) -> str:
        assert self.identity is not None
        return self.identity.user

    @property
    def actor(self) -> UserLike:
        """Who acts: the signed-in user with the roles read when they were authenticated."""
        assert self.identity is not None
        return self.identity.actor or self.identity.user

    @property
    def params(self) -> Any:
        return self.request.query_params

    @property
    def path(self) -> dict[str, Any]:
        return self.request.path_params


@dataclass
class Ctx(RequestScope):
    body: dict[str, Any] = field(default_factory=dict)
    raw: Any = None  # what a route's own body reader returned (see ``route(raw=...)``)
    read_conn: Any = None  # the connection the credentials were read in, still open (see ``route(reads=...)``)

    def reader(self) -> AbstractContextManager[Transaction]:
        """A read-only transaction of the signed-in user: the one the credentials were read in when the
        route reads (``route(reads=True)``), else a new one."""
        return self.app.reader(self.actor, self.read_conn)

    @property
    def lang(self) -> str:
        """The language of labels: ``?lang=``, else the browser's preference, else English."""
        return browser_lang(self.request, self.request.query_params.get("lang"))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact, at the scale it carries (money "120.00")
    raise TypeError


def json_bytes(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON: decimals as exact strings, dates and times as ISO text (what
    :func:`~ordo.engine.coerce.to_jsonable` gives), encoded by orjson; anything orjson refuses (an integer
    beyond 64 bits) goes through the standard library as before."""
    try:
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(to_jsonable(data), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(data), status_code=status, headers=headers, media_type=JSONResponse.media_type)


def _call(ctx: Ctx, fn: Callable[[Ctx], Any], auth: bool, reads: bool = False, record: bool = True) -> Any:
    from .auth import authenticate

    if auth and reads:  # the credentials and the answer read in one transaction
        with ctx.app.engine.connect() as conn, conn.begin():
            ctx.identity = authenticate(ctx.request, conn=conn, record=record)
            ctx.read_conn = conn
            try:
                return fn(ctx)
            finally:
                ctx.read_conn = None
    if auth:
        ctx.identity = authenticate(ctx.request)
    return fn(ctx)


def route(path: str, fn: Callable[[Ctx], Any], methods: Sequence[str] = ("GET",), *, auth: bool = True,
          body: bool = False, optional_body: bool = False, raw: Callable[[Ctx], Awaitable[Any]] | None = None,
          name: str | None = None, reads: bool = False) -> Route:
    """``fn(ctx)`` as a route; ``body``: read a JSON object body (``optional_body``: an empty body is ``{}``);
    ``raw``: the route reads its body itself (``ctx.raw``), after authentication; ``reads``: ``fn`` only reads,
    with ``ctx.reader()``, in the transaction the credentials were read in (one connection, one BEGIN), and on
    SQLite in the event loop itself (on PostgreSQL, like every other route, in the thread pool)."""
    if reads and (body or raw):
        raise ValueError(f"route {path}: a reading route has no body")

    async def endpoint(request: Request) -> Response:
        from .auth import authenticate

        ctx = Ctx(request, request.app.state.ordo, request.app.state.settings)
        if reads and ctx.app.engine.dialect.name == "sqlite":
            # a read of the embedded database only computes (no network wait, no lock: WAL readers never
            # wait for writers): answered in the event loop, without two thread switches per request; the
            # token's last use (a write, once a minute) waits for the writer in the thread pool instead
            try:
                result = _call(ctx, fn, auth, reads, record=False)
            finally:
                if ctx.identity is not None and ctx.identity.token_use is not None:
                    from .auth import record_token_use

                    await run_in_threadpool(record_token_use, ctx.app, ctx.identity.token_use, ctx.app.clock.now())
        elif not (body or raw):  # one trip to the thread pool: authenticate, then answer
            result = await run_in_threadpool(_call, ctx, fn, auth, reads)
        else:
            if auth:
                ctx.identity = await run_in_threadpool(authenticate, request)
            if body:
                ctx.body = await json_object(request, ctx.settings.max_body, optional_body)
            if raw is not None:
                ctx.raw = await raw(ctx)
            result = await run_in_threadpool(fn, ctx)
        return result if isinstance(result, Response) else json_response(result)

    return Route(path, endpoint, methods=list(methods), name=name or fn.__name__)
