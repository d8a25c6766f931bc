"""``ordo serve``: the web pages and the REST API over HTTP with uvicorn."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from .common import CliError, add_create_option, add_db_option

if TYPE_CHECKING:
    from ordo.designer_api.settings import Settings

    from ..app import App


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the app over HTTP: web pages, REST API, OpenAPI, sign-in")
    p.add_argument("app", nargs="?", default=os.environ.get("ORDO_APP"),
                   help="app folder or builtin:NAME (default: $ORDO_APP)")
    add_db_option(p)
    add_create_option(p)
    add_listen_options(p)
    p.add_argument("--workers", type=int, help="worker processes (default: $ORDO_WORKERS or 1); "
                                                "use PostgreSQL for more than one")
    p.add_argument("--site", default=os.environ.get("ORDO_SITE") or None,
                   help="serve several apps, each under /NAME/ with its own database, from a site file "
                        "(apps: {NAME: {app: FOLDER, db: URL}}; default: $ORDO_SITE); replaces APP and --db")
    p.set_defaults(func=cmd_serve)


def add_listen_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (default: $ORDO_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $ORDO_PORT or 8000)")


def cmd_serve(args: argparse.Namespace) -> int:
    from ordo.designer_api.server import open_for_serving
    from ordo.designer_api.settings import Settings

    if args.site:
        return serve_site(args)
    if not args.app:
        raise CliError("name the app to serve (a folder or builtin:NAME), or set ORDO_APP")
    settings = Settings.load({"app": args.app, "db": args.db, "host": args.host, "port": args.port,
                              "workers": args.workers, "create": args.create})
    serve(open_for_serving(settings, say=lambda line: print(line, flush=True)), settings)  # checked before listening
    return 0


def serve_site(args: argparse.Namespace) -> int:
    """``ordo serve --site FILE``: every app of the site file, each under /NAME/ on its own database."""
    import uvicorn

    from ordo.designer_api.settings import Settings
    from ordo.designer_api.site import create_site_server, load_site, open_site

    if args.app:
        raise CliError("give either an app or --site, not both")
    settings = Settings.load({"site": args.site, "host": args.host, "port": args.port, "workers": args.workers,
                              "create": args.create})
    site = load_site(settings.site)
    apps = open_site(site, settings, say=lambda line: print(line, flush=True))  # checked before listening
    base = f"http://{settings.host}:{settings.port}"
    for name, app in apps.items():
        print(f"serving {app.name} from {app.db_label} on {base}/{name}/ (API docs: {base}/{name}/api/docs)")
    print(f"{len(apps)} app(s), {settings.workers} worker(s) (Ctrl-C to stop)", flush=True)
    if settings.workers == 1:
        uvicorn.run(create_site_server(apps, settings, close_apps=True), host=settings.host, port=settings.port,
                    log_level="warning", access_log=False)
        return 0
    for app in apps.values():
        app.close()
    os.environ.update(settings.environ())
    uvicorn.run("ordo.designer_api.server:factory", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="warning", access_log=False)
    return 0


def serve(app: App, settings: Settings) -> None:
    """Serve ``app`` until interrupted (several workers rebuild it from ``ORDO_*`` variables)."""
    import uvicorn

    from ordo.designer_api.server import create_server

    print(f"serving {app.name} from {app.db_label} on http://{settings.host}:{settings.port} "
          f"({settings.workers} worker(s)); sign in at http://{settings.host}:{settings.port}/signin, "
          f"API docs at http://{settings.host}:{settings.port}/api/docs (Ctrl-C to stop)", flush=True)
    if settings.workers == 1:
        uvicorn.run(create_server(app, settings, close_app=True), host=settings.host, port=settings.port,
                    log_level="warning", access_log=False)  # no access lines (warning hid them)
        return
    app.close()
    os.environ.update(settings.environ())
    uvicorn.run("ordo.designer_api.server:factory", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="warning", access_log=False)
