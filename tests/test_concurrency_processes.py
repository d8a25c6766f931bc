"""The concurrency guarantees with 4 processes (spawned, each with its own engine and connections, no GIL
shared) on PostgreSQL: no lost update, no double approval, no over-reservation of stock. The thread-based
variants are in test_concurrency.py, test_flow_concurrency.py and test_allocation_concurrency.py."""

from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import open_app

from . import process_kit
from .allocation_apps import app_files
from .conftest import PG_URL
from .flowkit import ENTITIES, T0, Kit, roles_yaml
from .test_concurrency import APP as COUNTER_APP

PROCESSES = 4
APPROVAL = """name: f
entity: expense
trigger: {on: create}
state_field: stage
nodes:
  ask: {type: approval, approvers: [{role: finance}], next: done}
  done: {type: end}
"""


@pytest.fixture(scope="module")
def pool():
    if not PG_URL:
        pytest.skip("ORDO_TEST_PG_URL not set")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=ctx, initializer=process_kit.init,
                             initargs=(ctx.Barrier(PROCESSES),)) as executor:
        yield executor


def run_in_processes(pool, fn, calls: list[tuple]) -> list:
    """Run ``fn(*args)`` for each of the 4 argument tuples, one per process, all released at once."""
    assert len(calls) == PROCESSES
    try:
        return [f.result(timeout=300) for f in [pool.submit(fn, *args) for args in calls]]
    finally:
        assert sum(f.result(timeout=300) for f in [pool.submit(process_kit.close_all) for _ in calls]) >= 0


def test_no_lost_update_across_processes(make_app, pg_url, pool):
    folder = make_app(COUNTER_APP)
    app = open_app(folder, pg_url)
    rec = app.create("counter", {"value": 0}, "u")
    run_in_processes(pool, process_kit.increment,
                     [(str(folder), pg_url, "counter", rec["id"], 5)] * PROCESSES)
    final = app.get("counter", rec["id"], "u")
    assert (final["value"], final["version"]) == (20, 21)  # every increment kept, none applied twice
    assert len(app.audit_log(user="u", entity="counter", action="update", limit=1000)) == 20
    app.close()


def test_no_double_approval_across_processes(make_app, pg_url, pool):
    folder = make_app({**ENTITIES, "roles.yaml": roles_yaml(["f"]), "flows/f.yaml": APPROVAL})
    clock = Clock(T0)
    kit = Kit(open_app(folder, pg_url, clock=clock), clock)
    expenses = [kit.expense() for _ in range(4)]
    tasks = [kit.status(e).tasks[0]["id"] for e in expenses]
    won = run_in_processes(pool, process_kit.approve_all,
                           [(str(folder), pg_url, user, order) for user, order in
                            (("fin1", tasks), ("fin2", tasks), ("fin1", tasks[::-1]), ("fin2", tasks[::-1]))])
    assert sorted(t for w in won for t in w) == sorted(tasks)  # each task won by exactly one process
    for e in expenses:
        actions = [ev.action for ev in kit.timeline(e)]
        assert actions.count("approve") == 1 and actions.count("completed") == 1
        assert kit.status(e).status == "completed"
    kit.app.close()


def test_no_over_reservation_across_processes(make_app, pg_url, pool):
    folder = make_app(app_files(strategy="per_line", partial=True, split=True))
    app = open_app(folder, pg_url)
    for code in ("A", "B"):
        app.create("site", {"code": code, "lat": "45", "lon": "4"}, "admin")
    app.create("product", {"code": "P1"}, "admin")
    for site, qty, safety in (("A", 10, 2), ("B", 5, 0)):
        app.create("stock", {"site": site, "product": "P1", "on_hand": qty, "safety": safety}, "admin")
    rnd = random.Random(7)
    orders = [app.create("order", {"lat": "45", "lon": "4", "lines": [{"product": "P1", "qty": rnd.randint(1, 3)}]},
                         "admin")["id"] for _ in range(16)]
    results = run_in_processes(pool, process_kit.allocate_all,
                               [(str(folder), pg_url, f"user{k}", orders[k::PROCESSES]) for k in range(PROCESSES)])
    assert sorted(o for r in results for o, _ in r) == sorted(orders)  # each order allocated once
    stock = app.query("stock", user="admin")
    for s in stock:
        assert 0 <= s["reserved"] <= s["on_hand"] - s["safety"]
        recs = app.query("allocation", "stock == :s and status == 'reserved'", user="admin", params={"s": s["id"]},
                         limit=1000)
        assert sum(r["qty"] for r in recs) == s["reserved"]  # every reserved unit has its record
    assert sum(s["reserved"] for s in stock) == 13  # demand (16 orders of 1-3) exceeds the 13 sellable units
    app.close()
