"""A month x channel report (line count, quantity and revenue sums) over 1,000,000 order
lines, in one run: Ordo on SQLite and PostgreSQL, each by a scan and from a maintained summary
(``summary: true``), a plain ``GROUP BY`` of the same report in the same database, pandas groupby
on the DataFrame in memory and including reading it from a CSV file, and DuckDB in memory.

    pip install -e ".[bench]" && python bench/reports.py [--rows N] [--pg URL | --no-pg]

Targets: with a summary, Ordo on SQLite <= 1x pandas in memory; by a scan, <= 3x the plain
GROUP BY in the same database. The scan is timed twice: computing the month per row
(``stored_buckets: false``), then with the month kept as a generated column read from the
report's index (``stored_buckets: true``, added by schema sync over the loaded rows; the time of
that sync is printed). The report runs through the public API
(``app.features["reports"].report(...)``: parameters, row permissions, SQL, result shaping);
pandas and DuckDB derive the month inside the timed part, like the report. Data are written
straight into the entity's table (bulk load), identical for every engine; the summary is then
built by ``rebuild`` (as ``ordo report rebuild`` does); the figures of all engines are checked to
agree. Also printed: what keeping the summary costs a write (single-record creates with and without
the summary's write listener).
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
REPORT = """
    name: {name}
    source: order_line
    summary: {summary}
    stored_buckets: {stored}
    params:
      period: {{type: period, default: all}}
    filters: ["order_date >= :period_start and order_date < :period_end"]
    dimensions:
      - {{name: month, expr: order_date, bucket: month}}
      - channel
    measures:
      - {{name: lines, agg: count}}
      - {{name: qty, agg: sum, expr: qty}}
      - {{name: revenue, agg: sum, expr: amount}}
"""
PLAIN = {  # the same report as a hand-written GROUP BY
    "sqlite": "SELECT substr(order_date, 1, 7) AS month, channel, count(*), sum(qty), sum(amount) "
              "FROM order_line WHERE order_date IS NOT NULL GROUP BY 1, 2",
    "postgresql": "SELECT date_trunc('month', order_date) AS month, channel, count(*), sum(qty), sum(amount) "
                  "FROM order_line WHERE order_date IS NOT NULL GROUP BY 1, 2",
}
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
    "reports/month_channel.yaml": REPORT.format(name="month_channel", summary="false", stored="false"),
    "reports/month_channel_summary.yaml": REPORT.format(name="month_channel_summary", summary="true",
                                                        stored="false"),
}


def stored_bucket(root: Path, on: bool) -> None:
    """Turn the stored month bucket of the scanned report on or off (the next open syncs it)."""
    p = root / "reports" / "month_channel.yaml"
    p.write_text(p.read_text().replace(f"stored_buckets: {str(not on).lower()}", f"stored_buckets: {str(on).lower()}"))


def write_app(root: Path, files: dict[str, str] | None = None) -> Path:
    for rel, text in (files or FILES).items():
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
        raw.commit()
    finally:
        raw.close()
    vacuum_pg(engine)


def vacuum_pg(engine: sa.Engine) -> None:
    """VACUUM ANALYZE, as autovacuum leaves a table (statistics, and the visibility map an index-only
    scan needs)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE order_line")


CPU: dict[str, float] = {}  # best CPU seconds of this process (in-process engines: SQLite, pandas)


def timed(name: str, repeat: int, fn) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        CPU[name] = min(CPU.get(name, 9e9), time.process_time() - c0)
    return times, out


def time_report(app, repeat: int, name: str, report: str = "month_channel") -> tuple[list[float], object]:
    reports = app.features["reports"]
    return timed(name, repeat, lambda: reports.report(report, user="bench", params={"period": "all"}))


def time_plain(app, repeat: int, name: str) -> list[float]:
    sql = PLAIN[app.engine.dialect.name]

    def run():
        with app.engine.connect() as conn:
            return conn.exec_driver_sql(sql).all()
    return timed(name, repeat, run)[0]


