"""Orders per second from channel intake to allocation, through the OMS pack.

    pip install -e ".[bench]" && python bench/order_to_cash.py [--orders N] [--pg URL | --no-pg]
                                                               [--baseline REF | --no-baseline] [--quick]

Each order (1-5 lines, paid, low risk so it is auto-approved) arrives as a marketplace
JSON payload through the `orders` intake, one delivery per call as a webhook would send
it; its lifecycle flow screens and reviews it, waits out the merge window, and the
worker allocates stock (fewest warehouses, same region, nearest) and creates one
shipment per warehouse. The clock is moved past the merge window once all orders are
in, then workers run until nothing is due. Timed: intake + workers, per backend, with 1
and 4 concurrent clients (and as many workers), as threads of one process and as separate
processes (spawned; timed from the moment all have opened the app). PostgreSQL: --pg, else
ORDO_BENCH_PG_URL or ORDO_TEST_PG_URL. The statements column is what one order cost (SQLite, 1 client).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from baseline import BASELINE, run_baseline

from ordo.dsl.expr import Clock
from ordo.engine import open_app

try:
    from ordo.engine.stats import count_statements
except ImportError:  # an older tree (--baseline) has no statement counter
    count_statements = None

T0 = dt.datetime(2026, 3, 2, 9, 0)
WAREHOUSES = [("SH01", "east", 31.3747, 121.2655, 1), ("BJ01", "north", 39.7267, 116.3412, 2),
              ("GZ01", "south", 23.1579, 113.2730, 2), ("WH01", "central", 30.6197, 114.1379, 3),
              ("CD01", "southwest", 30.5745, 103.9234, 3)]
CITIES = [("上海市", "上海市", 31.2304, 121.4737), ("北京市", "北京市", 39.9042, 116.4074),
          ("广东省", "广州市", 23.1291, 113.2644), ("湖北省", "武汉市", 30.5928, 114.3055),
          ("四川省", "成都市", 30.5728, 104.0668)]
N_PRODUCTS = 200


def setup(app, rng: random.Random) -> list[tuple[str, str]]:
    """Master data: a channel, products, warehouses and ample stock; returns (code, price)."""
    with app.users("admin") as users:
        users.grant("channel-bot", "customer_service")  # the intake's acting user
    app.create("channel", {"code": "TMALL", "channel_name": "Tmall", "channel_type": "marketplace",
                           "intake_shape": "marketplace_json", "payment_terms_hours": 24}, "admin")
    app.create("product_category", {"code": "GEN", "category_name": "General"}, "admin")
    products = []
    with app.transaction("admin") as tx:
        for i in range(N_PRODUCTS):
            price = f"{rng.randint(10, 500)}.00"
            code = f"SKU-{i:04d}"
            tx.create("product", {"code": code, "product_name": code, "category": "GEN", "price": price,
                                  "floor_price": "1.00"})
            products.append((code, price))
        for code, region, lat, lon, prio in WAREHOUSES:
            tx.create("warehouse", {"code": code, "warehouse_name": code, "region": region, "latitude": lat,
                                    "longitude": lon, "priority": prio})
        for code, *_ in WAREHOUSES:
            for p, _ in products:
                tx.create("stock_level", {"warehouse": code, "product": p, "on_hand": 1_000_000})
    return products


def payloads(n: int, products: list[tuple[str, str]], rng: random.Random) -> list[str]:
    out = []
    for i in range(n):
        province, city, lat, lon = rng.choice(CITIES)
        phone = f"139{i:08d}"
        items = []
        for j, (code, price) in enumerate(rng.sample(products, rng.randint(1, 5))):
            items.append({"line_id": f"B{i}-{j}", "sku": code, "qty": rng.randint(1, 3), "unit_price": price,
                          "discount": "0.00"})
        order = {
            "order_id": f"BENCH{i:07d}", "created_at": T0.isoformat() + "+00:00", "currency": "CNY",
            "buyer": {"id": f"buyer{i}", "name": "Li Lei", "phone": phone, "email": f"b{i}@example.com"},
            "shipping_address": {"name": "Li Lei", "phone": phone, "province": province, "city": city,
                                 "district": "", "street": f"{i} Renmin Road", "postcode": "100000",
                                 "geo": {"lat": lat, "lng": lon}},
            "amounts": {"shipping": "0.00", "discount": "0.00", "paid": "0.00"},
            "payment": {"status": "PAID", "paid_at": T0.isoformat() + "+00:00"},
            "items": items, "remark": "",
        }
        out.append(json.dumps({"orders": [order]}, ensure_ascii=False))
    return out


def run(url: str, n: int, clients: int, processes: bool = False) -> tuple[float, int, int, int | None]:
    """(seconds, orders allocated, shipments, statements) for ``n`` orders with ``clients`` clients."""
    rng = random.Random(7)
    clock = Clock(fixed=T0)
    app = open_app("builtin:oms", url, clock=clock)
    try:
        products = setup(app, rng)
        docs = payloads(n, products, rng)
        counter = count_statements(app.engine) if count_statements is not None and not processes else None
        counts = counter.__enter__() if counter is not None else None
        if processes:
            elapsed = _in_processes(url, docs, clients)
            errors: list = []
        else:
            elapsed, errors = _in_threads(app, clock, docs, clients)
        if counter is not None:
            counter.__exit__(None, None, None)
        allocated = app.count("sales_order", "status == 'allocated'", user="admin")
        shipments = app.count("shipment", user="admin")
        if errors:
            print(f"    {len(errors)} intake error(s), first: {errors[0]}")
        return elapsed, allocated, shipments, (counts.statements // n if counts is not None and n else None)
    finally:
        app.close()


def _in_threads(app, clock: Clock, docs: list[str], clients: int) -> tuple[float, list]:
    intake = app.features["intake"]
    errors: list = []

    def client(k: int) -> None:
        for text in docs[k::clients]:
            result = intake.import_payload("channel-bot", "orders", text, channel="TMALL", source="order.json")
            errors.extend(result.errors)

    def worker(k: int) -> int:
        done = 0
        while True:
            ran = app.jobs.run_due(f"w{k}", now=clock.fixed, limit=50)
            done += ran
            if ran == 0:
                return done

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    clock.fixed = T0 + dt.timedelta(hours=2)
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return time.perf_counter() - t0, errors


def _in_processes(url: str, docs: list[str], clients: int) -> float:
    """Each process opens the app, waits for the others, delivers its share of the orders, waits until all
    are delivered, then works off the due jobs; timed from the first barrier to the last process's end."""
    ctx = multiprocessing.get_context("spawn")
    ready, delivered = ctx.Barrier(clients + 1), ctx.Barrier(clients)
    errors = ctx.Queue()
    procs = [ctx.Process(target=_process_client, args=(url, docs[k::clients], k, ready, delivered, errors))
             for k in range(clients)]
    for p in procs:
        p.start()
    ready.wait()
    t0 = time.perf_counter()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    found = [errors.get() for _ in procs]
    bad = [e for e in found if e]
    if bad:
        print(f"    {len(bad)} process(es) reported errors, first: {bad[0]}")
    return elapsed


