"""Server-side render time of a 50-row list page, next to the JSON API list of the same rows.

    python bench/pages.py [--rounds 200] [--db FILE]

Plays the OMS demo (``ordo demo``'s scenario) into a SQLite file (or reuses ``--db``), then, signed in as
the manager, times in-process requests (Starlette TestClient: no network) of

* ``GET /app/sales_order?size=50`` (the list page: count, page query, presenter, jinja2 rendering), and
* ``GET /api/v1/records/sales_order?limit=50`` (the REST API's list of the same 50 rows, with total),

and the same two with a filter (``status == 'closed'`` through the filter builder and ``where``).
Prints p50 / p95 milliseconds per request; the target for the page is p50 under 100 ms on SQLite.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from ordo.designer_api.server import create_server
from ordo.designer_api.settings import Settings
from ordo.engine import open_app
from ordo.engine.cli.app_commands import DEMO_PASSWORD, demo_passwords
from ordo.engine.scenario import run_scenario


def timed(client: TestClient, url: str, rounds: int) -> list[float]:
    out = []
    for _ in range(5):  # warm up (first compiles, caches)
        assert client.get(url).status_code == 200, url
    for _ in range(rounds):
        start = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, url
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--db", help="an OMS demo database to reuse (default: a fresh one in a temporary folder)")
    args = ap.parse_args()
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="ordo-bench-pages-")) / "oms.db"
    fresh = not db.exists()
    app = open_app("builtin:oms", f"sqlite:///{db}")
    if fresh:
        print(f"playing the OMS demo into {db} ...", flush=True)
        run_scenario(app, "demo", out=io.StringIO(), variables={"seed": 7})
    demo_passwords(app)
    server = create_server(app, Settings(app="builtin:oms", db=str(db)))
    with TestClient(server) as client:
        r = client.post("/signin", data={"user": "mia", "password": DEMO_PASSWORD, "next": "/home"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        total = client.get("/api/v1/records/sales_order?limit=1").json()["total"]
        cases = [
            ("list page, 50 rows", "/app/sales_order?size=50"),
            ("JSON API, 50 rows", "/api/v1/records/sales_order?limit=50&order_by=-id"),
            ("list page, filtered", "/app/sales_order?size=50&f=status&o=eq&v=closed"),
            ("JSON API, filtered", "/api/v1/records/sales_order?limit=50&order_by=-id&where=status+%3D%3D+%27closed%27"),
        ]
        print(f"\nSQLite, OMS demo data ({total} sales orders), {args.rounds} requests each, in process:\n")
        print(f"{'request':<24}{'p50 ms':>10}{'p95 ms':>10}")
        for label, url in cases:
            ms = sorted(timed(client, url, args.rounds))
            p95 = ms[int(len(ms) * 0.95) - 1]
            print(f"{label:<24}{statistics.median(ms):>10.1f}{p95:>10.1f}")
        print("\ntarget: the list page's p50 under 100 ms")
    app.close()


if __name__ == "__main__":
    main()
