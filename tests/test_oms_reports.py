"""OMS reports and alerts (builtin:oms, SQLite and PostgreSQL), compared with figures computed in the test."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from .oms_kit import NOW, open_oms, order, stock


@pytest.fixture
def oms(db_url):
    app = open_oms(db_url)
    stock(app, "SH", "P1", 3, reorder_point=5)
    stock(app, "SH", "P2", 100, reorder_point=5)
    plan = [("C1", [("P1", 2, 100), ("P2", 1, 50)], "TMALL", 5, None),
            ("C1", [("P3", 4, 20)], "SHOP", 40, None),
            ("C2", [("P1", 1, 100)], "TMALL", 2, None),
            ("C3", [("P2", 3, 45)], "SHOP", 70, "north"),
            ("C4", [("P1", 9, 100)], "TMALL", 3, "cancelled"),
            ("C2", [("P3", 10, 9)], "SHOP", 1, None)]  # below the floor price
    for cust, lines, channel, ago, extra in plan:
        rec = order(app, cust, lines, channel=channel, at=NOW - dt.timedelta(days=ago),
                    **({"status": "cancelled"} if extra == "cancelled" else {}),
                    **({"region": extra} if extra == "north" else {}))
        if ago == 5:  # one return of the first order's P1
            lines_ = rec["lines"]
            app.update("sales_order", rec["id"], {"lines": [{"id": ln["id"], "shipped_qty": ln["quantity"], "returned_qty": 1 if ln["quantity"] == 2 else 0}
                                                            for ln in lines_]}, user="admin")
    yield app
    app.close()


def _orders(app):
    return [o for o in app.query("sales_order", user="admin", limit=None, with_children=True)]


def _names(app, entity):
    return {r["id"]: r["name"] for r in app.query(entity, user="admin", limit=None)}


def test_sales_by_channel_and_month(oms):
    result = oms.features["reports"].report("sales_by_channel_month", user="admin")
    expected: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    channels = _names(oms, "channel")
    for o in _orders(oms):
        if o["status"] != "cancelled":
            e = expected[(o["order_date"].date().replace(day=1), channels[o["channel"]])]
            e[0] += 1
            e[1] += o["total"]
    got = {(r["month"], r["channel"]): [r["orders"], r["revenue"]] for r in result.rows}
    assert got == dict(expected)
    assert result.totals["orders"] == sum(v[0] for v in expected.values())


def test_sales_by_category_and_region(oms):
    result = oms.features["reports"].report("sales_by_category_region", user="admin")
    products = {r["id"]: r for r in oms.query("product", user="admin")}
    categories = _names(oms, "product_category")
    expected: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for o in _orders(oms):
        if o["status"] == "cancelled":
            continue
        for ln in o["lines"]:
            e = expected[(categories[products[ln["product"]]["category"]], o["ship_region"])]
            e[0] += ln["quantity"]
            e[1] += ln["amount"]
    assert {(r["category"], r["region"]): [r["quantity"], r["revenue"]] for r in result.rows} == dict(expected)


def test_funnel_top_customers_and_repurchase(oms):
    reports = oms.features["reports"]
    orders = _orders(oms)
    funnel = reports.report("order_status_funnel", user="admin", params={"period": "last_90_days"})
    assert {r["status"]: r["orders"] for r in funnel.rows} == dict(Counter(o["status"] for o in orders))
    top = reports.report("top_customers", user="admin")
    customers = _names(oms, "customer")
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    count: Counter = Counter()
    for o in orders:
        if o["status"] != "cancelled":
            revenue[customers[o["customer"]]] += o["total"]
            count[customers[o["customer"]]] += 1
    assert [(r["customer"], r["revenue"]) for r in top.rows] == sorted(revenue.items(), key=lambda kv: (-kv[1], kv[0]))
    rep = {r["customer"]: r for r in reports.report("repurchase_by_customer", user="admin").rows}
    for c, n in count.items():
        assert rep[c]["orders"] == n and rep[c]["repeat_orders"] == n - 1


def test_customer_repurchase_cohorts(oms):
    """First-order month cohorts of customers, counted again in each month since (cancelled orders not)."""
    months: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for o in _orders(oms):
        if o["status"] != "cancelled":
            months[o["customer"]].add((o["order_date"].year, o["order_date"].month))
    expected: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for active in months.values():
        first = min(active)
        for y, m in active:
            since = (y - first[0]) * 12 + m - first[1]
            if since <= 6:
                expected[first][since] += 1
    result = oms.features["reports"].report("customer_repurchase_cohorts", user="admin")
    today = NOW.date()
    got = {}
    for r in result.rows:
        key = (r["cohort"].year, r["cohort"].month)
        elapsed = (today.year - key[0]) * 12 + today.month - key[1]
        assert r["size"] == r["p0"]
        got[key] = Counter({i: r[f"p{i}"] for i in range(7) if i <= elapsed and r[f"p{i}"]})
        assert all(r[f"p{i}"] is None for i in range(elapsed + 1, 7))
    assert got == {k: +v for k, v in expected.items()} and got


def test_return_rate_by_product(oms):
    rows = {r["product"]: r for r in oms.features["reports"].report("return_rate_by_product", user="admin").rows}
    products = _names(oms, "product")
    sold: Counter = Counter()
    returned: Counter = Counter()
    for o in _orders(oms):
        if o["status"] == "cancelled" or o["order_date"].date() < NOW.date() - dt.timedelta(days=89):
            continue
        for ln in o["lines"]:
            sold[products[ln["product"]]] += ln["quantity"]
            returned[products[ln["product"]]] += ln["returned_qty"]
    for p in sold:
        assert rows[p]["sold"] == sold[p] and rows[p]["returned"] == returned[p]
        assert rows[p]["return_rate"] == pytest.approx(Decimal(returned[p]) / sold[p])


def test_risky_orders(oms):
    rows = oms.features["reports"].report("risky_orders", user="admin").rows
    assert sum(r["below_floor"] for r in rows) == sum(1 for o in _orders(oms) if o["any_below_floor"])


def test_alerts_reorder_point_stuck_orders_and_return_spike(oms):
    reports = oms.features["reports"]
    with oms.transaction("admin") as tx:
        hits = reports.check_alert(tx, "at_reorder_point")
    assert [(h["product"], h["on_hand"]) for h in hits] == [("P1", 3)]
    with oms.transaction("admin") as tx:
        stuck = reports.check_alert(tx, "stuck_orders")
    assert stuck == []  # every order was just written (updated_at is now)
    oms.clock.fixed = NOW + dt.timedelta(hours=30)
    with oms.transaction("admin") as tx:
        stuck = reports.check_alert(tx, "stuck_orders")
    open_ = [o for o in _orders(oms) if o["status"] in ("created", "on_hold", "reviewed", "backordered", "allocated")]
    assert sum(h["orders"] for h in stuck) == len(open_) > 0
    oms.clock.fixed = NOW
    with oms.transaction("admin") as tx:
        spikes = reports.check_alert(tx, "return_rate_spike")
    assert spikes == []  # P1 sold 3 in the last 7 days (< min_sold 5)
    with oms.reader("admin") as tx:
        rows = reports.run(tx, "return_rate_spike", {"min_sold": 1, "threshold": 0.1}).rows
    assert [r["product"] for r in rows] == ["P1"]
    with oms.reader("mia") as tx:
        assert any(n["subject"].startswith("Products at or below") for n in _inbox(tx, "peter"))


def _inbox(tx, user):
    from ordo.engine.outbox import outbox_table
    return [dict(r._mapping) for r in tx.conn.execute(outbox_table.select().where(outbox_table.c.recipient == user))]


def test_inventory_turnover(oms):
    rows = oms.features["reports"].report("inventory_turnover", user="admin").rows
    assert sum(r["on_hand"] for r in rows) == 103
    assert sum(r["at_risk"] for r in rows) == 1
