"""A report with more rows than a page or JSON may hold, exported as CSV and XLSX: every row streamed
(issue 16), with the time of each export (and with --memory its peak Python memory) next to the row count.

    python bench/report_stream.py [--rows N] [--memory] [--db URL]

Memory stays bounded: the export fetches rows a page at a time and writes them as they come, so the
peak grows with the page, not with the result (measured: 100,000 rows, CSV 3.2 MB peak of which 1.9 MB
is the CSV itself, XLSX 12.5 MB; compare --rows 200000 --memory).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import tempfile
import textwrap
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from ordo.engine import open_app

FILES = {
    "app.yaml": "name: bench_report_stream\nversion: 1\n",
    "entities/item.yaml": """
        name: item
        fields:
          code: {type: string}
          amount: {type: money}
    """,
    "reports/by_code.yaml": """
        name: by_code
        source: item
        dimensions: [code]
        measures:
          - {name: items, agg: count}
          - {name: amount, agg: sum, expr: amount, format: money}
        totals: true
    """,
}
NOW = dt.datetime(2024, 12, 31)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--memory", action="store_true",
                    help="also trace the peak Python memory (tracemalloc; slows the exports several times; "
                         "the CSV is written to memory, so its peak includes the file)")
    ap.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "app"
        for rel, text in FILES.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(textwrap.dedent(text), encoding="utf-8")
        app = open_app(root, args.db or f"sqlite:///{tmp}/bench.db")
        try:
            table = app.compiled.entities["item"].table
            t0 = time.perf_counter()
            with app.engine.begin() as conn:
                conn.execute(sa.insert(table), [
                    {"name": f"I{i:08d}", "created_at": NOW, "created_by": "bench", "updated_at": NOW,
                     "updated_by": "bench", "version": 1, "code": f"C{i:08d}", "amount": Decimal(f"{i % 1000}.50")}
                    for i in range(args.rows)])
            print(f"{args.rows:,} rows loaded in {time.perf_counter() - t0:.1f} s")
            reports = app.features["reports"]
            for fmt in ("csv", "xlsx"):
                out = io.BytesIO() if fmt == "csv" else open(Path(tmp) / "out.xlsx", "wb")  # noqa: SIM115
                if args.memory:
                    tracemalloc.start()
                t0 = time.perf_counter()
                with app.reader("admin") as tx:
                    n = reports.stream(tx, "by_code", fmt, out)
                seconds = time.perf_counter() - t0
                peak = tracemalloc.get_traced_memory()[1] if args.memory else None
                tracemalloc.stop()
                size = out.tell()
                out.close()
                memory = f"  peak Python memory {peak / 2**20:6.1f} MB" if peak is not None else ""
                print(f"{fmt:5} {n:>10,} rows  {seconds:7.2f} s  {size / 2**20:7.1f} MB written{memory}")
        finally:
            app.close()


if __name__ == "__main__":
    main()
