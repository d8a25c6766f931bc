"""The Starlette application: an Ordo app served over HTTP.

``create_server(app, settings)`` wires the routes of every concern module (``auth``, ``records``, ...),
the error handlers and the middleware around one opened :class:`ordo.engine.App`. ``factory()`` builds
the same from ``ORDO_*`` variables: it is what each uvicorn worker process runs. No state that matters
lives in a process: sessions, tokens, throttling, jobs and records are all in the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from ordo.engine.app import App
from ordo.engine.definitions.opening import open_stored

from . import auth, designer, designer_web, intake, meta, openapi, records, reports, tasks, web
from .context import route
from .decisions import routes as decision_routes
from .errors import HANDLERS
from .live import Live, LiveState, RefreshMiddleware
from .settings import Settings


def health(ctx: Any) -> dict[str, Any]:
    return {"status": "ok", "app": ctx.app.name}


def create_server(app: App, settings: Settings, *, close_app: bool = False) -> Starlette:
    """An ASGI application serving ``app``; ``close_app`` closes it when the server stops."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_app:
                app.close()

    middleware = []
    if settings.allowed_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                                     allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                                     allow_headers=["Authorization", "Content-Type", "If-Match", "X-CSRF-Token"],
                                     allow_credentials=True))
    routes = [route("/api/v1/health", health, auth=False), *auth.routes(), *meta.routes(), *tasks.routes(),
              *records.routes(), *reports.routes(), *intake.routes(), *openapi.routes()]
    routes += decision_routes()
    routes += designer.routes()
    routes += designer_web.routes()
    routes += web.routes()  # the pages last: their paths never shadow the API's
    live = Live(app)
    middleware.append(Middleware(RefreshMiddleware, live=live))
    server = Starlette(routes=routes, middleware=middleware, exception_handlers=HANDLERS, lifespan=lifespan)
    server.state = LiveState()
    server.state.live = live
    server.state.settings = settings
    server.state.signer = TimestampSigner(auth.secret_key(app, settings.secret_key), salt="ordo-session")
    return server


def open_for_serving(settings: Settings, say: Callable[[str], None] | None = None) -> App:
    """The app the settings name, on its database (created only when asked): the published version of its
    stored definitions; the first time, the folder is stored as version 1 (engine/definitions/opening.py)."""
    return open_stored(settings.app, settings.db, sync=settings.create, create=settings.create, import_first=True,
                       say=say)


def factory() -> Starlette:
    """Entry point of a uvicorn worker: everything from ``ORDO_*`` variables."""
    settings = Settings.load()
    if settings.site:
        from .site import site_factory

        return site_factory(settings)
    return create_server(open_for_serving(settings), settings, close_app=True)
