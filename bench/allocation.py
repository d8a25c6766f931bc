"""Allocation benchmark: throughput and fewest-splits quality, on SQLite and PostgreSQL.

    .venv/bin/python bench/allocation.py [--orders 1000] [--pg-url URL | --no-pg]

Builds 20 locations, 10,000 items and stock of each item at a few random
locations, then generates demands of 1-5 lines (same seed for every database).

* throughput: allocations per second with the ``fewest_splits`` rule, each in
  its own transaction (candidates, planning, atomic reservation, allocation
  records), then releases per second;
* quality: on identical stock, for every demand, ``fewest_splits`` and the greedy
  ``per_line`` baseline are both planned (and rolled back); the average number
  of locations per demand is printed for each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from ordo.engine import open_app

LOCATIONS, ITEMS = 20, 10_000
ENTITIES = {
    "entities/site.yaml": """
        name: site
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          priority: {type: integer, default: 10}
          lat: {type: decimal, scale: 6}
          lon: {type: decimal, scale: 6}
          active: {type: boolean, default: true}
    """,
    "entities/item.yaml": """
        name: item
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
    """,
    "entities/stock.yaml": """
        name: stock
        fields:
          site: {type: link, entity: site, required: true}
          item: {type: link, entity: item, required: true}
          on_hand: {type: integer, default: 0}
          reserved: {type: integer, default: 0}
          safety: {type: integer, default: 0}
    """,
    "entities/demand.yaml": """
        name: demand
        fields:
          lat: {type: decimal, scale: 6}
          lon: {type: decimal, scale: 6}
          lines: {type: table, entity: demand_line}
        ---
        name: demand_line
        child: true
        fields:
          item: {type: link, entity: item, required: true}
          qty: {type: integer, required: true}
    """,
    "entities/allocation.yaml": """
        name: allocation
        fields:
          demand: {type: link, entity: demand, required: true}
          stock: {type: link, entity: stock}
          line: {type: integer}
          qty: {type: integer, required: true}
          status: {type: enum, options: [reserved, released, consumed, backorder]}
    """,
}
RULE = """
    kind: allocation
    name: {name}
    demand: {{entity: demand, lines: lines, item: item, quantity: qty}}
    supply: {{entity: stock, item: item, location: site, available: "on_hand - reserved - safety",
             reserved: reserved, on_hand: on_hand}}
    where: site.active
    rank:
      - site.priority
      - distance(site.lat, site.lon, demand.lat, demand.lon)
    strategy: {name}
    partial: true
    split_lines: true
    result: {{entity: allocation, demand: demand, supply: stock, quantity: qty, status: status, line: line}}
