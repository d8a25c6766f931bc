"""Orders per second from channel intake to allocation, through the OMS pack.

    pip install -e ".[bench]" && python bench/order_to_cash.py [--orders N] [--pg URL | --no-pg]
                                                               [--baseline REF | --no-baseline] [--rounds N] [--quick]
                                                               [--skus N] [--one-session] [--processes N]
                                                               [--no-sqlite] [--no-threads]

Each order (1-5 lines, paid, low risk so it is auto-approved) arrives as a marketplace
JSON payload through the `orders` intake, one delivery per call as a webhook would send
it; its lifecycle flow screens and reviews it, waits out the merge window, and the
worker allocates stock (fewest warehouses, same region, nearest) and creates one
shipment per warehouse. The clock is moved past the merge window once all orders are
in, then workers run until nothing is due. Timed: intake + workers, per backend, with 1
and 4 (--processes N) concurrent clients (and as many workers), as threads of one process and as separate
processes (spawned; timed from the moment all have opened the app). PostgreSQL: --pg, else
ORDO_BENCH_PG_URL or ORDO_TEST_PG_URL. The statements column is what one order cost (SQLite, 1 client).
The side-by-side figure with the baseline tree (SQLite, 1 client) runs --rounds interleaved rounds, each tree
in a fresh interpreter, and compares the best of each: a single run of either swings by 20-40% on a shared
2-core machine.

The data is an OMS's, not a hot row's: --skus products (default 200) stocked in 5 warehouses, each order
lines of 1-5 distinct random products shipped from its region, so concurrent orders meet on a stock row
only as often as real ones do. --skus 1 is the hot-row case: every order takes the same product, so
concurrent allocations queue for the same stock rows (a measure of that row, not of the engine).

Beside orders/s: client CPU per order (the bench's processes), server CPU per order (PostgreSQL on this
machine: its backends' CPU from /proc), the CPU cores the run kept busy ((client + server CPU) / seconds),
and, on PostgreSQL, the share of in-use backend samples waiting for a lock held by another transaction
(bench/pg_watch.py samples pg_stat_activity; near 0 means the processes do not wait for each other).
One process keeps at most one core busy (its client and its backend take turns), 4 processes at most all
N cores: with C1 and C4 the CPU per order of the two runs, a CPU-bound run on N idle cores reaches about
N * C1 / C4 times the 1-process figure (printed at the end; C4 > C1 when busy cores slow each other down).

Each client process runs in a session of its own (os.setsid), as separate services or workers do: Linux
schedules the processes of one session as one group (autogroup), so on a machine shared with other
sessions, 4 processes started from one shell get one session's share of the CPU, the same as 1 process,
and the 4/1 ratio measures the scheduler (it read 1.06x that way). --one-session keeps them in the
bench's session. The cores column shows how much CPU a run got either way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from baseline import BASELINE, run_baseline
from pg_watch import PgWatch

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


@dataclass
class Figures:
    """What one run measured."""

    seconds: float
    allocated: int
    shipments: int
    statements: int | None = None  # per order (threads on SQLite)
    client_cpu: float | None = None  # seconds, all clients
    server_cpu: float | None = None  # seconds, all backends (PostgreSQL on this machine)
    lock_share: float | None = None  # of the in-use backend samples (PostgreSQL)


def setup(app, rng: random.Random, skus: int = N_PRODUCTS) -> list[tuple[str, str]]:
    """Master data: a channel, products, warehouses and ample stock; returns (code, price)."""
    with app.users("admin") as users:
        users.grant("channel-bot", "customer_service")  # the intake's acting user
    app.create("channel", {"code": "TMALL", "channel_name": "Tmall", "channel_type": "marketplace",
                           "intake_shape": "marketplace_json", "payment_terms_hours": 24}, "admin")
    app.create("product_category", {"code": "GEN", "category_name": "General"}, "admin")
    products = []
    with app.transaction("admin") as tx:
        for i in range(skus):
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
        for j, (code, price) in enumerate(rng.sample(products, min(len(products), rng.randint(1, 5)))):
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


@dataclass
class Options:
    """How a run is shaped (beyond backend, orders and clients)."""

    skus: int = N_PRODUCTS
    own_sessions: bool = True  # each client process in a session of its own (see the module's docstring)


class _NoWatch:
    lock_share = server_cpu = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def run(url: str, n: int, clients: int, processes: bool = False, opts: Options | None = None,
        watch=None, count: bool = True) -> Figures:
    """What ``n`` orders with ``clients`` clients measured (``watch``: a started/stopped PgWatch, or None;
    ``count``: count the statements, with a listener on the engine, as the older tree cannot)."""
    opts = opts or Options()
    watch = watch or _NoWatch()
    rng = random.Random(7)
    clock = Clock(fixed=T0)
    app = open_app("builtin:oms", url, clock=clock)
    try:
        products = setup(app, rng, opts.skus)
        docs = payloads(n, products, rng)
        counter = count_statements(app.engine) if count and count_statements is not None and not processes else None
        counts = counter.__enter__() if counter is not None else None
        if processes:
            elapsed, cpu, errors = _in_processes(url, docs, clients, opts.own_sessions, watch)
        else:
            elapsed, cpu, errors = _in_threads(app, clock, docs, clients, watch)
        if counter is not None:
            counter.__exit__(None, None, None)
        allocated = app.count("sales_order", "status == 'allocated'", user="admin")
        shipments = app.count("shipment", user="admin")
        if errors:
            print(f"    {len(errors)} error(s), first: {errors[0]}")
        return Figures(elapsed, allocated, shipments, counts.statements // n if counts is not None and n else None,
                       cpu, watch.server_cpu, watch.lock_share)
    finally:
        app.close()


def _in_threads(app, clock: Clock, docs: list[str], clients: int, watch) -> tuple[float, float, list]:
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

    watch.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    clock.fixed = T0 + dt.timedelta(hours=2)
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    watch.stop()
    return elapsed, cpu, errors


def _in_processes(url: str, docs: list[str], clients: int, own_sessions: bool,
                  watch) -> tuple[float, float, list]:
    """Each process opens the app, waits for the others, delivers its share of the orders, waits until all
    are delivered, then works off the due jobs; timed from the first barrier to the last process's end."""
    ctx = multiprocessing.get_context("spawn")
    ready, delivered = ctx.Barrier(clients + 1), ctx.Barrier(clients)
    results = ctx.Queue()
    procs = [ctx.Process(target=_process_client,
                         args=(url, docs[k::clients], k, ready, delivered, results, own_sessions))
             for k in range(clients)]
    for p in procs:
        p.start()
    ready.wait()
    watch.start()
    t0 = time.perf_counter()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    watch.stop()
    found = [results.get() for _ in procs]
    return elapsed, sum(cpu for _, cpu in found), [problems for problems, _ in found if problems]


