"""OMS reconciliation (builtin:oms, SQLite and PostgreSQL): orders vs invoices vs payments per order and per
channel x month; figures recomputed independently from the stored records."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from .oms_kit import NOW, open_oms, order

D = Decimal


@pytest.fixture
def app(db_url):
    a = open_oms(db_url)
    yield a
    a.close()


def invoice(app, so, net, status="issued"):
    return app.create("invoice", {"sales_order": so["id"], "customer": so["customer"], "net_amount": net,
                                  "tax_rate": "0.13", "status": status}, user="admin")


def pay(app, so, amount, direction="receipt", status="succeeded"):
    return app.create("payment", {"sales_order": so["id"], "customer": so["customer"], "amount": amount,
                                  "method": "alipay", "direction": direction, "status": status}, user="admin")


def _seed(app):
    feb, mar = NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1)
    a = order(app, "C1", [("P1", 2, D("113.00"))], at=feb)                        # 226: invoiced 200 + 26, paid
    invoice(app, a, D("200.00"))
    pay(app, a, D("226.00"))
    b = order(app, "C2", [("P2", 1, D("50.00")), ("P3", 3, D("20.00"))], at=mar)  # 110: invoiced, part paid
    invoice(app, b, D("97.35"))                                                     # 97.35 + 12.66 = 110.01
    pay(app, b, D("60.00"))
    pay(app, b, D("50.00"), status="failed")                                        # not counted
    c = order(app, "C3", [("P1", 1, D("100.00"))], channel="SHOP", at=mar)        # not invoiced, paid, refunded 30
    pay(app, c, D("100.00"))
    pay(app, c, D("30.00"), direction="refund")
    d = order(app, "C1", [("P3", 1, D("20.00"))], channel="SHOP", at=mar, status="cancelled")  # cancelled, paid
    pay(app, d, D("20.00"))
    invoice(app, d, D("10.00"), status="cancelled")                                 # not counted
    e = order(app, "C4", [("P3", 2, D("20.00"))], at=mar)                          # nothing yet
    return [a, b, c, d, e]


def _expected(app):
    """Per order: (channel code, month, value, invoiced, received, refunded), from the records themselves."""
    out = {}
    for so in app.query("sales_order", user="admin", limit=None):
        invs = app.query("invoice", "sales_order == :o", params={"o": so["id"]}, user="admin", limit=None)
        pays = app.query("payment", "sales_order == :o", params={"o": so["id"]}, user="admin", limit=None)
        invoiced = sum((D(i["net_amount"]) + (D(i["net_amount"]) * D(i["tax_rate"])).quantize(D("0.01"))
                        for i in invs if i["status"] != "cancelled"), D(0))
        received = sum((D(p["amount"]) for p in pays if p["status"] == "succeeded" and p["direction"] == "receipt"),
                       D(0))
        refunded = sum((D(p["amount"]) for p in pays if p["status"] == "succeeded" and p["direction"] == "refund"),
                       D(0))
        value = D(0) if so["status"] == "cancelled" else sum(
            (D(ln["quantity"]) * D(ln["unit_price"]) - D(ln["line_discount"]) for ln in
             app.get("sales_order", so["id"], "admin")["lines"]), D(0)) + D(so["shipping_fee"]) - D(so["order_discount"])
        channel = app.get("channel", so["channel"], "admin")["code"]
        out[so["name"]] = (channel, so["order_date"].strftime("%Y-%m"), value, invoiced, received, refunded)
    return out


def test_per_order_figures_and_differences(app):
    _seed(app)
    expected = _expected(app)
    result = app.features["reports"].report("order_reconciliation", user="admin")
    got = {r["order"]: r for r in result.rows}
    assert set(got) == set(expected)
    for name, (_, _, value, invoiced, received, refunded) in expected.items():
        r = got[name]
        assert (D(r["order_value"]), D(r["invoiced"]), D(r["received"]), D(r["refunded"])) == (
            value, invoiced, received, refunded), name
        assert D(r["invoice_gap"]) == value - invoiced and D(r["payment_gap"]) == invoiced - (received - refunded)
    assert D(result.totals["invoice_gap"]) == sum(v - i for _, _, v, i, _, _ in expected.values())
    # the figures of the seed, by hand: 226 vs 226 vs 226; 110 vs 110.01 vs 60; 100 vs 0 vs 70; 0 vs 0 vs 20
    assert sorted((D(r["order_value"]), D(r["invoiced"]), D(r["net_paid"])) for r in result.rows) == [
        (D(0), D(0), D(20)), (D(40), D(0), D(0)), (D(100), D(0), D(70)), (D(110), D("110.01"), D(60)),
        (D(226), D(226), D(226))]
    only = app.features["reports"].report("order_reconciliation", user="admin", params={"only_differences": True})
    assert len(only.rows) == 4                                  # the fully paid, invoiced order is not listed


def test_by_channel_and_month(app):
    _seed(app)
    expected = _expected(app)
    groups: dict[tuple[str, str], list] = defaultdict(lambda: [0, D(0), D(0), D(0), D(0), 0])
    for channel, month, value, invoiced, received, refunded in expected.values():
        g = groups[(channel, month)]
        g[0] += 1
        g[1] += value
        g[2] += invoiced
        g[3] += received
        g[4] += refunded
        g[5] += int(value != invoiced or invoiced != received - refunded)
    result = app.features["reports"].report("reconciliation_by_channel_month", user="admin")
    got = {}
    for r in result.rows:
        channel = app.get("channel", r["channel"], "admin")["code"] if isinstance(r["channel"], int) else r["channel"]
        month = r["month"].strftime("%Y-%m") if hasattr(r["month"], "strftime") else str(r["month"])[:7]
        got[(channel, month)] = [r["orders"], D(r["order_value"]), D(r["invoiced"]), D(r["received"]),
                                 D(r["refunded"]), r["orders_with_gaps"]]
    assert got == {k: list(v) for k, v in groups.items()}
    assert D(result.totals["payment_gap"]) == sum(g[2] - g[3] + g[4] for g in groups.values())
