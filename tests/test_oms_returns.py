"""OMS returns (builtin:oms, SQLite and PostgreSQL): routing by return window and value (auto, customer
service, manager, manager + finance countersign), receipt, inspection grades, refund payment and the order's
payment status, restock into the warehouse and the order lines' returned quantities; thresholds from the
return_policy record."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ordo.engine.errors import OrdoError

from .oms_kit import NOW, open_oms, stock


@pytest.fixture
def app(db_url):
    a = open_oms(db_url)
    stock(a, "SH", "P1", 5)
    with a.transaction("admin") as tx:
        for user, role in (("cathy", "customer_service"), ("mia", "manager"), ("fiona", "finance"),
                           ("wang", "warehouse")):
            tx.users.grant(user, role)
    yield a
    a.close()


def delivered(app, lines, *, days_ago=2, paid=None):
    """A delivered, paid order: lines are (product, quantity, unit price)."""
    delivered_at = NOW - dt.timedelta(days=days_ago)
    total = sum(Decimal(q) * Decimal(p) for _, q, p in lines)
    delivered.n = getattr(delivered, "n", 0) + 1
    return app.create("sales_order", {
        "channel": "TMALL", "external_order_id": f"R{delivered.n:04d}", "customer": "C1", "status": "delivered",
        "order_date": delivered_at - dt.timedelta(days=3), "shipped_at": delivered_at - dt.timedelta(days=1),
        "delivered_at": delivered_at, "payment_status": "paid", "paid_amount": total if paid is None else paid,
        "ship_to_name": "Buyer", "phone": "13900000000", "ship_region": "east", "ship_province": "Shanghai",
        "ship_city": "Shanghai", "ship_address": "1 Road",
        "lines": [{"product": p, "quantity": q, "unit_price": price, "warehouse": "SH", "shipped_qty": q}
                  for p, q, price in lines]}, user="admin")


def request(app, order, lines, reason="defective"):
    """lines: (product, quantity); prices from the order."""
    prices = {app.get("product", ln["product"], "admin")["code"]: ln["unit_price"] for ln in order["lines"]}
    rec = app.create("return_request", {
        "sales_order": order["id"], "customer": order["customer"], "reason": reason,
        "lines": [{"product": p, "quantity": q, "unit_price": prices[p], "reason_code": reason} for p, q in lines]},
        user="cathy")
    return app.get("return_request", rec["id"], "admin")  # as the flow left it


def inbox(app, user):
    with app.reader(user) as tx:
        return app.features["flows"].inbox(tx)


def act(app, user, rma, action="approve", comment=None):
    task = next(t for t in inbox(app, user) if t.record_name == rma["name"])
    with app.transaction(user) as tx:
        getattr(app.features["flows"], action)(tx, task.id, comment=comment)


def receive_and_grade(app, rma, grades):
    app.update("return_request", rma["id"], {"received_at": NOW, "warehouse": "SH"}, user="wang")
    rec = app.get("return_request", rma["id"], "admin")
    assert rec["status"] == "received"
    app.update("return_request", rma["id"], {"lines": [{"id": ln["id"], "grade": g} for ln, g in
                                                       zip(rec["lines"], grades, strict=True)]}, user="wang")
    return app.get("return_request", rma["id"], "admin")


def on_hand(app, wh, product):
    rows = app.query("stock_level", "warehouse.code == :w and product.code == :p", params={"w": wh, "p": product},
                     user="admin")
    return rows[0]["on_hand"] if rows else None


def refunds(app, order):
    return [(p["direction"], p["amount"], p["method"]) for p in
            app.query("payment", "sales_order == :o", params={"o": order["id"]}, user="admin", order_by="id")]


def test_small_return_inside_the_window_is_approved_refunded_and_restocked(app):
    order = delivered(app, [("P1", 2, "100.00"), ("P3", 3, "20.00")])
    rma = request(app, order, [("P1", 1), ("P3", 2)])          # 100 + 40 = 140 <= 200, 2 days after delivery
    assert rma["within_window"] and rma["approval_level"] == "auto"
    assert rma["status"] == "approved" and rma["approved_by"] == "auto"
    assert inbox(app, "mia") == [] and inbox(app, "cathy") == []
    done = receive_and_grade(app, rma, ["restock", "scrap"])
    assert done["status"] == "restocked" and done["refund_amount"] == Decimal("140.00")
    assert refunds(app, order) == [("refund", Decimal("140.00"), "alipay")]
    so = app.get("sales_order", order["id"], "admin")
    assert so["refunded_amount"] == Decimal("140.00") and so["payment_status"] == "partially_refunded"
    assert [(ln["quantity"], ln["returned_qty"]) for ln in so["lines"]] == [(2, 1), (3, 2)]
    assert on_hand(app, "SH", "P1") == 6                       # restock-graded: back on hand
    assert on_hand(app, "SH", "P3") is None                    # scrapped: no stock
    kinds = sorted(m["kind"] for m in app.query("stock_movement", user="admin"))
    assert kinds == ["return_restock", "return_scrap"]


def test_restock_creates_a_missing_stock_level_and_full_refund_marks_the_order_refunded(app):
    order = delivered(app, [("P2", 2, "50.00")])
    rma = request(app, order, [("P2", 2)])
    receive_and_grade(app, rma, ["restock"])
    assert on_hand(app, "SH", "P2") == 2
    so = app.get("sales_order", order["id"], "admin")
    assert so["payment_status"] == "refunded" and so["refunded_amount"] == Decimal("100.00")


def test_outside_the_window_customer_service_approves(app):
    order = delivered(app, [("P3", 1, "20.00")], days_ago=10)
    rma = request(app, order, [("P3", 1)])
    assert not rma["within_window"] and rma["approval_level"] == "customer_service"
    assert rma["status"] == "pending_approval"
    act(app, "cathy", rma)
    assert app.get("return_request", rma["id"], "admin")["status"] == "approved"


def test_manager_above_the_first_amount_and_rejection(app):
    order = delivered(app, [("P1", 9, "100.00")])
    rma = request(app, order, [("P1", 6)])                     # 600 > 500
    assert rma["approval_level"] == "manager"
    assert inbox(app, "cathy") == [] and len(inbox(app, "mia")) == 1
    with pytest.raises(OrdoError):
        act(app, "mia", rma, "reject")                         # a rejection needs a comment
    act(app, "mia", rma, "reject", comment="used goods")
    rec = app.get("return_request", rma["id"], "admin")
    assert rec["status"] == "rejected" and refunds(app, order) == []


def test_countersign_of_manager_and_finance_above_the_second_amount(app):
    order = delivered(app, [("P1", 30, "100.00")])
    rma = request(app, order, [("P1", 25)])                    # 2500 > 2000
    assert rma["approval_level"] == "manager_and_finance"
    act(app, "mia", rma)
    assert app.get("return_request", rma["id"], "admin")["status"] == "pending_approval"  # finance still to sign
    act(app, "fiona", rma)
    assert app.get("return_request", rma["id"], "admin")["status"] == "approved"
    receive_and_grade(app, rma, ["refurbish"])
    assert refunds(app, order) == [("refund", Decimal("2500.00"), "alipay")]
    assert on_hand(app, "SH", "P1") == 5                       # refurbish: not back on hand
    assert app.get("sales_order", order["id"], "admin")["lines"][0]["returned_qty"] == 25


def test_thresholds_come_from_the_return_policy_record(app):
    app.create("return_policy", {"code": "STRICT", "policy_name": "Strict", "window_days": 1,
                                 "auto_approve_limit": 50, "manager_limit": 100, "countersign_limit": 1000},
               user="admin")
    order = delivered(app, [("P1", 2, "100.00")])
    rma = request(app, order, [("P1", 1)])                     # 2 days after delivery: outside a 1-day window
    assert not rma["within_window"] and rma["approval_level"] == "customer_service"
    order2 = delivered(app, [("P1", 2, "100.00")], days_ago=0)
    assert request(app, order2, [("P1", 2)])["approval_level"] == "manager"   # 200 > 100
    assert request(app, order2, [("P1", 1)])["approval_level"] == "customer_service"   # 100: not above


def test_returns_need_a_shipped_order_and_a_receiving_warehouse(app):
    order = delivered(app, [("P1", 1, "100.00")])
    open_order = app.create("sales_order", {**{k: order[k] for k in ("channel", "customer")},
                                            "external_order_id": "OPEN1",
                                            "lines": [{"product": "P1", "quantity": 1, "unit_price": 100}]},
                            user="admin")
    with pytest.raises(OrdoError, match="shipped"):
        request(app, open_order, [("P1", 1)])
    rma = request(app, order, [("P1", 1)])
    with pytest.raises(OrdoError, match="warehouse"):
        app.update("return_request", rma["id"], {"received_at": NOW}, user="wang")
    assert app.get("return_request", rma["id"], "admin")["status"] == "approved"