def _process_client(url: str, docs: list[str], k: int, ready, delivered, results, own_session: bool) -> None:
    if own_session and hasattr(os, "setsid"):
        os.setsid()  # scheduled as a process of its own, not as part of the bench's session
    clock = Clock(fixed=T0)
    app = open_app("builtin:oms", url, clock=clock, sync=False)
    problems: list[str] = []
    cpu = 0.0
    try:
        intake = app.features["intake"]
        ready.wait()
        cpu0 = time.process_time()
        for text in docs:
            result = intake.import_payload("channel-bot", "orders", text, channel="TMALL", source="order.json")
            problems.extend(str(e) for e in result.errors)
        delivered.wait()
        clock.fixed = T0 + dt.timedelta(hours=2)
        while app.jobs.run_due(f"p{k}", now=clock.fixed, limit=50):
            pass
        cpu = time.process_time() - cpu0
    except Exception as e:  # noqa: BLE001 - reported by the parent
        problems.append(f"{type(e).__name__}: {e}")
    finally:
        app.close()
        results.put(("; ".join(problems[:3]), cpu))


def sqlite_once(orders: int) -> float:
    """Orders/s on SQLite with one client (the figure compared with the baseline tree): both trees run the
    same work, without a statement counter."""
    return orders / run(f"sqlite:///{tempfile.mkdtemp()}/o2c.db", orders, 1, count=False).seconds


def pg_run(pg: str, orders: int, clients: int, processes: bool, opts: Options | None = None) -> Figures:
    """One run in a fresh schema of the PostgreSQL database, dropped afterwards; its backends are watched."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg else "?"
    try:
        url = f"{pg}{sep}options=-csearch_path%3D{schema}&application_name=ordo_{schema}"
        return run(url, orders, clients, processes, opts, PgWatch(admin, f"ordo_{schema}"))
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def _cores(f: Figures, server: bool) -> str:
    """CPU cores the run kept busy; '+' when the server's share is unknown (a server on another machine)."""
    if f.client_cpu is None:
        return ""
    busy = (f.client_cpu + (f.server_cpu or 0)) / f.seconds
    return f"{busy:.2f}" + ("+" if server and f.server_cpu is None else "")


def _cpu_per_order(f: Figures, n: int) -> float | None:
    """Client + server CPU milliseconds per order (None when either is unknown)."""
    if f.client_cpu is None or f.server_cpu is None:
        return None
    return 1000 * (f.client_cpu + f.server_cpu) / n


