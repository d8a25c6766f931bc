"""Concurrent allocations on PostgreSQL: real connections in threads, never an over-reservation."""

from __future__ import annotations

import random
import threading

import pytest

from ordo.engine import open_app

from .allocation_apps import app_files

THREADS = 24
ROUNDS = 2


def _run_all(fns):
    barrier = threading.Barrier(len(fns))
    errors: list[BaseException] = []
    results: list = [None] * len(fns)

    def run(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("strategy", ["per_line", "fewest_splits"])
def test_concurrent_allocations_never_over_reserve(make_app, pg_url, strategy):
    app = open_app(make_app(app_files(strategy=strategy, partial=True, split=True)), pg_url)
    for code in ("A", "B", "C"):
        app.create("site", {"code": code, "lat": "45", "lon": "4"}, "admin")
    for p in ("P1", "P2"):
        app.create("product", {"code": p}, "admin")
    for site, product, qty, safety in [("A", "P1", 10, 2), ("B", "P1", 7, 0), ("C", "P1", 3, 0),
                                       ("A", "P2", 5, 0), ("B", "P2", 5, 1)]:
        app.create("stock", {"site": site, "product": product, "on_hand": qty, "safety": safety}, "admin")
    rnd = random.Random(7)
    orders = [app.create("order", {"lat": "45", "lon": "4", "lines": [
        {"product": "P1", "qty": rnd.randint(1, 4)}, {"product": "P2", "qty": rnd.randint(1, 2)}]}, "admin")["id"]
        for _ in range(THREADS)]
    service = app.features["allocation"]

    def allocate(oid):
        def fn():
            with app.transaction(f"user{oid}") as tx:
                return service.allocate(tx, "fulfil", oid)
        return fn

    results = _run_all([allocate(o) for o in orders])
    stock = app.query("stock", user="admin")
    for s in stock:
        assert 0 <= s["reserved"] <= s["on_hand"] - s["safety"]
        recs = app.query("allocation", "stock == :s and status == 'reserved'", user="admin", params={"s": s["id"]},
                         limit=1000)
        assert sum(r["qty"] for r in recs) == s["reserved"]  # every reserved unit has its record
    by_product: dict[int, int] = {}
    for s in stock:
        by_product[s["product"]] = by_product.get(s["product"], 0) + s["reserved"]
    assert by_product == {1: 18, 2: 9}  # all sellable units were taken: demand exceeds supply
    assert sum(r.status == "partial" for r in results) >= 1
    filled = sum(ln.filled for r in results for ln in r.lines)
    backordered = sum(ln.backorder for r in results for ln in r.lines)
    wanted = sum(ln["qty"] for o in orders for ln in app.get("order", o, "admin")["lines"])
    assert filled == 27 and filled + backordered == wanted
    app.close()


def test_the_same_demand_allocated_twice_at_once_is_allocated_once(make_app, pg_url):
    app = open_app(make_app(app_files(strategy="per_line")), pg_url)
    app.create("site", {"code": "A"}, "admin")
    app.create("product", {"code": "P1"}, "admin")
    app.create("stock", {"site": "A", "product": "P1", "on_hand": 100}, "admin")
    oid = app.create("order", {"lines": [{"product": "P1", "qty": 5}]}, "admin")["id"]
    service = app.features["allocation"]

    def fn():
        with app.transaction("alice") as tx:
            return service.allocate(tx, "fulfil", oid).status

    assert sorted(_run_all([fn] * 8)) == ["allocated"] + ["nothing_to_do"] * 7
    assert app.query("stock", user="admin")[0]["reserved"] == 5
    app.close()


def test_releasing_and_allocating_multi_line_demands_in_opposite_orders_never_deadlocks(make_app, pg_url,
                                                                                        monkeypatch):
    """Release walks a demand's records; allocate reserves picks. Demands whose lines name the supply in
    descending order (records created that way) released while others allocate in ascending order would
    lock the same rows in opposite orders: supply rows are locked in one global order on every path."""
    from ordo.engine import db
    from ordo.engine.allocation import runtime

    races: list[str] = []

    def seen(error, real=db.lost_race):
        race = real(error)
        if race:
            races.append(race)
        return race

    monkeypatch.setattr(db, "lost_race", seen)  # every retry path asks this
    monkeypatch.setattr(runtime, "lost_race", seen)
    app = open_app(make_app(app_files(strategy="per_line")), pg_url)
    app.create("site", {"code": "A"}, "admin")
    products = [app.create("product", {"code": f"P{i}"}, "admin")["code"] for i in range(6)]
    for p in products:
        app.create("stock", {"site": "A", "product": p, "on_hand": 100_000}, "admin")
    service = app.features["allocation"]

    def order(names):
        return app.create("order", {"lines": [{"product": p, "qty": 1} for p in names]}, "admin")["id"]

    def allocate(oid):
        def fn():
            with app.transaction("alloc") as tx:
                return service.allocate(tx, "fulfil", oid).status
        return fn

    def release(oid):
        def fn():
            with app.transaction("release") as tx:
                return service.release(tx, "fulfil", oid).status
        return fn

    for _ in range(ROUNDS):
        held = [order(reversed(products)) for _ in range(THREADS // 2)]
        for oid in held:
            allocate(oid)()
        fresh = [order(products) for _ in range(THREADS // 2)]
        work = [fn for pair in zip((release(o) for o in held), (allocate(o) for o in fresh), strict=True)
                for fn in pair]
        assert sorted(set(_run_all(work))) == ["allocated", "released"]
    for s in app.query("stock", user="admin"):
        recs = app.query("allocation", "stock == :s and status == 'reserved'", user="admin", params={"s": s["id"]},
                         limit=1000)
        assert sum(r["qty"] for r in recs) == s["reserved"] == ROUNDS * THREADS // 2
    assert races == []  # not even a retried deadlock
    app.close()


def test_a_unit_of_work_that_loses_a_real_deadlock_is_run_again(make_app, pg_url):
    """Two units of work lock two supply rows in opposite orders at the same moment: PostgreSQL makes one the
    deadlock victim; App.run rolls it back and runs it again, so both succeed and nothing is counted twice."""
    app = open_app(make_app(app_files(strategy="per_line")), pg_url)
    app.create("site", {"code": "A"}, "admin")
    app.create("product", {"code": "P1"}, "admin")
    app.create("product", {"code": "P2"}, "admin")
    ids = [app.create("stock", {"site": "A", "product": p, "on_hand": 10}, "admin")["id"] for p in ("P1", "P2")]
    meet = threading.Barrier(2, timeout=10)
    runs: list[str] = []

    def work(first, second, who):
        def fn(tx):
            runs.append(who)
            tx.update("stock", first, {"on_hand": tx.get("stock", first, for_update=True)["on_hand"] + 1})
            if runs.count(who) == 1:
                meet.wait()  # both hold their first row now
            tx.update("stock", second, {"on_hand": tx.get("stock", second, for_update=True)["on_hand"] + 1})
            return who
        return lambda: app.run("admin", fn, f"moving stock ({who})")

    assert sorted(_run_all([work(ids[0], ids[1], "a"), work(ids[1], ids[0], "b")])) == ["a", "b"]
    assert len(runs) == 3  # the deadlock victim ran twice
    assert [s["on_hand"] for s in app.query("stock", user="admin", order_by="id")] == [12, 12]
    app.close()
