"""OMS order lifecycle end to end (builtin:oms flows order_lifecycle, shipment_dispatch, shipment_delivery and
the order_stock allocation rule): review, merge window, allocation, shipments, stock, invoice, closing,
backorders, cancellation and the payment timer."""

from __future__ import annotations

import pytest

from .oms_orders_kit import Kit, money


@pytest.fixture
def kit(db_url):
    k = Kit(db_url)
    yield k
    k.close()


def test_clean_order_from_review_to_closed(kit):
    order = kit.order([("P2", 2), ("P3", 1)], region="east")  # P2: SH or BJ, P3: GZ or BJ -> BJ fills both
    rec = kit.get("sales_order", order["id"])
    assert (rec["status"], rec["reviewer"], rec["risk_level"], rec["risk_reasons"]) == ("reviewed", "auto", "none",
                                                                                       None)
    assert kit.shipments(order) == []  # waiting in the merge window (30 minutes by default)
    kit.advance(minutes=31)
    rec = kit.get("sales_order", order["id"])
    assert rec["status"] == "allocated" and rec["allocated_at"] is not None
    assert kit.allocations(order) == [("WH-BJ", "P2", 2, "reserved"), ("WH-BJ", "P3", 1, "reserved")]  # no split
    assert kit.stock("WH-BJ", "P2") == (20, 2)
    assert [(ln["allocated_qty"], ln["shipped_qty"]) for ln in rec["lines"]] == [(2, 0), (1, 0)]
    [shipment] = kit.shipments(order)
    assert kit.wh(shipment) == "WH-BJ" and shipment["status"] == "pending"
    assert [(ln["quantity"], kit.get("product", ln["product"])["code"]) for ln in shipment["lines"]] == [
        (2, "P2"), (1, "P3")]
    kit.ship(shipment)
    rec = kit.get("sales_order", order["id"])
    assert rec["status"] == "shipped" and rec["shipped_at"] is not None
    assert kit.stock("WH-BJ", "P2") == (18, 0) and kit.stock("WH-BJ", "P3") == (19, 0)
    assert {a[3] for a in kit.allocations(order)} == {"consumed"}
    assert [ln["shipped_qty"] for ln in rec["lines"]] == [2, 1]
    [invoice] = kit.app.query("invoice", "sales_order == :o", user="admin", params={"o": order["id"]})
    assert invoice["total"] == money("300.00") and invoice["customer"] == rec["customer"]
    kit.advance(days=1)
    kit.deliver(shipment)
    assert kit.get("sales_order", order["id"])["status"] == "delivered"
    kit.advance(days=6)
    assert kit.get("sales_order", order["id"])["status"] == "delivered"  # return window: 7 days
    kit.advance(days=2)
    rec = kit.get("sales_order", order["id"])
    assert rec["status"] == "closed" and rec["closed_at"] is not None
    with kit.app.reader("admin") as tx:
        assert kit.flows.status(tx, "sales_order", order["id"]).outcome == "closed"


def test_fewest_splits_then_same_region_then_nearest(kit):
    # P1 is everywhere: the order's own region wins
    south = kit.order([("P1", 1)], region="south")
    north = kit.order([("P1", 1)], region="north")
    # P1 + P2: SH and BJ hold both; an east order goes to SH (same region), a south order to SH (nearest of
    # the two single-warehouse options: Shanghai is closer to Guangzhou than Beijing)
    east2 = kit.order([("P1", 1), ("P2", 1)], region="east")
    south2 = kit.order([("P1", 1), ("P2", 1)], region="south")
    # P2 + P3: no single warehouse in the south region has both; BJ has both -> one warehouse, not GZ + SH
    south3 = kit.order([("P2", 1), ("P3", 1)], region="south")
    kit.advance(minutes=31)
    assert {a[0] for a in kit.allocations(south)} == {"WH-GZ"}
    assert {a[0] for a in kit.allocations(north)} == {"WH-BJ"}
    assert {a[0] for a in kit.allocations(east2)} == {"WH-SH"}
    assert {a[0] for a in kit.allocations(south2)} == {"WH-SH"}
    assert {a[0] for a in kit.allocations(south3)} == {"WH-BJ"}


def test_one_shipment_per_warehouse_each_consuming_its_own_stock(kit):
    kit.app.update("stock_level", kit.app.query("stock_level", "warehouse.code == 'WH-BJ' and product.code == 'P3'",
                                                user="admin")[0]["id"], {"on_hand": 0}, "admin")
    order = kit.order([("P2", 3), ("P3", 2)], region="east")  # P2 from SH, P3 only left at GZ
    kit.advance(minutes=31)
    shipments = kit.shipments(order)
    assert sorted(kit.wh(s) for s in shipments) == ["WH-GZ", "WH-SH"]
    sh = next(s for s in shipments if kit.wh(s) == "WH-SH")
    kit.ship(sh)
    assert kit.stock("WH-SH", "P2") == (17, 0) and kit.stock("WH-GZ", "P3") == (20, 2)
    assert kit.get("sales_order", order["id"])["status"] == "allocated"  # one of two shipments left
    kit.ship(next(s for s in shipments if kit.wh(s) == "WH-GZ"))
    assert kit.stock("WH-GZ", "P3") == (18, 0)
    assert kit.get("sales_order", order["id"])["status"] == "shipped"
    assert len(kit.app.query("invoice", "sales_order == :o", user="admin", params={"o": order["id"]})) == 1
    for s in shipments:
        kit.deliver(s)
    assert kit.get("sales_order", order["id"])["status"] == "delivered"


