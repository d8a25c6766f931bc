"""Python CPU per record write: ``tx.create`` / ``tx.update`` of an order with 3 child rows and 2 links.

    python bench/records_cpu.py [--writes 2000] [--per-tx 100] [--rounds 1] [--pg URL | --no-pg] [--profile]
                                  [--baseline REF]

The app of ``tests/test_statement_budgets.py`` (order -> customer, warehouse; 3 lines; a computed total and a
rule reading the customer). Creates ``--writes`` orders in transactions of ``--per-tx``, then updates each
once (its status and one line's quantity). Prints CPU microseconds per write (``time.process_time``, so the
load of other processes matters less than wall time) and statements per write, on SQLite and PostgreSQL.
Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

APP = {
    "entities/customer.yaml": """
        name: customer
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          credit_limit: {type: money, default: 100000}
    """,
    "entities/warehouse.yaml": """
        name: warehouse
        naming: "{code}"
        fields:
          code: {type: string, required: true}
    """,
    "entities/order.yaml": """
        name: order
        naming: "SO-{#####}"
        fields:
          customer: {type: link, entity: customer, required: true}
          warehouse: {type: link, entity: warehouse, required: true}
          status: {type: enum, options: [new, paid], default: new}
          note: {type: string}
          lines: {type: table, entity: line, required: true}
          total: {type: computed, expr: "sum(lines, amount)"}
        validations:
          - expr: "total <= customer.credit_limit"
            message: over the credit limit
        ---
        name: line
        child: true
        fields:
          sku: {type: string, required: true}
          qty: {type: integer, required: true, min: 1}
          price: {type: money, required: true}
          amount: {type: computed, expr: "qty * price"}
    """,
}


def write_app(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text("name: bench\nversion: 1\n", encoding="utf-8")
    for rel, text in APP.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def run(url: str, app_dir: Path, writes: int, per_tx: int, profile: bool) -> dict[str, float]:
    from ordo.dsl.expr import Clock
    from ordo.engine import open_app
    from ordo.engine.actor import User
    from ordo.engine.stats import count_statements

    admin = User("admin", ("admin",), True, {})
    app = open_app(app_dir, url, create=True, clock=Clock(dt.datetime(2026, 3, 1, 9)))
    try:
        if not app.query("customer", "code == 'C1'", user=admin):  # a later round: already there
            app.create("customer", {"code": "C1"}, admin)
            app.create("warehouse", {"code": "W1"}, admin)
        order = {"customer": "C1", "warehouse": "W1",
                 "lines": [{"sku": f"S{i}", "qty": 1 + i, "price": "10.50"} for i in range(3)]}
        app.create("order", order, admin)  # warm: plans compiled, the name's series exists
        prof = cProfile.Profile() if profile else None
        ids: list[int] = []
        with count_statements(app.engine) as counts:
            t0 = time.process_time()
            if prof:
                prof.enable()
            for start in range(0, writes, per_tx):
                with app.transaction(admin) as tx:
                    for _ in range(min(per_tx, writes - start)):
                        ids.append(tx.create("order", order)["id"])
            if prof:
                prof.disable()
            create_cpu = time.process_time() - t0
        create_statements = len(counts.texts)
        with count_statements(app.engine) as counts:
            t0 = time.process_time()
            if prof:
                prof.enable()
            for start in range(0, len(ids), per_tx):
                with app.transaction(admin) as tx:
                    for rid in ids[start:start + per_tx]:
                        rec = tx.get("order", rid)
                        lines = [dict(r) for r in rec["lines"]]
                        lines[0]["qty"] = 7
                        tx.update("order", rid, {"status": "paid", "lines": lines})
            if prof:
                prof.disable()
            update_cpu = time.process_time() - t0
        update_statements = len(counts.texts)
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    finally:
        app.close()
    return {"create_us": create_cpu / writes * 1e6, "update_us": update_cpu / writes * 1e6,
            "create_stmts": create_statements / writes, "update_stmts": update_statements / writes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--per-tx", type=int, default=100)
    ap.add_argument("--pg", default=os.environ.get("ORDO_BENCH_PG_URL") or os.environ.get("ORDO_TEST_PG_URL"))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="repeat and print the lowest CPU of the rounds")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--baseline", help="also run an older tree (git ref), right after, for figures side by side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app_dir = write_app(Path(tmp) / "app")
        targets = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.pg and not args.no_pg:
            targets.append(("postgresql", args.pg))
        for label, url in targets:
            drop = None
            if label == "postgresql":
                from intake import pg_schema_url  # a schema of its own, dropped afterwards
                url, drop = pg_schema_url(url)
            try:
                found = [run(url, app_dir, args.writes, args.per_tx, args.profile) for _ in range(args.rounds)]
            finally:
                if drop is not None:
                    drop()
            r = {k: min(f[k] for f in found) for k in found[0]}
            print(f"{label:10s} create {r['create_us']:7.0f} us CPU ({r['create_stmts']:.2f} statements)   "
                  f"get+update {r['update_us']:7.0f} us CPU ({r['update_stmts']:.2f} statements)", flush=True)
            if args.baseline:
                from baseline import run_baseline

                db = ["--no-pg"] if label == "sqlite" else ["--pg", args.pg]
                out = run_baseline(__file__, ["--writes", str(args.writes), "--per-tx", str(args.per_tx),
                                              "--rounds", str(args.rounds), *db], args.baseline)
                line = [x for x in out.splitlines() if x.startswith(label)][-1]
                print(f"{args.baseline[:10]:10s}" + line[10:], flush=True)


if __name__ == "__main__":
    sys.exit(main())