def _process_client(url: str, docs: list[str], k: int, ready, delivered, errors) -> None:
    clock = Clock(fixed=T0)
    app = open_app("builtin:oms", url, clock=clock, sync=False)
    problems: list[str] = []
    try:
        intake = app.features["intake"]
        ready.wait()
        for text in docs:
            result = intake.import_payload("channel-bot", "orders", text, channel="TMALL", source="order.json")
            problems.extend(str(e) for e in result.errors)
        delivered.wait()
        clock.fixed = T0 + dt.timedelta(hours=2)
        while app.jobs.run_due(f"p{k}", now=clock.fixed, limit=50):
            pass
    except Exception as e:  # noqa: BLE001 - reported by the parent
        problems.append(f"{type(e).__name__}: {e}")
    finally:
        app.close()
        errors.put("; ".join(problems[:3]))


def sqlite_once(orders: int) -> float:
    """Orders/s on SQLite with one client (the figure compared with the baseline tree)."""
    elapsed = run(f"sqlite:///{tempfile.mkdtemp()}/o2c.db", orders, 1)[0]
    return orders / elapsed


def pg_run(pg: str, orders: int, clients: int, processes: bool) -> tuple[float, int, int, int | None]:
    """One run in a fresh schema of the PostgreSQL database, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg else "?"
    try:
        return run(f"{pg}{sep}options=-csearch_path%3D{schema}", orders, clients, processes)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per run")
    parser.add_argument("--pg", default=os.environ.get("ORDO_BENCH_PG_URL") or os.environ.get("ORDO_TEST_PG_URL"),
                        help="PostgreSQL URL (default ORDO_BENCH_PG_URL or ORDO_TEST_PG_URL)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--baseline", default=BASELINE, help="older tree (git ref) to measure side by side on "
                                                             f"SQLite with 1 client (default {BASELINE})")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--quick", action="store_true", help="threads only (no process runs)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # run by run_baseline in the older tree
        print(f"RESULT {sqlite_once(args.orders):.3f}")
        return
    print(f"order to allocation: {args.orders} auto-approved orders of 1-5 lines per run "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n")
    print(f"{'backend':<12}{'clients':>8}  {'as':<10}{'orders/s':>9}{'allocated':>11}{'shipments':>11}"
          f"{'seconds':>9}{'stmts/order':>13}")
    backends = [("SQLite", None)] + ([] if args.no_pg or not args.pg else [("PostgreSQL", args.pg)])
    modes = [(1, False), (4, False)] + ([] if args.quick else [(1, True), (4, True)])
    figures: dict[tuple[str, int, bool], float] = {}
    for name, pg in backends:
        for clients, processes in modes:
            if pg is None:
                url = f"sqlite:///{tempfile.mkdtemp()}/o2c.db"
                elapsed, allocated, shipments, stmts = run(url, args.orders, clients, processes)
            else:
                elapsed, allocated, shipments, stmts = pg_run(pg, args.orders, clients, processes)
            figures[(name, clients, processes)] = args.orders / elapsed
            print(f"{name:<12}{clients:>8}  {'processes' if processes else 'threads':<10}"
                  f"{args.orders / elapsed:>9.1f}{allocated:>11}{shipments:>11}{elapsed:>9.1f}"
                  f"{stmts if stmts is not None and clients == 1 else '':>13}")
    print("\nallocated should equal the number of orders; shipments >= allocated (one per warehouse used).")
    for name, _ in backends:
        one, four = figures.get((name, 1, True)), figures.get((name, 4, True))
        if one and four:
            print(f"{name}: 4 processes / 1 process = {four / one:.2f}x")
    if not args.no_baseline:
        out = run_baseline(__file__, ["--orders", str(args.orders), "--child"], args.baseline)
        old = float(out.split("RESULT")[-1])
        now = sqlite_once(args.orders)
        print(f"\nSQLite, 1 client, side by side: this tree {now:.1f} orders/s, {args.baseline} {old:.1f} orders/s "
              f"-> {now / old:.1f}x")


if __name__ == "__main__":
    threading.stack_size(16 * 1024 * 1024)
    main()
