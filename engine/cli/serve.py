"""``ordo serve``: the REST API (and, as they land, the web pages) over HTTP with uvicorn."""

from __future__ import annotations

import argparse
import os

from .common import add_create_option, add_db_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the app over HTTP: REST API, OpenAPI, sign-in")
    p.add_argument("app", nargs="?", default=os.environ.get("ORDO_APP"),
                   help="app folder or builtin:NAME (default: $ORDO_APP)")
    add_db_option(p)
    add_create_option(p)
    p.add_argument("--host", help="address to listen on (default: $ORDO_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $ORDO_PORT or 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default: $ORDO_WORKERS or 1); "
                                                "use PostgreSQL for more than one")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ordo.designer_api.server import create_server, open_for_serving
    from ordo.designer_api.settings import Settings

    from .common import CliError

    if not args.app:
        raise CliError("name the app to serve (a folder or builtin:NAME), or set ORDO_APP")
    settings = Settings.load({"app": args.app, "db": args.db, "host": args.host, "port": args.port,
                              "workers": args.workers, "create": args.create})
    app = open_for_serving(settings)  # refuses a wrong database before anything listens
    print(f"serving {app.name} from {app.db_label} on http://{settings.host}:{settings.port} "
          f"({settings.workers} worker(s)); API docs at /api/docs")
    if settings.workers == 1:
        uvicorn.run(create_server(app, settings, close_app=True), host=settings.host, port=settings.port,
                    log_level="warning")
        return 0
    app.close()
    os.environ.update(settings.environ())  # each worker process builds its server from these
    uvicorn.run("ordo.designer_api.server:factory", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="warning")
    return 0