def test_short_stock_gives_a_backorder_then_allocation_is_retried(kit):
    order = kit.order([("P4", 5)], region="east")  # only 2 of P4 anywhere
    kit.advance(minutes=31)
    rec = kit.get("sales_order", order["id"])
    assert rec["status"] == "backordered"
    assert kit.allocations(order) == [("WH-SH", "P4", 2, "reserved"), (None, "P4", 3, "backorder")]
    assert kit.shipments(order) == []  # the order ships complete
    sl = kit.app.query("stock_level", "warehouse.code == 'WH-SH' and product.code == 'P4'", user="admin")[0]
    kit.app.update("stock_level", sl["id"], {"on_hand": 10}, "admin")  # goods received
    kit.advance(hours=4)  # the retry timer
    assert kit.get("sales_order", order["id"])["status"] == "allocated"
    assert kit.allocations(order) == [("WH-SH", "P4", 2, "reserved"), ("WH-SH", "P4", 3, "reserved")]
    assert kit.stock("WH-SH", "P4") == (10, 5)
    assert len(kit.shipments(order)) == 1


def test_cancellation_before_shipment_releases_the_reservation(kit):
    order = kit.order([("P1", 2), ("P3", 1)], region="south")
    kit.advance(minutes=31)
    assert kit.stock("WH-GZ", "P1") == (20, 2)
    req = kit.app.create("order_change_request", {"sales_order": order["id"], "change_type": "cancel",
                                                  "reason": "buyer asked"}, "cathy")
    kit.act("mia", req)
    rec = kit.get("sales_order", order["id"])
    assert rec["status"] == "cancelled" and rec["cancel_reason"] == "change request: buyer asked"
    assert rec["cancelled_at"] is not None
    assert kit.stock("WH-GZ", "P1") == (20, 0) and kit.stock("WH-GZ", "P3") == (20, 0)
    assert {a[3] for a in kit.allocations(order)} == {"released"}
    assert {s["status"] for s in kit.shipments(order)} == {"cancelled"}
    assert [ln["allocated_qty"] for ln in rec["lines"]] == [0, 0]
    assert kit.get("order_change_request", req["id"])["status"] == "applied"


def test_a_shipped_order_cannot_be_cancelled(kit):
    order = kit.order([("P1", 1)], region="south")
    kit.advance(minutes=31)
    kit.ship(kit.shipments(order)[0])
    req = kit.app.create("order_change_request", {"sales_order": order["id"], "change_type": "cancel",
                                                  "reason": "too late"}, "cathy")
    rec = kit.get("order_change_request", req["id"])
    assert rec["status"] == "rejected" and rec["decision_note"] == "not possible while the order is shipped"
    assert kit.get("sales_order", order["id"])["status"] == "shipped"


def test_unpaid_orders_are_cancelled_at_the_payment_deadline(kit):
    late = kit.order([("P1", 1)], payment_status="unpaid")  # channel terms: 24 hours
    on_time = kit.order([("P1", 1)], payment_status="unpaid",
                        pay_deadline=kit.clock.now().replace(hour=11))
    assert kit.get("sales_order", late["id"])["status"] == "created"
    kit.advance(hours=1)
    kit.app.update("sales_order", on_time["id"], {"payment_status": "paid", "paid_amount": 100}, "fiona")
    assert kit.get("sales_order", on_time["id"])["status"] == "reviewed"
    kit.advance(hours=23, minutes=1)
    rec = kit.get("sales_order", late["id"])
    assert rec["status"] == "cancelled" and rec["cancel_reason"] == "unpaid past the payment deadline"
    assert kit.get("sales_order", on_time["id"])["status"] == "allocated"


def test_review_reject_cancels_the_order(kit):
    order = kit.order([("P1", 1, 10)], region="east")  # below the floor price
    assert kit.get("sales_order", order["id"])["status"] == "on_hold"
    reviewer = kit.get("sales_order", order["id"])["reviewer"]
    with pytest.raises(Exception, match="comment is required"):
        kit.act(reviewer, order, "reject")
    kit.act(reviewer, order, "reject", comment="price typo by the shop")
    rec = kit.get("sales_order", order["id"])
    assert rec["status"] == "cancelled" and rec["cancel_reason"] == "rejected in review"
    kit.advance(hours=1)
    assert kit.allocations(order) == []