def group_pandas(df: pd.DataFrame) -> pd.DataFrame:
    return (df.groupby([df["order_date"].dt.to_period("M"), "channel"], observed=True)
            .agg(lines=("qty", "size"), qty=("qty", "sum"), revenue=("amount", "sum")))


def time_pandas(df: pd.DataFrame, repeat: int) -> tuple[list[float], pd.DataFrame]:
    return timed("pandas", repeat, lambda: group_pandas(df))  # type: ignore[return-value]


def time_pandas_csv(df: pd.DataFrame, tmp: Path, repeat: int) -> list[float]:
    path = tmp / "lines.csv"
    df.to_csv(path, index=False)
    return timed("pandas+csv", repeat, lambda: group_pandas(pd.read_csv(
        path, parse_dates=["order_date"], dtype={"channel": "category"})))[0]


def time_duckdb(df: pd.DataFrame, repeat: int) -> list[float] | None:
    try:
        import duckdb
    except ImportError:
        print("DuckDB       not installed (pip install duckdb): skipped")
        return None
    con = duckdb.connect()
    con.register("lines", df)
    sql = ("SELECT date_trunc('month', order_date) AS month, channel, count(*), sum(qty), sum(amount) "
           "FROM lines GROUP BY ALL")
    try:
        return timed("DuckDB", repeat, lambda: con.execute(sql).fetchall())[0]
    finally:
        con.close()


def write_cost(tmp: Path, n: int = 300) -> None:
    """Single-record creates per second with and without the summary's write listener."""
    out = {}
    for label, summary in (("without summary", "false"), ("with summary", "true")):
        files = dict(FILES)
        files["reports/month_channel_summary.yaml"] = REPORT.format(name="month_channel_summary", summary=summary,
                                                                    stored="false")
        app_dir = write_app(tmp / f"write_{summary}", files)
        app = open_app(app_dir, f"sqlite:///{tmp / f'write_{summary}.db'}")
        try:
            t0 = time.perf_counter()
            for i in range(n):
                app.create("order_line", {"order_date": f"2024-0{1 + i % 9}-1{i % 10}", "channel": CHANNELS[i % 5],
                                          "sku": f"SKU-{i}", "qty": 1 + i % 7, "amount": "12.50"}, "bench")
            out[label] = (time.perf_counter() - t0) / n
        finally:
            app.close()
    a, b = out["without summary"], out["with summary"]
    print(f"write cost   create without summary {a * 1000:6.2f} ms, with summary {b * 1000:6.2f} ms "
          f"(+{(b - a) * 1000:.2f} ms, {100 * (b - a) / a:+.0f}% of a write; SQLite, {n} creates)")


def figures(result) -> dict:
    return {(f"{r['month']:%Y-%m}", r["channel"]): (r["lines"], int(r["qty"]), round(Decimal(r["revenue"]), 2))
            for r in result.rows}


def pandas_figures(out: pd.DataFrame) -> dict:
    return {(str(m), ch): (int(r.lines), int(r.qty), round(Decimal(repr(float(r.revenue))), 2))
            for (m, ch), r in out.iterrows()}


