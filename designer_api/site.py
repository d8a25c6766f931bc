"""Several customer apps in one ``ordo serve``: each under ``/<name>/``, each with its own database.

A site file names them (``ordo serve --site site.yaml``; ``ORDO_SITE`` for worker processes)::

    apps:
      acme: {app: ./acme, db: "postgresql+psycopg://oms@db/acme"}
      beta: {app: ./beta, db: "sqlite:///beta.db"}

App folders are relative to the site file. Every app keeps its whole API under its prefix
(``/acme/api/v1/...``, ``/acme/api/docs``); its sessions, tokens and users are its own database's, and its
session cookie is scoped to its prefix. ``GET /`` lists the apps.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from ordo.dsl.errors import DefinitionError, DefinitionErrors
from ordo.dsl.loader import BUILTIN_PREFIX
from ordo.dsl.yaml_source import load_documents
from ordo.engine.app import App
from ordo.engine.definitions.opening import open_stored

from .errors import HANDLERS
from .settings import Settings

NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
RESERVED = {"api", "openapi.json"}


@dataclass(frozen=True)
class SiteApp:
    name: str  # the URL prefix
    app: str  # app folder or builtin:NAME
    db: str


def load_site(path: str | Path) -> list[SiteApp]:
    """The apps a site file names; errors name the file and line."""
    file = Path(path)
    docs = load_documents(file, str(file))
    doc = docs[0] if len(docs) == 1 else None
    if doc is None or not isinstance(doc.data, dict) or not isinstance(doc.data.get("apps"), dict) \
            or not doc.data["apps"]:
        raise DefinitionErrors([DefinitionError("a site file is one mapping: apps: {NAME: {app: ..., db: ...}}",
                                                file=str(file))])
    errors: list[DefinitionError] = []
    out: list[SiteApp] = []
    for name, spec in doc.data["apps"].items():
        at = ("apps", name)
        if not NAME.match(name) or name in RESERVED:
            errors.append(doc.error(at, f"'{name}' cannot be a URL prefix (lower case letters, digits, _ or -)",
                                    key=True))
            continue
        if not isinstance(spec, dict) or set(spec) != {"app", "db"} or not all(isinstance(v, str) and v
                                                                               for v in spec.values()):
            errors.append(doc.error(at, "each app needs exactly 'app' (folder or builtin:NAME) and 'db' (a URL)"))
            continue
        app = spec["app"] if spec["app"].startswith(BUILTIN_PREFIX) else str((file.parent / spec["app"]).resolve())
        out.append(SiteApp(name, app, spec["db"]))
    dbs = [a.db for a in out]
    for a in out:
        if dbs.count(a.db) > 1:
            errors.append(doc.error(("apps", a.name, "db"), "each app needs its own database"))
    if errors:
        raise DefinitionErrors(errors)
    return out


def open_site(site: list[SiteApp], settings: Settings, say: Callable[[str], None] | None = None) -> dict[str, App]:
    """Every app of the site on its database (checked before anything listens); all or none. Each serves the
    published version of the definitions its database stores (the folder is stored the first time)."""
    apps: dict[str, App] = {}
    try:
        for s in site:
            apps[s.name] = open_stored(s.app, s.db, sync=settings.create, create=settings.create, import_first=True,
                                       say=say)
    except BaseException:
        for app in apps.values():
            app.close()
        raise
    return apps


def create_site_server(apps: dict[str, App], settings: Settings, *, close_apps: bool = False) -> Starlette:
    """One ASGI application serving each app under ``/<name>/``."""
    from .server import create_server

    async def index(request: Request) -> JSONResponse:
        return JSONResponse({"apps": [{"name": n, "app": a.name, "api": f"/{n}/api/v1", "docs": f"/{n}/api/docs"}
                                      for n, a in apps.items()]})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_apps:
                for app in apps.values():
                    app.close()

    routes: list[Any] = [Route("/", index)]
    routes += [Mount(f"/{name}", app=create_server(app, settings)) for name, app in apps.items()]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=HANDLERS)


def site_factory(settings: Settings) -> Starlette:
    return create_site_server(open_site(load_site(settings.site), settings), settings, close_apps=True)
