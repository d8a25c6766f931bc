"""Concurrent allocations on PostgreSQL: real connections in threads, never an over-reservation."""

from __future__ import annotations

import random
import threading

import pytest

from ordo.engine import open_app

from .allocation_apps import app_files

THREADS = 24


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
