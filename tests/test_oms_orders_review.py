"""OMS order review (auto-review): every risk rule holds an order for manual review with its reason,
thresholds come from the risk policy record, reviewers are picked round robin within the order's region."""

from __future__ import annotations

import datetime as dt

import pytest

from .oms_orders_kit import Kit


@pytest.fixture
def kit(db_url):
    k = Kit(db_url)
    yield k
    k.close()


def _held(kit, order) -> tuple[str, str, str]:
    rec = kit.get("sales_order", order["id"])
    return rec["status"], rec["hold_reason"], rec["risk_reasons"]


def _past_order(kit, customer, total_each, phone=None, days_ago=10):
    return kit.order([("P4", total_each // 10, 10)], customer=customer, status="delivered",
                     order_date=kit.clock.now() - dt.timedelta(days=days_ago), **({"phone": phone} if phone else {}))


def test_clean_order_is_approved_automatically(kit):
    rec = kit.get("sales_order", kit.order([("P1", 2)])["id"])
    assert (rec["status"], rec["risk_level"], rec["hold_reason"]) == ("reviewed", "none", None)
    assert kit.tasks("rita") == [] and kit.tasks("ray") == []


def test_total_above_the_policy_limit(kit):
    order = kit.order([("P3", 40)])  # 8000 < default limit 20000
    assert _held(kit, order)[0] == "reviewed"
    kit.app.create("risk_policy", {"code": "DEFAULT", "policy_name": "Default", "max_order_total": 5000}, "admin")
    order = kit.order([("P3", 40)])
    assert _held(kit, order) == ("on_hold", "total_above_limit", "total_above_limit")
    assert kit.get("sales_order", order["id"])["risk_level"] == "low"


def test_total_far_above_the_customers_average(kit):
    for _ in range(3):
        _past_order(kit, "C2", 100)
    assert _held(kit, kit.order([("P1", 5)], customer="C2"))[0] == "reviewed"  # 500 = 5 x 100: not above
    order = kit.order([("P1", 10)], customer="C2")  # 1000 = 5 x avg(100, 100, 100, 500): not above
    assert _held(kit, order)[0] == "reviewed"
    order = kit.order([("P1", 15)], customer="C2")  # 1500 > 5 x avg(100, 100, 100, 500, 1000) = 1800? no
    assert _held(kit, order)[0] == "reviewed"
    order = kit.order([("P3", 20)], customer="C2")  # 4000 > 5 x avg(100, 100, 100, 500, 1000, 1500) = 2750
    assert _held(kit, order)[2] == "above_customer_average"


def test_quantity_of_one_product_above_the_limit(kit):
    assert _held(kit, kit.order([("P4", 50)]))[0] == "reviewed"
    assert _held(kit, kit.order([("P4", 51)]))[2] == "quantity_above_limit"


@pytest.mark.parametrize("entry_type", ["phone", "email", "address"])
def test_blacklisted_phone_email_or_address(kit, entry_type):
    values = {"phone": "13911112222", "email": "Fraud@Example.com", "address": "9 Fraud Street"}
    kit.app.create("blacklist_entry", {"entry_type": entry_type, "value": values[entry_type].lower()
                                       if entry_type == "email" else values[entry_type], "reason": "chargebacks"},
                   "admin")
    fields = {"phone": {"phone": values["phone"]}, "email": {"email": values["email"]},
              "address": {"ship_address": values["address"]}}[entry_type]
    order = kit.order([("P1", 1)], **fields)
    status, _, reasons = _held(kit, order)
    assert status == "on_hold" and reasons == "blacklisted"
    assert kit.get("sales_order", order["id"])["risk_level"] == "high"
    assert _held(kit, kit.order([("P1", 1)]))[0] == "reviewed"


def test_blacklisted_customer(kit):
    kit.app.update("customer", "C3", {"blacklisted": True, "blacklist_reason": "fraud"}, "admin")
    assert _held(kit, kit.order([("P1", 1)], customer="C3"))[2] == "blacklisted"


def test_many_orders_from_the_same_phone_within_24_hours(kit):
    phone = "13855556666"
    _past_order(kit, "C1", 100, phone=phone, days_ago=2)  # outside the window
    for _ in range(2):
        assert _held(kit, kit.order([("P1", 1)], phone=phone))[0] == "reviewed"
    third = kit.order([("P1", 1)], phone=phone)
    assert _held(kit, third)[0] == "reviewed"  # two earlier orders in the window: limit is 3
    fourth = kit.order([("P1", 1)], phone=phone)
    assert _held(kit, fourth)[2] == "many_orders_same_phone"


def test_price_below_the_floor(kit):
    assert _held(kit, kit.order([("P1", 1, 80)]))[0] == "reviewed"  # at the floor
    assert _held(kit, kit.order([("P1", 1, 79)]))[2] == "price_below_floor"


def test_customer_return_rate_above_the_threshold_over_90_days(kit):
    past = [_past_order(kit, "C2", 100, days_ago=d) for d in (5, 20, 40, 60, 120)]
    for order in past[:1]:
        kit.app.create("return_request", {"sales_order": order["id"], "customer": "C2", "reason": "changed_mind",
                                          "status": "closed", "requested_at": kit.clock.now() - dt.timedelta(days=3),
                                          "lines": [{"product": "P4", "quantity": 1, "unit_price": 10}]}, "admin")
    assert _held(kit, kit.order([("P1", 1)], customer="C2"))[0] == "reviewed"  # 1 return / 4 orders in 90 days
    kit.app.create("return_request", {"sales_order": past[1]["id"], "customer": "C2", "reason": "defective",
                                      "status": "closed", "requested_at": kit.clock.now() - dt.timedelta(days=1),
                                      "lines": [{"product": "P4", "quantity": 1, "unit_price": 10}]}, "admin")
    # 2 returns / 5 orders (the one just reviewed counts) = 0.4 > 0.3
    assert _held(kit, kit.order([("P1", 1)], customer="C2"))[2] == "high_return_rate"


def test_incomplete_address_and_several_reasons(kit):
    order = kit.order([("P1", 1, 1), ("P4", 60)], ship_city=None)
    status, hold, reasons = _held(kit, order)
    assert status == "on_hold"
    assert reasons.split() == ["quantity_above_limit", "price_below_floor", "incomplete_address"]
    assert hold == reasons and kit.get("sales_order", order["id"])["risk_level"] == "high"


def test_held_orders_go_round_robin_to_the_reviewers_of_their_region(kit):
    east = [kit.order([("P1", 1, 1)], region="east") for _ in range(4)]
    south = kit.order([("P1", 1, 1)], region="south")
    north = kit.order([("P1", 1, 1)], region="north")  # no north group: any reviewer, in turn
    reviewers = [kit.get("sales_order", o["id"])["reviewer"] for o in east]
    assert sorted(reviewers[:2]) == ["ray", "rita"] and reviewers[2:] == reviewers[:2]
    assert kit.get("sales_order", south["id"])["reviewer"] == "sam"
    assert kit.get("sales_order", north["id"])["reviewer"] in ("ray", "rita", "sam")
    assert {t.record_name for t in kit.tasks("sam")} == {south["name"]}
    first = east[0]
    who = reviewers[0]
    kit.act(who, first)
    rec = kit.get("sales_order", first["id"])
    assert rec["status"] == "reviewed" and rec["reviewed_at"] is not None and rec["reviewer"] == who
    assert rec["risk_reasons"] == "price_below_floor"  # the reason stays on the order
    kit.advance(minutes=31)
    assert kit.get("sales_order", first["id"])["status"] == "allocated"


def test_policy_thresholds_come_from_the_active_record(kit):
    kit.app.create("risk_policy", {"code": "STRICT", "policy_name": "Strict", "max_line_qty": 3}, "admin")
    assert _held(kit, kit.order([("P4", 4)]))[2] == "quantity_above_limit"
    kit.app.update("risk_policy", "STRICT", {"active": False}, "admin")
    assert _held(kit, kit.order([("P4", 4)]))[0] == "reviewed"


def test_cancelling_a_held_order_withdraws_the_review_task(kit):
    order = kit.order([("P1", 1, 1)], region="south")
    assert [t.record_name for t in kit.tasks("sam")] == [order["name"]]
    kit.app.update("sales_order", order["id"], {"status": "cancelled", "cancel_reason": "buyer gave up"}, "cathy")
    assert kit.tasks("sam") == []
    with kit.app.reader("admin") as tx:
        assert kit.flows.status(tx, "sales_order", order["id"]).outcome == "cancelled"
    assert kit.get("sales_order", order["id"])["status"] == "cancelled"


def test_a_client_app_extending_the_pack_overrides_a_rule_and_a_threshold(make_app, db_url):
    import os

    app_dir = make_app({
        "app.yaml": "name: acme_oms\nversion: 1\nextends: builtin:oms\nlanguages: [en, zh]\n",
        "rules/order_reviewer.yaml": """
            kind: assignment
            name: order_reviewer
            entity: sales_order
            field: reviewer
            rules:
              - {strategy: round_robin, to: {user: boss}}
        """,
    }, name="acme_oms")
    os.environ["ORDO_TEST_OMS_APP"] = str(app_dir)
    try:
        kit = Kit(db_url)
    finally:
        del os.environ["ORDO_TEST_OMS_APP"]
    try:
        with kit.app.transaction("admin") as tx:
            tx.users.save("boss")
        kit.app.create("risk_policy", {"code": "ACME", "policy_name": "Acme", "max_order_total": 150}, "admin")
        order = kit.order([("P1", 2)])  # 200 > 150
        rec = kit.get("sales_order", order["id"])
        assert (rec["status"], rec["hold_reason"], rec["reviewer"]) == ("on_hold", "total_above_limit", "boss")
    finally:
        kit.close()