def _per_order(seconds: float | None, n: int) -> str:
    return "" if seconds is None else f"{1000 * seconds / n:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per run")
    parser.add_argument("--pg", default=os.environ.get("ORDO_BENCH_PG_URL") or os.environ.get("ORDO_TEST_PG_URL"),
                        help="PostgreSQL URL (default ORDO_BENCH_PG_URL or ORDO_TEST_PG_URL)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--baseline", default=BASELINE, help="older tree (git ref) to measure side by side on "
                                                             f"SQLite with 1 client (default {BASELINE})")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--rounds", type=int, default=3,
                        help="side-by-side rounds with the baseline tree; the best of each tree counts (default 3)")
    parser.add_argument("--quick", action="store_true", help="threads only (no process runs)")
    parser.add_argument("--skus", type=int, default=N_PRODUCTS,
                        help=f"products stocked (default {N_PRODUCTS}); 1: every order takes the same stock rows "
                             f"(the hot-row case)")
    parser.add_argument("--processes", type=int, default=4, metavar="N",
                        help="the concurrent clients (threads, processes) measured beside 1 (default 4)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-threads", action="store_true", help="process runs only (with --quick: nothing)")
    parser.add_argument("--one-session", action="store_true",
                        help="keep the client processes in the bench's session (one scheduling group)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.skus < 1:
        parser.error("--skus must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.processes < 2:
        parser.error("--processes must be at least 2")
    if args.child:  # run by run_baseline in the older tree
        print(f"RESULT {sqlite_once(args.orders):.3f}")
        return
    opts = Options(skus=args.skus, own_sessions=not args.one_session)
    print(f"order to allocation: {args.orders} auto-approved orders of 1-5 lines over {args.skus} products per "
          f"run (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; client processes "
          f"{'in one session' if args.one_session else 'each in its own session'})\n")
    print(f"{'backend':<12}{'clients':>8}  {'as':<10}{'orders/s':>9}{'allocated':>11}{'shipments':>11}"
          f"{'seconds':>9}{'stmts/order':>13}{'client ms':>11}{'server ms':>11}{'cores':>7}{'lock waits':>12}")
    backends = ([] if args.no_sqlite else [("SQLite", None)]) + \
        ([] if args.no_pg or not args.pg else [("PostgreSQL", args.pg)])
    many = args.processes
    modes = ([] if args.no_threads else [(1, False), (many, False)]) + ([] if args.quick else [(1, True), (many, True)])
    figures: dict[tuple[str, int, bool], Figures] = {}
    for name, pg in backends:
        for clients, processes in modes:
            if pg is None:
                f = run(f"sqlite:///{tempfile.mkdtemp()}/o2c.db", args.orders, clients, processes, opts)
            else:
                f = pg_run(pg, args.orders, clients, processes, opts)
            figures[(name, clients, processes)] = f
            print(f"{name:<12}{clients:>8}  {'processes' if processes else 'threads':<10}"
                  f"{args.orders / f.seconds:>9.1f}{f.allocated:>11}{f.shipments:>11}{f.seconds:>9.1f}"
                  f"{f.statements if f.statements is not None and clients == 1 else '':>13}"
                  f"{_per_order(f.client_cpu, args.orders):>11}{_per_order(f.server_cpu, args.orders):>11}"
                  f"{_cores(f, pg is not None):>7}{'' if f.lock_share is None else f'{100 * f.lock_share:.1f} %':>12}", flush=True)
    print("\nallocated should equal the number of orders; shipments >= allocated (one per warehouse used).\n"
          "client/server ms: CPU per order (server: PostgreSQL backends on this machine; SQLite runs in the client);"
          "\ncores: (client + server CPU) / seconds ('+': server CPU unknown); lock waits: share of in-use "
          "PostgreSQL backend samples waiting for a lock.")
    for name, _ in backends:
        one, four = figures.get((name, 1, True)), figures.get((name, many, True))
        if one and four:
            line = f"{name}: {many} processes / 1 process = {one.seconds / four.seconds:.2f}x"
            cpu1, cpu4 = _cpu_per_order(one, args.orders), _cpu_per_order(four, args.orders)
            if cpu1 and cpu4 and os.cpu_count():
                # 1 process keeps at most 1 core busy (client and server take turns), N at most all of them
                line += (f"; CPU per order {cpu1:.1f} ms (1 process), {cpu4:.1f} ms ({many}): CPU-bound, {many} "
                         f"processes on {os.cpu_count()} idle cores reach about "
                         f"{min(many, os.cpu_count()) * cpu1 / cpu4:.2f}x")
            print(line)
    if not args.no_baseline:
        child = ["--orders", str(args.orders), "--child"]
        olds, nows = [], []
        for _ in range(args.rounds):  # interleaved, each in a fresh interpreter: both trees see the same machine
            olds.append(float(run_baseline(__file__, child, args.baseline).split("RESULT")[-1]))
            done = subprocess.run([sys.executable, __file__, *child], capture_output=True, text=True, check=True)
            nows.append(float(done.stdout.split("RESULT")[-1]))
        old, now = max(olds), max(nows)
        print(f"\nSQLite, 1 client, side by side, best of {args.rounds} interleaved rounds (each a fresh process): "
              f"this tree {now:.1f} orders/s, {args.baseline} {old:.1f} orders/s -> {now / old:.1f}x "
              f"(rounds: this tree {', '.join(f'{v:.1f}' for v in nows)}; "
              f"{args.baseline} {', '.join(f'{v:.1f}' for v in olds)})")


if __name__ == "__main__":
    threading.stack_size(16 * 1024 * 1024)
    main()
