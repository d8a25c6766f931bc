"""The OMS pack's roles: every demo role can do its job and nothing more (default deny, field rules,
flow and report grants), acting as each of them through the engine's public API."""

from __future__ import annotations

import pytest

from ordo.engine import NotFound, PermissionDenied, UsageError, ValidationFailed

from .conftest import BACKENDS, PG_URL, pg_schema
from .oms_orders_kit import Kit


@pytest.fixture(scope="module", params=BACKENDS)
def kit(request, tmp_path_factory):
    """One OMS database per backend for the whole module (the tests leave it as they found it)."""
    if request.param == "sqlite":
        yield from _kit(f"sqlite:///{tmp_path_factory.mktemp('oms_roles') / 'oms.db'}")
    elif not PG_URL:
        pytest.skip("ORDO_TEST_PG_URL not set")
    else:
        with pg_schema() as url:
            yield from _kit(url)


def _kit(url):
    k = Kit(url)
    a = k.app
    with a.users("admin") as users:
        users.save("rita", attrs={"region": "east"})  # a reviewer of one region
        users.save("zoe")  # signed in, no role
    a.create("risk_policy", {"code": "DEFAULT", "policy_name": "Default"}, "admin")
    k.east = k.order([("P4", 51)], region="east")  # held: quantity above the limit
    k.south = k.order([("P4", 51)], region="south")
    k.clean = k.order([("P1", 1)], region="east")
    yield k
    k.close()


def actions(kit, user, entity):
    with kit.app.reader(user) as tx:
        return kit.app.permissions.entity_actions(tx.user, entity)


def test_everyone_reads_reference_data_without_costs(kit):
    a = kit.app
    for user in ("zoe", "cathy", "rita", "wang"):
        p1 = a.get("product", "P1", user)
        assert p1["price"] == 100 and "cost" not in p1 and "margin" not in p1
        assert a.count("channel", user=user) == 1 and a.count("warehouse", user=user) == 3
        with pytest.raises(UsageError, match="unknown field 'cost' in product"):
            a.query("product", "cost > 0", user=user)
    assert a.count("sales_order", user="zoe") == 0 and actions(kit, "zoe", "customer") == set()
    for user in ("mia", "fiona", "peter", "paula"):  # who buys, prices or accounts for goods
        assert "cost" in a.get("product", "P1", user)


def test_prices_and_risk_thresholds_belong_to_their_owners(kit):
    a = kit.app
    for user in ("cathy", "rita", "wang", "fiona", "zoe"):
        with pytest.raises(PermissionDenied):
            a.update("product", "P1", {"price": 1}, user)
        with pytest.raises((PermissionDenied, NotFound)):
            a.update("risk_policy", "DEFAULT", {"max_order_total": 1}, user)
        with pytest.raises(PermissionDenied):
            a.create("risk_policy", {"code": "LAX", "policy_name": "Lax", "max_order_total": 10 ** 9}, user)
    with pytest.raises(NotFound):  # customer service cannot even see the thresholds
        a.get("risk_policy", "DEFAULT", "cathy")
    assert a.get("risk_policy", "DEFAULT", "rita")["max_line_qty"] == 50  # reviewers read them
    with pytest.raises(ValidationFailed, match="price: is read-only"):  # purchasing keeps costs, not prices
        a.update("product", "P2", {"price": 1}, "peter")
    assert a.update("product", "P2", {"cost": 20}, "peter")["cost"] == 20
    assert a.update("product", "P2", {"price": 55}, "mia")["price"] == 55
    assert a.update("risk_policy", "DEFAULT", {"max_line_qty": 60}, "mia")["max_line_qty"] == 60
    a.update("risk_policy", "DEFAULT", {"max_line_qty": 50}, "mia")


def test_customer_service_takes_orders_and_nothing_more(kit):
    a = kit.app
    assert actions(kit, "cathy", "sales_order") == {"read", "create", "update"}
    assert a.count("sales_order", user="cathy") == 3
    with pytest.raises(PermissionDenied):  # a reviewed order changes only through a change request
        a.update("sales_order", kit.clean["id"], {"buyer_note": "x"}, "cathy")
    with pytest.raises(PermissionDenied):
        a.delete("sales_order", kit.east["id"], "cathy")
    assert actions(kit, "cathy", "invoice") == {"read"} and actions(kit, "cathy", "stock_movement") == set()
    reports = a.features["reports"]
    result = reports.report("top_customers", user="cathy", params={"period": "all"})
    with pytest.raises(PermissionDenied, match="may not export"):
        reports.export(result, "csv")
    for name in ("inventory_turnover", "order_reconciliation"):
        with pytest.raises(PermissionDenied, match=f"cathy may not run report {name}"):
            reports.report(name, user="cathy")


def test_a_reviewer_sees_and_reviews_only_their_region(kit):
    a = kit.app
    names = {r["name"] for r in a.query("sales_order", user="rita")}
    assert kit.east["name"] in names and kit.south["name"] not in names
    with pytest.raises(NotFound):
        a.get("sales_order", kit.south["name"], "rita")
    assert "credit_limit" not in a.get("customer", "C1", "rita")  # hidden from reviewers
    assert a.count("invoice", user="rita") == 0
    assert a.features["reports"].report("risky_orders", user="rita").rows is not None
    with pytest.raises(PermissionDenied):
        a.features["reports"].report("sales_by_channel_month", user="rita")


def test_finance_cannot_approve_orders(kit):
    a = kit.app
    flows = a.features["flows"]
    task = next(t for user in ("rita", "ray") for t in kit.tasks(user) if t.record_name == kit.east["name"])
    assert kit.tasks("fiona") == []
    with a.transaction("fiona") as tx, pytest.raises(PermissionDenied, match="fiona may not approve"):
        flows.approve(tx, task.id)
    with a.transaction("fiona") as tx, pytest.raises(PermissionDenied, match="fiona may not cancel flow"):
        flows.cancel(tx, task.instance_id)
    assert a.features["reports"].export(a.features["reports"].report("order_reconciliation", user="fiona"),
                                        "csv")
    assert actions(kit, "fiona", "payment") == {"read", "create", "update"}


def test_the_warehouse_moves_goods_but_not_money(kit):
    a = kit.app
    with pytest.raises(ValidationFailed, match="payment_status: is read-only"):
        a.update("sales_order", kit.clean["id"], {"payment_status": "refunded"}, "wang")
    assert actions(kit, "wang", "shipment") == {"read", "create", "update"}
    assert actions(kit, "wang", "invoice") == set() and actions(kit, "wang", "customer") == set()
    with pytest.raises(PermissionDenied):
        a.features["reports"].report("inventory_turnover", user="wang")
    assert a.features["reports"].report("at_reorder_point", user="wang").rows is not None
