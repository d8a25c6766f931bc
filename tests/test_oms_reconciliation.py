"""OMS reconciliation (builtin:oms, SQLite and PostgreSQL): orders vs invoices vs payments per order and per
channel x month; figures recomputed independently from the stored records."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from ordo.engine import open_app

from .oms_kit import NOW, open_oms, order

D = Decimal


@pytest.fixture
def app(db_url):
    a = open_oms(db_url)
    yield a
    a.close()


def invoice(app, so, total, status="issued"):
    return app.create("invoice", {"sales_order": so["id"], "customer": so["customer"], "total": total,
                                  "tax_rate": "0.13", "status": status}, user="admin")


def pay(app, so, amount, direction="receipt", status="succeeded"):
    return app.create("payment", {"sales_order": so["id"], "customer": so["customer"], "amount": amount,
                                  "method": "alipay", "direction": direction, "status": status}, user="admin")


def _seed(app):
    feb, mar = NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1)
    a = order(app, "C1", [("P1", 2, D("113.00"))], at=feb)                        # 226: invoiced 200 + 26, paid
    invoice(app, a, D("226.00"))                                                    # net 200 + tax 26
    pay(app, a, D("226.00"))
    b = order(app, "C2", [("P2", 1, D("50.00")), ("P3", 3, D("20.00"))], at=mar)  # 110: invoiced, part paid
    invoice(app, b, D("110.01"))                                                    # 97.35 + 12.66 = 110.01
    pay(app, b, D("60.00"))
    pay(app, b, D("50.00"), status="failed")                                        # not counted
    c = order(app, "C3", [("P1", 1, D("100.00"))], channel="SHOP", at=mar)        # not invoiced, paid, refunded 30
    pay(app, c, D("100.00"))
    pay(app, c, D("30.00"), direction="refund")
    d = order(app, "C1", [("P3", 1, D("20.00"))], channel="SHOP", at=mar, status="cancelled")  # cancelled, paid
    pay(app, d, D("20.00"))
    invoice(app, d, D("11.30"), status="cancelled")                                 # not counted
    e = order(app, "C4", [("P3", 2, D("20.00"))], at=mar)                          # nothing yet
    return [a, b, c, d, e]


def _expected(app):
    """Per order: (channel code, month, value, invoiced, received, refunded), from the records themselves."""
    out = {}
    for so in app.query("sales_order", user="admin", limit=None):
        invs = app.query("invoice", "sales_order == :o", params={"o": so["id"]}, user="admin", limit=None)
        pays = app.query("payment", "sales_order == :o", params={"o": so["id"]}, user="admin", limit=None)
        assert all(i["net_amount"] + i["tax_amount"] == i["total"] for i in invs)
        invoiced = sum((D(i["total"]) for i in invs if i["status"] != "cancelled"), D(0))
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


def test_invoice_net_and_tax_add_up_to_the_total(app):
    so = order(app, "C1", [("P3", 1, D("19.99"))])
    inv = invoice(app, so, D("10.04"))  # round(8.88 x 0.13, 2) = 1.15 would leave the invoice a cent short
    assert (inv["net_amount"], inv["tax_amount"], inv["total"]) == (D("8.88"), D("1.16"), D("10.04"))
    for cents in range(1, 2001, 7):
        total = D(cents) / 100
        inv = invoice(app, so, total)
        assert inv["net_amount"] + inv["tax_amount"] == inv["total"] == total
        assert abs(inv["net_amount"] * D("0.13") - inv["tax_amount"]) <= D("0.01")


def test_generated_invoices_match_their_orders_to_the_cent(db_url, capsys):
    """Over generated data: every invoice's net + tax is its total, which is its order's total, so the
    reconciliation reports show no invoice gap on any invoiced order."""
    from ordo.engine.cli import main

    assert main(["generate", "builtin:oms", "demo", "--scale", "0.05", "--quiet", "--db", db_url, "--create"]) == 0
    capsys.readouterr()
    app = open_app("builtin:oms", db_url, sync=False)
    try:
        invoices = app.query("invoice", "status != 'cancelled'", user="admin", limit=None)
        assert len(invoices) > 50
        for inv in invoices:
            so = app.get("sales_order", inv["sales_order"], "admin")
            assert inv["net_amount"] + inv["tax_amount"] == inv["total"] == so["total"], inv["name"]
        reports = app.features["reports"]
        rows = reports.report("order_reconciliation", user="admin", params={"period": "all"}).rows
        invoiced = [r for r in rows if D(r["invoiced"]) != 0]
        assert len(invoiced) == len({i["sales_order"] for i in invoices})
        assert all(D(r["invoice_gap"]) == 0 for r in invoiced if r["status"] != "cancelled")
    finally:
        app.close()