def line(name: str, times: list[float], n: int) -> str:
    best = min(times)
    cpu = f"   cpu {CPU[name]:6.3f} s" if name in CPU and not name.startswith("PostgreSQL") else \
        "   (cpu in the server)"
    return (f"{name:<23} first {times[0]:7.3f} s   best {best:7.3f} s   median {statistics.median(times):7.3f} s"
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
    best: dict[str, float] = {}

    def report(name: str, times: list[float], result: object = None) -> None:
        best[name] = min(times)
        print(line(name, times, args.rows), flush=True)
        if result is not None:
            results[name] = figures(result)

    def ordo(app, db: str, reopen) -> None:
        """The scan computing the month per row, then (stored_buckets: true, synced over the loaded
        rows) the scan reading the stored month from the report's index, the summary, the plain GROUP BY."""
        report(f"{db} scan per row", *time_report(app, args.repeat, f"{db} scan per row"))
        app.close()
        stored_bucket(app_dir, True)
        t0 = time.perf_counter()
        app = reopen()
        print(f"{db}: stored month bucket and its index added over {args.rows:,} rows by schema sync in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        if db == "PostgreSQL":
            vacuum_pg(app.engine)
        app.features["reports"].rebuild("month_channel_summary", user="bench")
        report(f"{db} scan", *time_report(app, args.repeat, f"{db} scan"))
        report(f"{db} summary", *time_report(app, args.repeat, f"{db} summary", "month_channel_summary"))
        report(f"{db} GROUP BY", time_plain(app, args.repeat, f"{db} GROUP BY"))
        plan = app.features["reports"].explain("month_channel", user="bench", params={"period": "all"})
        print(textwrap.indent("\n".join(ln for ln in plan.split("-- plan")[1].splitlines() if ln.strip()),
                              f"{db} plan: "), flush=True)
        app.close()

    with tempfile.TemporaryDirectory() as tmp:
        app_dir = write_app(Path(tmp) / "app")
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        app = open_app(app_dir, f"sqlite:///{db}")
        load_sqlite(app.engine, df)
        print(f"SQLite loaded in {time.perf_counter() - t0:.1f} s ({db.stat().st_size / 1e6:.0f} MB)", flush=True)
        ordo(app, "SQLite", lambda: open_app(app_dir, f"sqlite:///{db}"))

        if not args.no_pg:
            admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
            schema = "ordo_bench_reports"
            with admin.connect() as c:
                c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                c.exec_driver_sql(f"CREATE SCHEMA {schema}")
            sep = "&" if "?" in args.pg else "?"
            try:
                t0 = time.perf_counter()
                url = f"{args.pg}{sep}options=-csearch_path%3D{schema}"
                stored_bucket(app_dir, False)
                app = open_app(app_dir, url)
                load_pg(app.engine, df)
                print(f"PostgreSQL loaded in {time.perf_counter() - t0:.1f} s", flush=True)
                ordo(app, "PostgreSQL", lambda: open_app(app_dir, url))
            finally:
                with admin.connect() as c:
                    c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                admin.dispose()

        times, out = time_pandas(df, args.repeat)
        report("pandas", times)
        results["pandas"] = pandas_figures(out)
        report("pandas+csv", time_pandas_csv(df, Path(tmp), args.repeat))
        duck = time_duckdb(df, args.repeat)
        if duck is not None:
            report("DuckDB", duck)
        write_cost(Path(tmp))
    reference = results["pandas"]
    for name, got in results.items():
        same = got == reference
        print(f"{name:<23} {len(got)} groups, figures {'agree with pandas' if same else 'DIFFER from pandas'}")
    summary, scan, plain, pandas = best["SQLite summary"], best["SQLite scan"], best["SQLite GROUP BY"], best["pandas"]
    print(f"target: SQLite with a summary <= 1x pandas in memory: {'met' if summary <= pandas else 'NOT met'} "
          f"({summary:.4f} s = {summary / pandas:.2f}x pandas {pandas:.4f} s)")
    print(f"target: SQLite scan <= 3x a plain GROUP BY in SQLite: {'met' if scan <= 3 * plain else 'NOT met'} "
          f"({scan:.3f} s = {scan / plain:.2f}x {plain:.3f} s); load average {load_average()}")
    for db in ("SQLite", "PostgreSQL"):
        if f"{db} scan" in best:
            per_row, stored, plain = best[f"{db} scan per row"], best[f"{db} scan"], best[f"{db} GROUP BY"]
            print(f"{db}: scan with the stored month {stored:.3f} s = {stored / plain:.2f}x the plain GROUP BY; "
                  f"computing it per row {per_row:.3f} s = {per_row / plain:.2f}x "
                  f"(stored bucket: {per_row / stored:.1f}x faster)")


if __name__ == "__main__":
    main()
