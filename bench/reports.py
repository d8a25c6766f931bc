"""A month x channel report (line count, quantity and revenue sums) over 1,000,000 order
lines on SQLite and PostgreSQL, next to pandas groupby on the same data in memory, in one run.

    pip install -e ".[bench]" && python bench/reports.py [--rows N] [--pg URL | --no-pg]

Target: under 1 s on SQLite for 1M rows. The report runs through the public API
(``app.features["reports"].report(...)``: parameters, row permissions, one SQL
statement, result shaping); pandas times ``groupby`` on a DataFrame already in
memory (month derived from the date inside the timed part, like the report).
Data are written straight into the entity's table (bulk load), identical for
every engine; the figures of all engines are checked to agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ordo.engine import open_app

CHANNELS = ["web", "store", "marketplace", "phone", "partner"]
FILES = {
    "app.yaml": "name: bench_reports\nversion: 1\n",
    "entities/order_line.yaml": """
        name: order_line
        fields:
          order_date: {type: date}
          channel: {type: enum, options: [web, store, marketplace, phone, partner]}
          sku: {type: string}
          qty: {type: integer}
          amount: {type: money}
    """,
    "reports/month_channel.yaml": """
        name: month_channel
        source: order_line
        params:
          period: {type: period, default: all}
        filters: ["order_date >= :period_start and order_date < :period_end"]
        dimensions:
          - {name: month, expr: order_date, bucket: month}
          - channel
        measures:
          - {name: lines, agg: count}
          - {name: qty, agg: sum, expr: qty}
          - {name: revenue, agg: sum, expr: amount}
    """,
}


def write_app(root: Path) -> Path:
    for rel, text in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def generate(n: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01")
    return pd.DataFrame({
        "order_date": start + rng.integers(0, 730, n).astype("timedelta64[D]"),
        "channel": pd.Categorical.from_codes(rng.integers(0, len(CHANNELS), n), CHANNELS),
        "sku": np.char.add("SKU-", rng.integers(1000, 9999, n).astype(str)),
        "qty": rng.integers(1, 10, n),
        "amount": rng.integers(100, 100_000, n) / 100,
    })


def rows(df: pd.DataFrame):
    dates = df["order_date"].dt.strftime("%Y-%m-%d").tolist()
    now = "2024-12-31 00:00:00.000000"
    for i, (d, ch, sku, q, a) in enumerate(zip(dates, df["channel"].astype(str).tolist(), df["sku"].tolist(),
                                               df["qty"].tolist(), df["amount"].tolist(), strict=True), start=1):
        yield (f"OL-{i:07d}", now, "bench", now, "bench", 1, d, ch, sku, q, a)


COLUMNS = "name, created_at, created_by, updated_at, updated_by, version, order_date, channel, sku, qty, amount"


def load_sqlite(engine: sa.Engine, df: pd.DataFrame) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")  # the engine's SQLite connections leave transactions to the caller
        cur.executemany(f"INSERT INTO order_line ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows(df))
        raw.commit()
        cur.execute("ANALYZE")
    finally:
        raw.close()


def load_pg(engine: sa.Engine, df: pd.DataFrame) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY order_line ({COLUMNS}) FROM STDIN") as copy:
            for r in rows(df):
                copy.write_row(r)
        raw.commit()
        cur.execute("ANALYZE order_line")
        raw.commit()
    finally:
        raw.close()


CPU: dict[str, float] = {}  # best CPU seconds of this process (in-process engines: SQLite, pandas)


def time_report(app, repeat: int, name: str) -> tuple[list[float], object]:
    reports = app.features["reports"]
    times, result = [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = reports.report("month_channel", user="bench", params={"period": "all"})
        times.append(time.perf_counter() - t0)
        CPU[name] = min(CPU.get(name, 9e9), time.process_time() - c0)
    return times, result


def time_pandas(df: pd.DataFrame, repeat: int) -> tuple[list[float], pd.DataFrame]:
    times, out = [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = (df.groupby([df["order_date"].dt.to_period("M"), "channel"], observed=True)
               .agg(lines=("qty", "size"), qty=("qty", "sum"), revenue=("amount", "sum")))
        times.append(time.perf_counter() - t0)
        CPU["pandas"] = min(CPU.get("pandas", 9e9), time.process_time() - c0)
    return times, out


def figures(result) -> dict:
    return {(f"{r['month']:%Y-%m}", r["channel"]): (r["lines"], int(r["qty"]), round(Decimal(r["revenue"]), 2))
            for r in result.rows}


def pandas_figures(out: pd.DataFrame) -> dict:
    return {(str(m), ch): (int(r.lines), int(r.qty), round(Decimal(repr(float(r.revenue))), 2))
            for (m, ch), r in out.iterrows()}


def line(name: str, times: list[float], n: int) -> str:
    best = min(times)
    cpu = f"   cpu {CPU[name]:6.3f} s" if name in CPU else "   (cpu in the server)"
    return (f"{name:<12} first {times[0]:7.3f} s   best {best:7.3f} s   median {statistics.median(times):7.3f} s"
            f"   {n / best / 1e6:6.1f} M rows/s{cpu}")


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPU(s)"
    except OSError:  # pragma: no cover - not on this platform
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pg", default=os.environ.get("ORDO_BENCH_PG_URL", os.environ.get(
        "ORDO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")))
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()

    print(f"generating {args.rows:,} order lines ... (load average {load_average()})", flush=True)
    df = generate(args.rows)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app_dir = write_app(Path(tmp) / "app")
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        app = open_app(app_dir, f"sqlite:///{db}")
        load_sqlite(app.engine, df)
        print(f"SQLite loaded in {time.perf_counter() - t0:.1f} s ({db.stat().st_size / 1e6:.0f} MB)", flush=True)
        sqlite_times, result = time_report(app, args.repeat, "SQLite")
        app.close()
        print(line("SQLite", sqlite_times, args.rows), flush=True)
        results["SQLite"] = figures(result)

        if not args.no_pg:
            admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
            schema = "ordo_bench_reports"
            with admin.connect() as c:
                c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                c.exec_driver_sql(f"CREATE SCHEMA {schema}")
            sep = "&" if "?" in args.pg else "?"
            try:
                t0 = time.perf_counter()
                app = open_app(app_dir, f"{args.pg}{sep}options=-csearch_path%3D{schema}")
                load_pg(app.engine, df)
                print(f"PostgreSQL loaded in {time.perf_counter() - t0:.1f} s", flush=True)
                times, result = time_report(app, args.repeat, "PostgreSQL")
                app.close()
                print(line("PostgreSQL", times, args.rows), flush=True)
                results["PostgreSQL"] = figures(result)
            finally:
                with admin.connect() as c:
                    c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                admin.dispose()

    times, out = time_pandas(df, args.repeat)
    print(line("pandas", times, args.rows))
    results["pandas"] = pandas_figures(out)
    reference = results["pandas"]
    for name, got in results.items():
        same = got == reference
        print(f"{name:<12} {len(got)} groups, figures {'agree with pandas' if same else 'DIFFER from pandas'}")
    best = min(sqlite_times)
    print(f"target: SQLite under 1 s for {args.rows:,} rows: {'met' if best < 1 else 'NOT met'} "
          f"(wall {best:.3f} s, cpu {CPU['SQLite']:.3f} s; load average {load_average()})")

if __name__ == "__main__":
    main()
