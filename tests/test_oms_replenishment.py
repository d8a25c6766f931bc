"""OMS replenishment: daily demand -> reorder points -> pack-rounded suggestions, all materialized reports
(builtin:oms, SQLite and PostgreSQL); figures checked against an independent computation."""

from __future__ import annotations

import datetime as dt
import math

from .oms_kit import NOW, TODAY, open_oms, order, stock

Z95 = 1.6449
LEAD = {"P1": 4, "P2": 4, "P3": 9}
PACK = {"P1": 10, "P2": 6, "P3": 1}


def _pipeline(app, **params):
    reports = app.features["reports"]
    return [reports.refresh(n, user="admin", params=params.get(n)) for n in
            ("daily_demand", "reorder_points", "replenishment")]


def _expected(app, window=28, cover=14):
    """d, sigma, reorder point, suggestion per (warehouse, product), from the stored orders."""
    names = {e: {r["id"]: r["name"] for r in app.query(e, user="admin", limit=None)}
             for e in ("warehouse", "product")}
    per_day: dict[tuple[str, str], dict[dt.date, int]] = {}
    for o in app.query("sales_order", user="admin", limit=None, with_children=True):
        day = o["order_date"].date()
        if o["status"] == "cancelled" or not (TODAY - dt.timedelta(days=window) <= day < TODAY):
            continue
        for ln in o["lines"]:
            if ln["warehouse"] is None:
                continue
            key = (names["warehouse"][ln["warehouse"]], names["product"][ln["product"]])
            per_day.setdefault(key, {}).setdefault(day, 0)
            per_day[key][day] += ln["quantity"]
    out = {}
    for s in app.query("stock_level", user="admin", limit=None):
        key = (names["warehouse"][s["warehouse"]], names["product"][s["product"]])
        days = per_day.get(key, {})
        series = [days.get(TODAY - dt.timedelta(days=i), 0) for i in range(1, window + 1)]
        d = sum(series) / window
        sigma = math.sqrt(sum((x - d) ** 2 for x in series) / window)
        lead = LEAD[key[1]]
        rop = math.ceil(round(d * lead + Z95 * sigma * math.sqrt(lead), 6))
        position = s["on_hand"] + s["on_order"] - s["reserved"]
        target = math.ceil(rop + d * cover)
        qty = math.ceil((target - position) / PACK[key[1]]) * PACK[key[1]] if position <= rop else 0
        out[key] = {"d": d, "sigma": sigma, "rop": rop, "target": target, "qty": qty}
    return out


def _seed(app):
    stock(app, "SH", "P1", 12)
    stock(app, "SH", "P2", 500)
    stock(app, "BJ", "P1", 2)
    stock(app, "BJ", "P3", 0, on_order=1)
    for ago in range(1, 29, 2):
        order(app, "C1", [("P1", ago % 4 + 1, 100, "SH"), ("P2", 2, 50, "SH")], at=NOW - dt.timedelta(days=ago))
    order(app, "C2", [("P1", 3, 100, "BJ"), ("P3", 7, 20, "BJ")], at=NOW - dt.timedelta(days=3))
    order(app, "C2", [("P1", 50, 100, "BJ")], at=NOW - dt.timedelta(days=40))  # outside the window
    order(app, "C3", [("P1", 9, 100, "SH")], at=NOW - dt.timedelta(days=2), status="cancelled")
    order(app, "C3", [("P3", 4, 20, "BJ")], at=NOW)  # today: not a full day yet


def test_reorder_points_and_suggestions(db_url):
    app = open_oms(db_url)
    _seed(app)
    demand, points, suggestions = _pipeline(app)
    assert demand.rows == len(app.query("demand_day", user="admin", limit=None))
    assert points.rows == 4 and len(points.updated) == 4
    expected = _expected(app)
    names = {e: {r["id"]: r["name"] for r in app.query(e, user="admin", limit=None)} for e in ("warehouse", "product")}
    for s in app.query("stock_level", user="admin", limit=None):
        key = (names["warehouse"][s["warehouse"]], names["product"][s["product"]])
        e = expected[key]
        assert abs(float(s["avg_daily_demand"]) - e["d"]) < 1e-4, key
        assert abs(float(s["demand_stddev"]) - e["sigma"]) < 1e-4, key
        assert s["reorder_point"] == e["rop"], key
        assert s["lead_time_days"] == LEAD[key[1]]
    got = {(names["warehouse"][r["warehouse"]], names["product"][r["product"]]): r
           for r in app.query("replenishment_suggestion", user="admin", limit=None)}
    assert set(got) == {k for k, e in expected.items() if e["qty"] > 0} and got
    for key, r in got.items():
        assert r["suggested_qty"] == expected[key]["qty"] and r["suggested_qty"] % PACK[key[1]] == 0
        assert r["target_level"] == expected[key]["target"] and r["status"] == "open"
        assert r["supplier"] is not None and r["pack_size"] == PACK[key[1]]
    assert ("SH", "P2") not in got  # plenty of stock
    app.close()


def test_refresh_keeps_decided_suggestions_and_drops_stale_ones(db_url):
    app = open_oms(db_url)
    _seed(app)
    _pipeline(app)
    open_ = {r["name"]: r for r in app.query("replenishment_suggestion", user="admin")}
    assert len(open_) >= 2
    first, second = sorted(open_)[:2]
    app.update("replenishment_suggestion", first, {"status": "approved"}, user="peter")
    again = _pipeline(app)[2]
    assert first not in again.updated + again.deleted and again.unchanged >= 1
    # enough stock arrives for the second one: its open suggestion disappears on the next refresh
    rec = open_[second]
    lvl = app.query("stock_level", "warehouse == :w and product == :p", user="admin",
                    params={"w": rec["warehouse"], "p": rec["product"]})[0]
    app.update("stock_level", lvl["id"], {"on_hand": lvl["on_hand"] + 1000}, user="admin")
    third = _pipeline(app)[2]
    assert second in third.deleted
    assert app.get("replenishment_suggestion", first, user="admin")["status"] == "approved"
    app.close()


def test_scheduled_nightly_refresh(db_url):
    app = open_oms(db_url)
    _seed(app)
    app.clock.fixed = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(1, 30))
    app.jobs.run_due("w1")
    assert app.count("demand_day", user="admin") > 0
    assert app.count("replenishment_suggestion", user="admin") > 0
    app.close()
