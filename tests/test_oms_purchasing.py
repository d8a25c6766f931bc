"""OMS purchasing (builtin:oms, SQLite and PostgreSQL): approved replenishment suggestions become purchase
orders grouped by supplier x warehouse; approval by amount (automatic, purchasing manager, manager + finance);
on order; partial and full goods receipts raise on hand, lower on order and fill the lines' received
quantities; cancelling gives back what is still on order; thresholds from the purchasing_policy record."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordo.engine.errors import OrdoError

from .oms_kit import open_oms, stock


@pytest.fixture
def app(db_url):
    a = open_oms(db_url)
    stock(a, "SH", "P1", 3, on_order=0)
    stock(a, "SH", "P2", 1)
    stock(a, "BJ", "P3", 0)
    with a.transaction("admin") as tx:
        for user, role in (("peter", "purchasing"), ("paula", "purchasing_manager"), ("fiona", "finance"),
                           ("wang", "receiving")):
            tx.users.grant(user, role)
    yield a
    a.close()


def suggest(app, wh, product, qty, status="approved", supplier=None):
    sup = supplier or {"P1": "SUP1", "P2": "SUP1", "P3": "SUP2"}[product]
    return app.create("replenishment_suggestion", {"warehouse": wh, "product": product, "supplier": sup,
                                                   "suggested_qty": qty, "status": status}, user="peter")


def level(app, wh, product):
    rows = app.query("stock_level", "warehouse.code == :w and product.code == :p", params={"w": wh, "p": product},
                     user="admin")
    return rows[0]["on_hand"], rows[0]["on_order"]


def code(app, entity, rid):
    return app.get(entity, rid, "admin")["name"]


def orders(app):
    return [app.get("purchase_order", r["id"], "admin") for r in app.query("purchase_order", user="admin",
                                                                            order_by="id")]


def act(app, user, po, action="approve", comment=None):
    with app.reader(user) as tx:
        task = next(t for t in app.features["flows"].inbox(tx) if t.record_name == po["name"])
    with app.transaction(user) as tx:
        getattr(app.features["flows"], action)(tx, task.id, comment=comment)


def receive(app, po, lines, user="wang"):
    return app.create("goods_receipt", {"purchase_order": po["id"], "lines": [
        {"product": p, "quantity": q} for p, q in lines]}, user=user)


def test_run_groups_approved_suggestions_by_supplier_and_warehouse(app):
    s1, s2 = suggest(app, "SH", "P1", 20), suggest(app, "SH", "P2", 12)
    s3 = suggest(app, "BJ", "P3", 5)
    suggest(app, "SH", "P3", 7, status="open")                 # not approved: stays
    app.create("purchase_run", {"submit": False}, user="peter")
    pos = orders(app)
    got = sorted((code(app, "supplier", p["supplier"]), code(app, "warehouse", p["warehouse"]),
                  sorted((code(app, "product", ln["product"]), ln["quantity"], ln["unit_cost"]) for ln in p["lines"]),
                  p["status"], p["source"]) for p in pos)
    assert got == [
        ("SUP1", "SH", [("P1", 20, Decimal("60.00")), ("P2", 12, Decimal("30.00"))], "draft", "replenishment"),
        ("SUP2", "BJ", [("P3", 5, Decimal("8.00"))], "draft", "replenishment")]
    for s in (s1, s2, s3):
        rec = app.get("replenishment_suggestion", s["id"], "admin")
        po = next(p for p in pos if p["warehouse"] == rec["warehouse"])
        assert rec["status"] == "ordered" and rec["purchase_order"] == po["id"]
        assert s["id"] in [ln["suggestion"] for ln in po["lines"]]
    assert [s["status"] for s in app.query("replenishment_suggestion", "status == 'open'", user="admin")] == ["open"]
    app.create("purchase_run", {}, user="peter")               # nothing left to order
    assert len(orders(app)) == 2


def test_small_order_is_approved_on_submission_then_received_in_two_deliveries(app):
    suggest(app, "SH", "P1", 20)                               # 20 x 60 = 1200 <= 10000
    app.create("purchase_run", {}, user="peter")
    po = orders(app)[0]
    assert po["status"] == "approved" and po["approved_by"] == "auto" and po["approval_level"] == "purchaser"
    assert level(app, "SH", "P1") == (3, 20)                   # on order
    receive(app, po, [("P1", 8)])
    po = orders(app)[0]
    assert po["status"] == "partially_received" and po["lines"][0]["received_qty"] == 8
    assert level(app, "SH", "P1") == (11, 12)
    with pytest.raises(OrdoError):
        receive(app, po, [("P1", 13)])                         # more than ordered: refused, nothing changes
    assert level(app, "SH", "P1") == (11, 12)
    receive(app, po, [("P1", 12)])
    po = orders(app)[0]
    assert po["status"] == "received" and po["fully_received"] and level(app, "SH", "P1") == (23, 0)
    with pytest.raises(OrdoError, match="approved purchase order"):
        receive(app, po, [("P1", 1)])
    kinds = [(m["kind"], m["quantity"]) for m in app.query("stock_movement", user="admin", order_by="id")]
    assert kinds == [("purchase_ordered", 20), ("purchase_receipt", 8), ("purchase_receipt", 12)]


def test_purchasing_manager_above_the_first_amount(app):
    suggest(app, "SH", "P1", 200)                              # 12000 > 10000
    app.create("purchase_run", {}, user="peter")
    po = orders(app)[0]
    assert po["status"] == "pending_approval" and po["approval_level"] == "manager"
    assert level(app, "SH", "P1") == (3, 0)                    # not on order before approval
    act(app, "paula", po)
    assert orders(app)[0]["status"] == "approved" and level(app, "SH", "P1") == (3, 200)


def test_manager_and_finance_above_the_second_amount_and_rejection(app):
    suggest(app, "SH", "P1", 1000)                             # 60000 > 50000
    app.create("purchase_run", {}, user="peter")
    po = orders(app)[0]
    assert po["approval_level"] == "manager_and_finance"
    act(app, "paula", po)
    assert orders(app)[0]["status"] == "pending_approval"
    act(app, "fiona", po, "reject", comment="budget")
    assert orders(app)[0]["status"] == "rejected" and level(app, "SH", "P1") == (3, 0)


def test_cancel_gives_back_what_is_still_on_order(app):
    suggest(app, "SH", "P2", 12)
    app.create("purchase_run", {}, user="peter")
    po = orders(app)[0]
    receive(app, po, [("P2", 5)])
    assert level(app, "SH", "P2") == (6, 7)
    app.update("purchase_order", po["id"], {"status": "cancelled"}, user="peter")
    assert level(app, "SH", "P2") == (6, 0)


def test_thresholds_from_the_purchasing_policy_and_manual_orders(app):
    app.create("purchasing_policy", {"code": "LOW", "policy_name": "Low", "manager_limit": 100,
                                     "finance_limit": 1000}, user="admin")
    po = app.create("purchase_order", {"supplier": "SUP2", "warehouse": "BJ", "lines": [
        {"product": "P3", "quantity": 10, "unit_cost": "8.00"}]}, user="peter")       # 80: a draft
    assert app.get("purchase_order", po["id"], "admin")["status"] == "draft"
    app.update("purchase_order", po["id"], {"lines": [{"id": po["lines"][0]["id"], "quantity": 20}],
                                            "status": "pending_approval"}, user="peter")   # 160 > 100
    rec = app.get("purchase_order", po["id"], "admin")
    assert rec["approval_level"] == "manager" and rec["status"] == "pending_approval"
    act(app, "paula", rec)
    receive(app, rec, [("P3", 20)])
    assert level(app, "BJ", "P3") == (20, 0)
    assert app.get("purchase_order", po["id"], "admin")["status"] == "received"
