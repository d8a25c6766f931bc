"""Demand-to-supply allocation through the public API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import open_app

from .allocation_apps import app_files

SITES = [  # code, priority, lat, lon, active
    ("A", 1, "48.8566", "2.3522", True),  # Paris
    ("B", 2, "45.7640", "4.8357", True),  # Lyon
    ("C", 3, "43.2965", "5.3698", True),  # Marseille
    ("X", 0, "50.0", "3.0", False),  # inactive: never a candidate
]


def open_shop(make_app, db_url, stock, **rule):
    app = open_app(make_app(app_files(**rule)), db_url, clock=Clock(dt.datetime(2026, 3, 2, 10, 0)))
    for code, prio, lat, lon, active in SITES:
        app.create("site", {"code": code, "priority": prio, "lat": lat, "lon": lon, "active": active}, "admin")
    for p in ("P1", "P2", "P3"):
        app.create("product", {"code": p}, "admin")
    for site, product, on_hand in stock:
        app.create("stock", {"site": site, "product": product, "on_hand": on_hand}, "admin")
    return app


def order(app, *lines, lat="45.0", lon="4.0"):
    return app.create("order", {"lat": lat, "lon": lon,
                                "lines": [{"product": p, "qty": q} for p, q in lines]}, "admin")["id"]


def allocate(app, order_id, rule="fulfil", explain=False):
    with app.transaction("alice") as tx:
        return app.features["allocation"].allocate(tx, rule, order_id, explain=explain)


def reserved(app):
    rows = app.query("stock", user="admin")
    sites = {s["id"]: s["code"] for s in app.query("site", user="admin")}
    products = {p["id"]: p["code"] for p in app.query("product", user="admin")}
    return {(sites[r["site"]], products[r["product"]]): r["reserved"] for r in rows if r["reserved"]}


def picked(result):
    return sorted((ln.item, a.location, a.quantity) for ln in result.lines for a in ln.allocated)


@pytest.fixture
def shop(make_app, db_url):
    apps = []

    def make(stock, **rule):
        app = open_shop(make_app, db_url, stock, **rule)
        apps.append(app)
        return app

    yield make
    for a in apps:
        a.close()


STOCK = [("A", "P1", 10), ("A", "P2", 1), ("B", "P1", 10), ("B", "P2", 10), ("X", "P1", 99), ("X", "P2", 99)]


def test_per_line_takes_best_ranked_location_per_line(shop):
    app = shop(STOCK, strategy="per_line")
    result = allocate(app, order(app, ("P1", 2), ("P2", 3)))
    assert result.status == "allocated"
    assert picked(result) == [("P1", "A", 2), ("P2", "B", 3)]  # A ranks first but has 1 of P2
    assert reserved(app) == {("A", "P1"): 2, ("B", "P2"): 3}
    recs = app.query("allocation", user="admin")
    assert sorted((r["qty"], r["status"]) for r in recs) == [(2, "reserved"), (3, "reserved")]
    assert all(r["created_by"] == "alice" for r in recs)


def test_fewest_splits_uses_one_location_when_one_can_fill_everything(shop):
    app = shop(STOCK, strategy="fewest_splits")
    result = allocate(app, order(app, ("P1", 2), ("P2", 3)))
    assert picked(result) == [("P1", "B", 2), ("P2", "B", 3)]
    assert result.locations == ["B"]
    assert reserved(app) == {("B", "P1"): 2, ("B", "P2"): 3}


def test_fewest_splits_then_rank_decides_between_equal_counts(shop):
    app = shop([("A", "P1", 5), ("B", "P1", 5), ("C", "P1", 5), ("C", "P2", 5), ("B", "P2", 5)],
               strategy="fewest_splits")
    # B and C can each fill both lines alone; B has the better priority
    assert allocate(app, order(app, ("P1", 1), ("P2", 1))).locations == ["B"]


def test_fewest_splits_needs_two_locations(shop):
    app = shop([("A", "P1", 5), ("B", "P2", 5), ("C", "P3", 5), ("C", "P1", 5)], strategy="fewest_splits")
    result = allocate(app, order(app, ("P1", 1), ("P2", 1), ("P3", 1)))
    assert sorted(result.locations) == ["B", "C"]  # per line would use A, B and C


def test_single_source_picks_one_location_or_nothing(shop):
    app = shop(STOCK, strategy="single_source")
    assert allocate(app, order(app, ("P1", 2), ("P2", 3))).locations == ["B"]
    result = allocate(app, order(app, ("P1", 2), ("P2", 30)))
    assert result.status == "unallocated" and not result.records
    assert "single location" in result.message
    assert reserved(app) == {("B", "P1"): 2, ("B", "P2"): 3}


def test_single_source_partial_takes_the_fullest_location_and_backorders(shop):
    app = shop(STOCK, strategy="single_source", partial=True)
    result = allocate(app, order(app, ("P1", 2), ("P2", 30)))
    assert result.status == "partial"
    assert picked(result) == [("P1", "B", 2), ("P2", "B", 10)]
    assert result.backorder == {result.lines[1].line_id: 20}
    statuses = sorted((r["status"], r["qty"]) for r in app.query("allocation", user="admin"))
    assert statuses == [("backorder", 20), ("reserved", 2), ("reserved", 10)]


def test_ranking_ties_go_to_the_older_supply_record(shop):
    app = shop([("C", "P1", 5), ("B", "P1", 5)], strategy="per_line", rank="\n          - '0'")
    result = allocate(app, order(app, ("P1", 1)), explain=True)
    assert picked(result) == [("P1", "C", 1)]  # created first
    reasons = [c["reason"] for c in result.lines[0].candidates]
    assert "tie on every rank key" in reasons[1]


def test_descending_rank_key(shop):
    rank = "\n          - {expr: 'on_hand', order: desc}"
    app = shop([("A", "P1", 5), ("B", "P1", 8), ("C", "P1", 7)], strategy="per_line", rank=rank)
    assert picked(allocate(app, order(app, ("P1", 1)))) == [("P1", "B", 1)]


def test_distance_ranks_nearest_first(shop):
    rank = "\n          - distance(site.lat, site.lon, demand.lat, demand.lon)"
    app = shop([("A", "P1", 5), ("B", "P1", 5), ("C", "P1", 5)], strategy="per_line", rank=rank)
    near_marseille = order(app, ("P1", 1), lat="43.3", lon="5.4")
    assert picked(allocate(app, near_marseille)) == [("P1", "C", 1)]


def test_no_candidate(shop):
    app = shop(STOCK, strategy="per_line")
    result = allocate(app, order(app, ("P3", 1)), explain=True)
    assert result.status == "unallocated" and result.records == []
    assert result.lines[0].candidates == []
    assert "no supply of this item" in result.explain_text()
    assert app.count("allocation", user="admin") == 0


def test_partial_backorder_is_filled_by_a_later_allocation(shop):
    app = shop([("A", "P1", 3)], strategy="per_line", partial=True)
    oid = order(app, ("P1", 5))
    first = allocate(app, oid)
    assert first.status == "partial" and first.lines[0].backorder == 2
    app.update("stock", 1, {"on_hand": 10}, "admin")  # restocked
    second = allocate(app, oid)
    assert second.status == "allocated" and picked(second) == [("P1", "A", 2)]
    rows = sorted((r["status"], r["qty"]) for r in app.query("allocation", user="admin"))
    assert rows == [("reserved", 2), ("reserved", 3)]  # the backorder record was replaced
    assert allocate(app, oid).status == "nothing_to_do"


def test_split_lines_fills_one_line_from_several_locations(shop):
    app = shop([("A", "P1", 3), ("B", "P1", 3)], strategy="per_line", split=True)
    assert picked(allocate(app, order(app, ("P1", 5)))) == [("P1", "A", 3), ("P1", "B", 2)]


def test_without_partial_a_shortage_reserves_nothing(shop):
    app = shop([("A", "P1", 3), ("B", "P1", 3)], strategy="fewest_splits")
    result = allocate(app, order(app, ("P1", 1), ("P1", 5)))
    assert result.status == "unallocated"
    assert reserved(app) == {}


def test_safety_stock_and_earlier_reservations_limit_availability(shop):
    app = shop([("A", "P1", 5)], strategy="per_line")
    app.update("stock", 1, {"safety": 2}, "admin")
    assert allocate(app, order(app, ("P1", 3))).status == "allocated"
    assert allocate(app, order(app, ("P1", 1))).status == "unallocated"


def test_release_and_consume(shop):
    app = shop(STOCK, strategy="fewest_splits")
    service = app.features["allocation"]
    o1, o2 = order(app, ("P1", 2), ("P2", 3)), order(app, ("P1", 4))
    allocate(app, o1)
    allocate(app, o2)
    with app.transaction("bob") as tx:
        released = service.release(tx, "fulfil", o1)
    assert released.status == "released" and len(released.records) == 2
    assert reserved(app) == {("A", "P1"): 4}
    with app.transaction("bob") as tx:
        consumed = service.consume(tx, "fulfil", o2)
    assert [r["status"] for r in consumed.records] == ["consumed"]
    stock = {(r["site"], r["product"]): r for r in app.query("stock", user="admin")}
    a_p1 = stock[(1, 1)]
    assert (a_p1["on_hand"], a_p1["reserved"], a_p1["free"]) == (6, 0, 6)  # computed field refreshed
    with app.transaction("bob") as tx:
        assert service.release(tx, "fulfil", o2).message == "nothing to release"
    audit = app.audit_log(user="admin", entity="stock", record=1)
    assert audit[0].user == "bob" and audit[0].changes["on_hand"] == [10, 6]


def test_a_failure_midway_leaves_no_partial_reservation(shop):
    app = shop(STOCK, strategy="per_line")
    created = []

    def boom(tx, event):
        if event.entity == "allocation" and event.action == "create":
            created.append(event.after["id"])
            if len(created) == 2:
                raise RuntimeError("disk full")

    app.on_write(boom)
    oid = order(app, ("P1", 2), ("P2", 3))
    with pytest.raises(RuntimeError):
        allocate(app, oid)
    assert reserved(app) == {}
    assert app.count("allocation", user="admin") == 0
    assert all(r["version"] == 1 for r in app.query("stock", user="admin"))


def test_explain_lists_every_candidate_with_keys_and_reasons(shop):
    app = shop(STOCK, strategy="fewest_splits")
    result = allocate(app, order(app, ("P1", 2), ("P2", 3)), explain=True)
    line1 = {c["location"]: c for c in result.lines[0].candidates}
    assert line1["B"]["take"] == 2 and line1["B"]["reason"].startswith("chosen")
    assert "not among the chosen" in line1["A"]["reason"]
    assert line1["X"]["reason"] == "excluded by the filter"
    assert line1["A"]["keys"][0] == 1
    line2 = {c["location"]: c for c in result.lines[1].candidates}
    assert line2["A"]["reason"] == "not enough: 1 available, 3 needed"
    text = result.explain_text()
    assert "rank keys: site.priority, km" in text and "* STOCK-" in text
    assert result.to_dict()["lines"][0]["candidates"]


def test_unknown_rule_and_record(shop):
    from ordo.engine import NotFound

    app = shop(STOCK)
    with pytest.raises(NotFound, match="unknown allocation rule 'nope'.*fulfil"):
        allocate(app, 1, rule="nope")
    with pytest.raises(NotFound):
        allocate(app, 999)


def test_a_transaction_knows_the_demands_records_it_wrote_until_another_write_of_them(shop):
    app = shop(STOCK)
    oid = order(app, ("P1", 2), ("P2", 1))
    key = ("allocation", "order", oid)
    with app.transaction("alice") as tx:
        feature = app.features["allocation"]
        feature.allocate(tx, "fulfil", oid)
        known = tx.uow.known_rows(key)
        assert known == [dict(r) for r in feature.records(tx, "fulfil", oid)]
        tx.uow.aggregates.pop(("rows", key))
        read = feature.records(tx, "fulfil", oid)  # as the database has them
        assert known == read and [r["id"] for r in read] == sorted(r["id"] for r in read) and len(read) == 2
        tx.update("allocation", read[0]["id"], {"qty": 1})
        assert tx.uow.known_rows(key) is None  # a write of the table: read again
        assert feature.records(tx, "fulfil", oid)[0]["qty"] == 1
    with app.transaction("alice") as tx:  # released, then allocated again in one transaction
        feature.release(tx, "fulfil", oid)
        again = feature.allocate(tx, "fulfil", oid)
        assert again.status == "allocated"
        assert tx.uow.known_rows(key) == [dict(r) for r in feature.records(tx, "fulfil", oid)]
        assert [r["status"] for r in tx.uow.known_rows(key)] == ["released", "released", "reserved", "reserved"]