"""


def write_app(root: Path) -> Path:
    files = {"app.yaml": "name: allocbench\nversion: 1\n", **ENTITIES,
             "rules/fewest.yaml": RULE.format(name="fewest_splits"), "rules/greedy.yaml": RULE.format(name="per_line")}
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def seed(app, rnd: random.Random) -> None:
    now = dt.datetime(2026, 1, 1)
    sys_cols = {"created_at": now, "created_by": "bench", "updated_at": now, "updated_by": "bench", "version": 1}
    t = {n: app.compiled.entity(n).table for n in ("site", "item", "stock")}
    with app.engine.begin() as conn:
        conn.execute(sa.insert(t["site"]), [
            {"id": i, "name": f"L{i:02d}", "code": f"L{i:02d}", "priority": rnd.randint(1, 5),
             "lat": round(rnd.uniform(43, 51), 4), "lon": round(rnd.uniform(-1, 8), 4), "active": True, **sys_cols}
            for i in range(1, LOCATIONS + 1)])
        conn.execute(sa.insert(t["item"]), [
            {"id": i, "name": f"I{i:05d}", "code": f"I{i:05d}", **sys_cols} for i in range(1, ITEMS + 1)])
        rows, sid = [], 0
        for item in range(1, ITEMS + 1):
            for site in rnd.sample(range(1, LOCATIONS + 1), rnd.randint(3, 8)):
                sid += 1
                rows.append({"id": sid, "name": f"S{sid:06d}", "site": site, "item": item,
                             "on_hand": rnd.randint(0, 40), "reserved": 0, "safety": rnd.choice((0, 0, 2)),
                             **sys_cols})
        for i in range(0, len(rows), 5000):
            conn.execute(sa.insert(t["stock"]), rows[i:i + 5000])
        if conn.dialect.name == "postgresql":
            for name in ("site", "item", "stock"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                     f"(SELECT max(id) FROM {name}))")
                conn.exec_driver_sql(f"ANALYZE {name}")


def demands(n: int, seed_: int) -> list[dict]:
    rnd = random.Random(seed_)
    return [{"lat": round(rnd.uniform(43, 51), 4), "lon": round(rnd.uniform(-1, 8), 4),
             "lines": [{"item": f"I{i:05d}", "qty": rnd.randint(1, 6)}
                       for i in rnd.sample(range(1, ITEMS + 1), rnd.randint(1, 5))]} for _ in range(n)]


class _Rollback(Exception):
    pass


def run(label: str, url: str, n_orders: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = open_app(write_app(Path(tmp) / "app"), url)
        seed(app, random.Random(1))
        ids = [app.create("demand", d, "bench")["id"] for d in demands(n_orders, 2)]
        service = app.features["allocation"]

        # quality: both strategies on identical stock, rolled back
        locs: dict[str, list[int]] = {"fewest_splits": [], "per_line": []}
        for oid in ids:
            for rule in locs:
                try:
                    with app.transaction("bench") as tx:
                        locs[rule].append(len(service.allocate(tx, rule, oid).locations))
                        raise _Rollback
                except _Rollback:
                    pass

        # throughput: commit every allocation, then release them all
        start = time.perf_counter()
        statuses: dict[str, int] = {}
        for oid in ids:
            with app.transaction("bench") as tx:
                s = service.allocate(tx, "fewest_splits", oid).status
            statuses[s] = statuses.get(s, 0) + 1
        alloc_s = time.perf_counter() - start
        start = time.perf_counter()
        for oid in ids:
            with app.transaction("bench") as tx:
                service.release(tx, "fewest_splits", oid)
        release_s = time.perf_counter() - start
        app.close()
    lines = sum(len(d["lines"]) for d in demands(n_orders, 2))
    fs, pl = statistics.mean(locs["fewest_splits"]), statistics.mean(locs["per_line"])
    print(f"{label:<10} {n_orders} demands ({lines} lines, 1-5 per demand), {LOCATIONS} locations, {ITEMS} items")
    print(f"  allocate (fewest_splits, committed): {n_orders / alloc_s:8.1f} allocations/s  "
          f"({1000 * alloc_s / n_orders:.2f} ms each; {statuses})")
    print(f"  release:                             {n_orders / release_s:8.1f} releases/s")
    print(f"  quality: average locations per demand  fewest_splits {fs:.3f}  vs  greedy per_line {pl:.3f}  "
          f"({100 * (pl - fs) / pl if pl else 0:.1f}% fewer); better on "
          f"{sum(a < b for a, b in zip(locs['fewest_splits'], locs['per_line'], strict=True))}, worse on "
          f"{sum(a > b for a, b in zip(locs['fewest_splits'], locs['per_line'], strict=True))} demands")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--pg-url", default=os.environ.get("ORDO_TEST_PG_URL",
                                                      "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    p.add_argument("--no-pg", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args.orders)
    if args.no_pg:
        return 0
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as e:
        print(f"PostgreSQL skipped: {e.orig}", file=sys.stderr)
        return 0
    try:
        sep = "&" if "?" in args.pg_url else "?"
        run("PostgreSQL", f"{args.pg_url}{sep}options=-csearch_path%3D{schema}", args.orders)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
