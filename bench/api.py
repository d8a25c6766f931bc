"""Requests per second and latency of ``ordo serve`` over loopback, with concurrent HTTP clients.

    python bench/api.py [--seconds 10] [--clients 8] [--rate 200] [--pg postgresql+psycopg://postgres@127.0.0.1/test]

For each set-up (SQLite with 1 worker; with ``--pg``, PostgreSQL with 1 and 4 workers) it starts a real
``ordo serve`` process on a fresh database and measures, through the REST API with an API token:

* create: ``POST /api/v1/records/ticket`` of a record with 3 child rows, as fast as the clients go;
* list at a fixed rate: ``GET /api/v1/records/ticket?limit=50`` (with total and a filter) sent at
  ``--rate`` requests per second; latency counts from when each request was due, so a server that
  falls behind shows it (target: p99 under 50 ms at 200 requests/s on SQLite);
* list flat out: the same list as fast as the clients go.

Prints requests/second, p50/p99 latency in milliseconds and the server's CPU milliseconds per request (its
processes' user + system time over the measurement, from /proc). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import sqlalchemy as sa

FILES = {
    "app.yaml": "name: benchapi\nversion: 1\n",
    "entities/ticket.yaml": """
        name: ticket
        naming: "T-{#######}"
        title_field: subject
        fields:
          subject: {type: string}
          owner: {type: string, index: true}
          priority: {type: enum, options: [low, normal, high], default: normal}
          amount: {type: money}
          items: {type: table, entity: ticket_item}
          total: {type: computed, expr: "sum(items, cost)"}
    """,
    "entities/ticket_item.yaml": """
        name: ticket_item
        child: true
        fields:
          what: {type: string}
          hours: {type: decimal, scale: 2}
          rate: {type: money}
          cost: {type: computed, expr: "hours * rate"}
    """,
}
BODY = {"subject": "printer on fire", "owner": "ann", "priority": "high", "amount": "120.00",
        "items": [{"what": "look", "hours": "0.5", "rate": "80"}, {"what": "fix", "hours": "1.25", "rate": "80"},
                  {"what": "test", "hours": "0.25", "rate": "60"}]}
LIST = {"limit": "50", "where": "priority == 'high'", "order_by": "-created_at"}


def write_app(root: Path) -> Path:
    for rel, text in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[str]:
    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def prepare(app_dir: Path, db: str) -> str:
    """Create the database and a user with an API token; return the token."""
    from ordo.engine import SYSTEM, open_app
    from ordo.engine.credentials import Credentials

    with open_app(app_dir, db) as app, app.transaction(SYSTEM) as tx:
        tx.users.save("ann")
        return Credentials(tx.conn).create_token("ann", tx.now)[1]


@contextlib.contextmanager
def serving(app_dir: Path, db: str, workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ordo", "serve", str(app_dir), "--db", db, "--port", str(port),
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"ordo serve exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise SystemExit("ordo serve did not answer within 60 s")
        time.sleep(0.5 * workers)  # let every worker start
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def drive(base: str, token: str, clients: int, seconds: float, call: Callable[[httpx.Client], httpx.Response],
          rate: float | None = None) -> tuple[float, list[float], int]:
    """Run ``call`` from ``clients`` threads for ``seconds`` (at ``rate`` requests/s in all, else flat out);
    return (requests/s, latencies in ms, errors)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    end = start + seconds

    def worker(n: int) -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            k = 0
            while True:
                due = start + (k * clients + n) / rate if rate else time.perf_counter()
                if due >= end:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif not rate and time.perf_counter() < start:
                    time.sleep(start - time.perf_counter())
                    due = time.perf_counter()
                if time.perf_counter() >= end:
                    break
                r = call(client)
                mine.append((time.perf_counter() - due) * 1000)
                bad += r.status_code >= 400
                k += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / seconds, latencies, errors


def server_cpu(pid: int) -> float | None:
    """CPU seconds used so far by the server process ``pid`` and its worker processes (Linux /proc)."""
    def stat(p: str) -> list[str]:
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()

    try:
        total = 0.0
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                fields = stat(p)
            except OSError:
                continue
            if int(p) == pid or int(fields[1]) == pid:  # fields: state, ppid, ..., utime (12), stime (13)
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def bench(label: str, app_dir: Path, db: str, workers: int, args: argparse.Namespace) -> None:
    token = prepare(app_dir, db)
    with serving(app_dir, db, workers) as (base, pid):
        def create(c: httpx.Client) -> httpx.Response:
            return c.post("/api/v1/records/ticket", json=BODY)

        def listing(c: httpx.Client) -> httpx.Response:
            return c.get("/api/v1/records/ticket", params=LIST)

        drive(base, token, args.clients, 1.0, create)  # warm up (and some records to list)
        for name, call, rate in (("create (3 child rows)", create, None),
                                 (f"list 50 at {args.rate:g}/s", listing, args.rate),
                                 ("list 50 flat out", listing, None)):
            cpu = server_cpu(pid)
            rps, lat, errors = drive(base, token, args.clients, args.seconds, call, rate)
            after = server_cpu(pid)
            per = (after - cpu) * 1000 / (rps * args.seconds) if cpu is not None and after is not None and rps \
                else float("nan")
            print(f"{label:<11} {workers:>7}  {name:<22} {rps:>8.0f} {pct(lat, 50):>8.1f} {pct(lat, 99):>8.1f}"
                  f" {per:>10.2f}" + (f"  ({errors} errors)" if errors else ""), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    p.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    p.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate list")
    p.add_argument("--pg", help="PostgreSQL URL (a fresh schema is created and dropped)")
    args = p.parse_args()
    print(f"{'database':<11} {'workers':>7}  {'operation':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'server CPU':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        app_dir = write_app(Path(tmp) / "app")
        bench("sqlite", app_dir, f"sqlite:///{Path(tmp) / 'bench.db'}", 1, args)
        if args.pg:
            for workers in (1, 4):
                with pg_schema(args.pg) as url:
                    bench("postgresql", app_dir, url, workers, args)


if __name__ == "__main__":
    main()
