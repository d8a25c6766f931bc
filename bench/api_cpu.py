"""Server CPU time per ``GET /api/v1/records/ticket?limit=50`` (with total and a filter), in-process.

    python bench/api_cpu.py [--requests 500] [--rounds 5] [--records 4000] [--profile] [--pyinstrument]

The same app, token and list as ``bench/api.py``, but the Starlette application is called directly as ASGI
(no HTTP client, no socket), so the figure is the application's own CPU per request: what one uvicorn
worker spends beyond parsing HTTP. ``--profile`` prints the hottest functions (cProfile). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))

from api import BODY, LIST, write_app  # noqa: E402


def build(tmp: Path, records: int):
    from ordo.designer_api.server import create_server
    from ordo.designer_api.settings import Settings
    from ordo.engine import SYSTEM, open_app
    from ordo.engine.credentials import Credentials

    app_dir = write_app(tmp / "app")
    db = f"sqlite:///{tmp / 'bench.db'}"
    app = open_app(app_dir, db, create=True)
    with app.transaction(SYSTEM) as tx:
        tx.users.save("ann")
        token = Credentials(tx.conn).create_token("ann", tx.now)[1]
    for _ in range(records):
        with app.transaction("ann") as tx:
            tx.create("ticket", BODY)
    return app, create_server(app, Settings(app=str(app_dir), db=db)), token


async def call(server, token: str, query: bytes) -> tuple[int, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/api/v1/records/ticket", "raw_path": b"/api/v1/records/ticket", "root_path": "",
             "query_string": query, "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode()),
                         (b"accept", b"*/*"), (b"user-agent", b"bench")]}
    status, body = 0, []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await server(scope, receive, send)
    return status, b"".join(body)


async def run(server, token: str, n: int, rounds: int = 1) -> list[float]:
    """CPU milliseconds per request of each round of ``n`` requests."""
    query = urlencode(LIST).encode()
    status, body = await call(server, token, query)
    assert status == 200, body[:500]
    for _ in range(50):
        await call(server, token, query)
    out = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(n):
            await call(server, token, query)
        out.append((time.process_time() - start) / n * 1000)
    return out


def _inline_threadpool() -> None:
    from ordo.designer_api import context

    async def inline(fn, *args):
        return fn(*args)

    context.run_in_threadpool = inline


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--records", type=int, default=4000, help="tickets in the database (bench/api.py creates "
                   "about as many before it lists)")
    p.add_argument("--rounds", type=int, default=5, help="rounds of --requests; the median and best are printed")
    p.add_argument("--profile", action="store_true", help="print the hottest functions (cProfile)")
    p.add_argument("--pyinstrument", action="store_true", help="print a pyinstrument call tree")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app, server, token = build(Path(tmp), args.records)
        try:
            if args.profile or args.pyinstrument:
                _inline_threadpool()  # the profilers see the main thread only
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
                ms = asyncio.run(run(server, token, args.requests, 1))
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(60)
                pstats.Stats(prof).sort_stats("tottime").print_stats(40)
            elif args.pyinstrument:
                from pyinstrument import Profiler

                with Profiler(interval=0.0002) as prof:
                    ms = asyncio.run(run(server, token, args.requests, 1))
                print(prof.output_text(unicode=True, color=False, show_all=False))
            else:
                ms = asyncio.run(run(server, token, args.requests, args.rounds))
            print(f"list 50 of {args.records} (filter, total), CPU per request in-process: median "
                  f"{statistics.median(ms):.2f} ms, best {min(ms):.2f} ms ({args.rounds} x {args.requests} requests)")
        finally:
            app.close()


if __name__ == "__main__":
    main()
