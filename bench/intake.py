"""Rows per second importing a web shop's order CSV through the OMS `orders` intake.

    pip install -e ".[bench]" && python bench/intake.py [--rows N] [--batch-size N] [--pg URL | --no-pg]
                                                       [--bad-share F] [--baseline REF]

A channel export as a real shop sends it is written into a temporary folder: one row per order line
(1-4 lines per order, the order columns on the first row only), buyers identified by phone, a fifth of
them new (created by the intake's lookup, `missing: create`), the rest returning; `--bad-share F` makes that
share of the orders bad (one line names a SKU that does not exist: reported, not imported). The file is then read
by pandas (`read_csv`, the floor of merely parsing it) and imported through `ordo import`'s code path
(`import_file`: shape shop_csv, every order validated, priced, audited and its lifecycle flow started;
documents committed in batches) on SQLite and on PostgreSQL (ORDO_BENCH_PG_URL or ORDO_TEST_PG_URL).
`--baseline REF` also imports the file with an older tree (e.g. main before a change, or abc673d, tag
baseline/write-path) on each database in the same run; keep --rows small with an old one (abc673d imports at
40-130 rows/s).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from ordo.dsl.expr import Clock
from ordo.engine import open_app

try:
    from ordo.engine.stats import count_statements
except ModuleNotFoundError:  # an older tree (--baseline abc673d) has no statement counter: count none
    from contextlib import contextmanager
    from types import SimpleNamespace

    @contextmanager
    def count_statements(engine):  # type: ignore[no-redef]
        yield SimpleNamespace(statements=0)

T0 = dt.datetime(2026, 3, 14, 9, 0)
PROVINCES = [("上海市", "上海市"), ("北京市", "北京市"), ("广东省", "广州市"), ("湖北省", "武汉市"), ("四川省", "成都市"),
             ("浙江省", "杭州市"), ("江苏省", "南京市")]
COLUMNS = ["Order", "Created at", "Email", "Phone", "Financial Status", "Currency", "Shipping", "Discount Amount",
           "Total", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku", "Lineitem discount",
           "Shipping Name", "Shipping Street", "Shipping City", "Shipping Province", "Shipping Zip", "Notes"]
N_PRODUCTS = 500
REFERENCE = (40, 130)  # rows/s: a public 69,659-row order file through the intake before the write-path work


def products(rng: random.Random) -> list[tuple[str, str]]:
    return [(f"SKU-{i:05d}", f"{rng.randint(10, 500)}.00") for i in range(N_PRODUCTS)]


def write_csv(path: Path, rows: int, rng: random.Random, bad_share: float = 0.0) -> int:
    """The channel file: ``rows`` order lines, ``bad_share`` of the orders with an unknown SKU; returns the
    number of orders."""
    bad = random.Random(11)  # its own stream: the good orders are the same whatever the share
    skus = products(random.Random(1))
    buyers = max(1, rows // 10)
    orders = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        written = 0
        while written < rows:
            orders += 1
            lines = rng.sample(skus, min(rng.randint(1, 4), rows - written))
            buyer = rng.randrange(buyers)
            province, city = PROVINCES[buyer % len(PROVINCES)]
            total = sum(int(price[:-3]) for _, price in lines)
            if bad_share and bad.random() < bad_share:
                lines[-1] = ("SKU-NONE", lines[-1][1])
            at = T0 + dt.timedelta(seconds=orders * 7)
            for i, (sku, price) in enumerate(lines):
                head = i == 0
                qty = 1
                out.writerow([
                    f"#{100000 + orders}", f"{at.isoformat()}+08:00" if head else "",
                    f"buyer{buyer}@example.com" if head else "", f"139{buyer:08d}" if head else "",
                    "paid" if head else "", "CNY" if head else "", "0.00" if head else "",
                    "0.00" if head else "", f"{total}.00" if head else "", qty, f"Item {sku}", price, sku, "0.00",
                    f"Buyer {buyer}" if head else "", f"{buyer} Renmin Road" if head else "",
                    city if head else "", province if head else "", "200001" if head else "", ""])
            written += len(lines)
    return orders


def setup(app) -> None:
    """Master data the file refers to: the channel, the products; a fifth of the buyers exist already."""
    with app.users("admin") as users:
        users.grant("channel-bot", "customer_service")  # the intake's acting user
    with app.transaction("admin") as tx:
        tx.create("channel", {"code": "SHOP", "channel_name": "Web shop", "channel_type": "shop",
                              "intake_shape": "shop_csv", "payment_terms_hours": 24})
        tx.create("product_category", {"code": "GEN", "category_name": "General"})
        for code, price in products(random.Random(1)):
            tx.create("product", {"code": code, "product_name": code, "category": "GEN", "price": price,
                                  "floor_price": "1.00"})


def existing_buyers(app, rows: int) -> None:
    buyers = max(1, rows // 10)
    with app.transaction("admin") as tx:
        for b in range(0, buyers, 5):
            tx.create("customer", {"code": f"OLD-{b}", "customer_name": f"Buyer {b}", "phone": f"139{b:08d}"})


def import_once(url: str, path: Path, rows: int, batch_size: int) -> tuple[float, object, int, float]:
    """Seconds, the result, the statements run and this process's CPU seconds of one import of ``path`` into
    a new database."""
    app = open_app("builtin:oms", url, clock=Clock(fixed=T0 + dt.timedelta(days=1)))
    try:
        setup(app)
        existing_buyers(app, rows)
        with count_statements(app.engine) as counts:
            t0, c0 = time.perf_counter(), time.process_time()
            result = app.features["intake"].import_file("channel-bot", "orders", path, channel="SHOP",
                                                        batch_size=batch_size)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        return elapsed, result, counts.statements, cpu
    finally:
        app.close()


def pg_schema_url(pg: str) -> tuple[str, object]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="order lines in the file (default 100000)")
    parser.add_argument("--batch-size", type=int, default=500, help="documents per transaction (default 500)")
    parser.add_argument("--pg", default=os.environ.get("ORDO_BENCH_PG_URL") or os.environ.get("ORDO_TEST_PG_URL"),
                        help="PostgreSQL URL (default ORDO_BENCH_PG_URL or ORDO_TEST_PG_URL)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--bad-share", type=float, default=0.0,
                        help="share of the orders with a bad line (an unknown SKU), e.g. 0.01 (default 0)")
    parser.add_argument("--baseline", help="also import with an older tree (git ref) on SQLite, side by side")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # run by run_baseline: import this file only
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            drop = None
            url = f"sqlite:///{tmp}/intake.db"
            if args.pg and not args.no_pg:
                url, drop = pg_schema_url(args.pg)
            try:
                elapsed, _, statements, cpu = import_once(url, Path(args.child), args.rows, args.batch_size)
            finally:
                if drop is not None:
                    drop()
        print(f"RESULT {args.rows / elapsed:.3f} {statements} {cpu:.3f}")
        return
    with tempfile.TemporaryDirectory(prefix="ordo-intake-") as tmp:
        path = Path(tmp) / "shop_orders.csv"
        orders = write_csv(path, args.rows, random.Random(7), args.bad_share)
        size = path.stat().st_size
        print(f"intake of {path} ({size / 1e6:.1f} MB): {args.rows} rows, {orders} orders, batch size "
              f"{args.batch_size}, bad share {args.bad_share:g} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n")
        print(f"{'reader':<28}{'rows/s':>12}{'orders/s':>10}{'seconds':>9}{'stmts/row':>10}{'CPU ms/row':>11}"
              f"{'x ref':>8}   outcome")
        try:
            import pandas
        except ModuleNotFoundError:
            print(f"{'pandas read_csv':<28}{'(pip install pandas)':>12}")
        else:
            t0 = time.perf_counter()
            frame = pandas.read_csv(path, dtype=str, keep_default_na=False)
            elapsed = time.perf_counter() - t0
            print(f"{'pandas read_csv':<28}{args.rows / elapsed:>12.0f}{orders / elapsed:>10.0f}{elapsed:>9.2f}"
                  f"{'':>10}{'':>11}{'':>8}   {len(frame)} rows parsed, nothing stored")
        backends: list[tuple[str, str | None]] = [("Ordo intake, SQLite", None)]
        if args.pg and not args.no_pg:
            backends.append(("Ordo intake, PostgreSQL", args.pg))
        for label, pg in backends:
            drop = None
            url = f"sqlite:///{tmp}/intake.db" if pg is None else None
            if pg is not None:
                url, drop = pg_schema_url(pg)
            try:
                elapsed, result, statements, cpu = import_once(url, path, args.rows, args.batch_size)
            finally:
                if drop is not None:
                    drop()
            rate = args.rows / elapsed
            print(f"{label:<28}{rate:>12.0f}{orders / elapsed:>10.1f}{elapsed:>9.1f}{statements / args.rows:>10.2f}"
                  f"{1000 * cpu / args.rows:>11.2f}{f'{rate / REFERENCE[1]:.0f}-{rate / REFERENCE[0]:.0f}':>8}   "
                  f"{result.summary()}; {statements} statements")
            if result.errors:
                print(f"    first error: {result.errors[0]}")
            if args.baseline:  # the older tree on the same database, right after
                from baseline import run_baseline

                db = ["--no-pg"] if pg is None else ["--pg", pg]
                out = run_baseline(__file__, ["--rows", str(args.rows), "--batch-size", str(args.batch_size), *db,
                                              "--child", str(path)], args.baseline)
                old, *more = out.split("RESULT")[-1].split()
                rate, now = float(old), rate
                stmts = f"{int(more[0]) / args.rows:.2f}" if len(more) == 2 and int(more[0]) else "?"
                used = f"{1000 * float(more[1]) / args.rows:.2f}" if len(more) == 2 else ""  # an older bench script printed rows/s only
                print(f"{'  ' + args.baseline + label.replace('Ordo intake', ''):<28}{rate:>12.0f}"
                      f"{rate * orders / args.rows:>10.1f}{args.rows / rate:>9.1f}{stmts:>10}{used:>11}"
                      f"{f'{rate / REFERENCE[1]:.0f}-{rate / REFERENCE[0]:.0f}':>8}   (older tree: same file; this tree "
                      f"{now / rate:.1f}x)")
        print("\nrows/s counts CSV rows (order lines); every order is created through the store with its flow.\n"
              "stmts/row: statements per row; CPU ms/row: this process's CPU (not PostgreSQL's server) per row;\n"
              f"x ref: rows/s over the {REFERENCE[0]}-{REFERENCE[1]} rows/s a public 69,659-row order file imported at "
              "(issue acceptance: >= 20x).")


if __name__ == "__main__":
    main()
