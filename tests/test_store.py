"""The record store through the embedding API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import Conflict, NotFound, UsageError, ValidationFailed, open_app
from ordo.engine.stats import count_statements

from .apps import SHOP


@pytest.fixture
def shop(make_app, db_url):
    app = open_app(make_app(SHOP), db_url, clock=Clock(dt.datetime(2026, 3, 15, 10, 0)))
    app.create("customer", {"code": "C1", "level": "vip", "credit_limit": 5000, "region": "north"}, "admin")
    app.create("customer", {"code": "C2", "region": "south"}, "admin")
    app.create("product", {"code": "P1", "price": "9.99"}, "admin")
    app.create("product", {"code": "P2", "price": 100}, "admin")
    yield app
    app.close()


def order(customer="C1", lines=((1, "P1", "9.99"),)):
    return {"customer": customer, "lines": [{"qty": q, "product": p, "price": pr} for q, p, pr in lines]}


def test_create_applies_defaults_computed_and_naming(shop):
    o = shop.create("order", order(lines=[(2, "P1", "9.99"), (1, "P2", "100")]), "alice")
    assert o["name"] == "SO-2026-00001"
    assert o["status"] == "new"
    assert o["order_date"] == dt.date(2026, 3, 15)
    assert o["total"] == Decimal("119.98")
    assert o["vip"] is True
    assert [line["amount"] for line in o["lines"]] == [Decimal("19.98"), Decimal("100")]
    assert o["created_by"] == "alice" and o["version"] == 1
    assert shop.create("order", order(), "alice")["name"] == "SO-2026-00002"


def test_get_by_id_and_name(shop):
    o = shop.create("order", order(), "alice")
    assert shop.get("order", o["id"], "bob")["name"] == o["name"]
    assert shop.get("order", o["name"], "bob")["id"] == o["id"]
    with pytest.raises(NotFound):
        shop.get("order", "SO-nope", "bob")


def test_validation_collects_all_errors_and_stores_nothing(shop):
    with pytest.raises(ValidationFailed) as e:
        shop.create("order", {"customer": "C9", "lines": [{"qty": 0, "product": "P1"}], "bogus": 1,
                              "note": "x" * 300}, "alice")
    fields = {err.field for err in e.value.errors}
    assert {"customer", "bogus", "note", "lines[0].qty", "lines[0].price"} <= fields
    assert shop.count("order", user="alice") == 0


def test_entity_validation_uses_links(shop):
    with pytest.raises(ValidationFailed, match="over the credit limit"):
        shop.create("order", order(customer="C2", lines=[(20, "P2", "100")]), "alice")


def test_type_errors_are_clear(shop):
    with pytest.raises(ValidationFailed) as e:
        shop.create("order", {"customer": "C1", "order_date": "31/01/2026", "lines": [
            {"qty": "two", "product": "P1", "price": "1.234"}]}, "alice")
    messages = {err.field: err.message for err in e.value.errors}
    assert "date" in messages["order_date"]
    assert "whole number" in messages["lines[0].qty"]
    assert "decimal places" in messages["lines[0].price"]


def test_unique_and_pattern(shop):
    with pytest.raises(ValidationFailed, match="already used"):
        shop.create("customer", {"code": "C1"}, "admin")
    with pytest.raises(ValidationFailed, match="pattern"):
        shop.create("customer", {"code": "lower"}, "admin")


def test_update_with_optimistic_locking(shop):
    o = shop.create("order", order(), "alice")
    o2 = shop.update("order", o["id"], {"status": "paid"}, "bob", expected_version=1)
    assert o2["version"] == 2 and o2["status"] == "paid" and o2["updated_by"] == "bob"
    with pytest.raises(Conflict):
        shop.update("order", o["id"], {"status": "cancelled"}, "carol", expected_version=1)
    assert shop.get("order", o["id"], "x")["status"] == "paid"


def test_an_update_whose_values_come_back_as_bound_is_not_returned(shop):
    o = shop.create("order", order(lines=[(1, "P1", "9.99"), (1, "P2", "100")]), "alice")
    with count_statements(shop.engine) as counts:
        o2 = shop.update("order", o["id"], {"note": "by phone", "status": "paid"}, "bob")
    writes = [t for t in counts.texts if t.startswith('UPDATE "order" ')]
    assert len(writes) == 1 and "RETURNING" not in writes[0], writes  # the row is the record with the values
    assert o2 == shop.get("order", o["id"], "x") and o2["version"] == 2 and o2["updated_by"] == "bob"
    o3 = shop.update("order", o["id"], {"lines": [{"id": o["lines"][0]["id"], "price": "1.5"},
                                                  {"id": o["lines"][1]["id"]}]}, "bob")
    assert o3 == shop.get("order", o["id"], "x") and o3["total"] == Decimal("101.5")


def test_update_child_rows_and_recompute(shop):
    o = shop.create("order", order(lines=[(1, "P1", "9.99"), (1, "P2", "100")]), "alice")
    first, second = o["lines"]
    o2 = shop.update("order", o["id"], {"lines": [{"id": second["id"], "qty": 2}, {"qty": 3, "product": "P1",
                                                                                     "price": 1}]}, "bob")
    assert [(line["qty"], line["idx"]) for line in o2["lines"]] == [(2, 1), (3, 2)]
    assert o2["lines"][0]["id"] == second["id"]
    assert o2["total"] == Decimal("203")


def test_updated_child_rows_set_only_the_columns_they_change(shop):
    o = shop.create("order", order(lines=[(1, "P1", "9.99"), (1, "P2", "100"), (4, "P2", "100")]), "alice")
    first, second, third = o["lines"]
    with count_statements(shop.engine) as counts:
        o2 = shop.update("order", o["id"], {"lines": [{"id": first["id"], "qty": 2}, {"id": second["id"], "price": 50},
                                                      {"id": third["id"]}]}, "bob")
    writes = [t for t in counts.texts if t.startswith("UPDATE order__lines ")]
    assert len(writes) == 1, writes
    assert [c.split("=")[0] for c in writes[0].split(" SET ")[1].split(" WHERE")[0].split(", ")] == [
        "qty", "price", "amount"], writes  # not product (nor idx): no row changes it
    assert [(ln["qty"], ln["price"], ln["amount"]) for ln in o2["lines"]] == [
        (2, Decimal("9.99"), Decimal("19.98")), (1, Decimal("50"), Decimal("50")), (4, Decimal("100"), Decimal("400"))]
    assert shop.get("order", o["id"], "x")["lines"] == o2["lines"]


def test_failed_update_leaves_record_unchanged(shop):
    o = shop.create("order", order(), "alice")
    with pytest.raises(ValidationFailed):
        shop.update("order", o["id"], {"lines": [{"qty": 500, "product": "P2", "price": 100}]}, "bob")
    same = shop.get("order", o["id"], "x")
    assert same["version"] == 1 and len(same["lines"]) == 1 and same["total"] == Decimal("9.99")


def test_transaction_is_atomic(shop):
    with pytest.raises(ValidationFailed), shop.transaction("alice") as tx:
        tx.create("order", order())
        tx.create("order", order(customer="nobody"))
    assert shop.count("order", user="x") == 0


def test_query_filters_in_sql(shop):
    shop.create("order", order(lines=[(1, "P2", "100")]), "alice")
    shop.create("order", order(customer="C2", lines=[(1, "P1", "9.99")]), "alice")
    shop.create("order", order(lines=[(3, "P2", "100")]), "alice")
    rows = shop.query("order", "total > 50 and customer.level == 'vip'", user="x", order_by="-total")
    assert [r["total"] for r in rows] == [Decimal("300"), Decimal("100")]
    assert shop.count("order", "customer.region == :r", user="x", params={"r": "south"}) == 1
    assert len(shop.query("order", "any(lines, product.code == 'P1')", user="x")) == 1
    assert [r["name"] for r in shop.query("order", user="x", limit=1, offset=1)] == ["SO-2026-00002"]
    with pytest.raises(UsageError, match="unknown field"):
        shop.query("order", "totl > 1", user="x")
    with pytest.raises(UsageError, match="order by"):
        shop.query("order", user="x", order_by="nope")


def test_delete_restrict_and_audit(shop):
    o = shop.create("order", order(), "alice")
    with pytest.raises(Conflict, match="still used"):
        shop.delete("customer", "C1", "admin")
    shop.delete("order", o["id"], "bob")
    shop.delete("customer", "C1", "admin")
    log = shop.audit_log(user="admin", entity="order")
    assert [e.action for e in log] == ["delete", "create"]
    assert log[0].user == "bob" and log[0].changes["status"] == ["new", None]


def test_audit_records_field_changes(shop):
    o = shop.create("order", order(), "alice")
    shop.update("order", o["id"], {"status": "paid", "note": "rush"}, "bob")
    entry = shop.audit_log(user="x", entity="order", record=o["name"])[0]
    assert entry.action == "update" and entry.user == "bob"
    assert entry.changes == {"note": [None, "rush"], "status": ["new", "paid"]}


def test_acting_user_is_required(shop):
    with pytest.raises(UsageError, match="acting user"):
        shop.create("customer", {"code": "X1"}, None)
    with pytest.raises(UsageError, match="unknown entity"):
        shop.create("nothing", {}, "alice")


def test_null_parameters_work_on_every_database(shop):
    shop.create("order", order(), "alice")
    assert shop.count("order", "note == :n", user="x", params={"n": None}) == 1
    assert shop.count("order", ":n == null or customer.region == :n", user="x", params={"n": None}) == 1


def test_parent_computed_field_may_share_a_name_with_a_child_field(make_app, db_url):
    app = open_app(make_app({"entities/o.yaml": """
        name: o
        fields:
          lines: {type: table, entity: l}
          cheap: {type: computed, expr: "any(lines, cheap)"}
        ---
        name: l
        child: true
        fields:
          price: {type: integer}
          cheap: {type: computed, expr: "price < 5"}
    """}), db_url)
    assert app.create("o", {"lines": [{"price": 3}]}, "u")["cheap"] is True
    app.close()


def test_query_without_a_limit_gives_every_record_or_refuses_never_a_silent_cut(shop, monkeypatch):
    """``app.query`` with no limit: every matching record (read page by page); more than ``MAX_LIMIT`` are
    refused, naming how to page; with a limit, that page."""
    from ordo.engine import app as app_module
    from ordo.engine import pages

    for i in range(7):
        shop.create("product", {"code": f"Q{i}", "price": i + 1}, "admin")
    monkeypatch.setattr(pages, "PAGE_SIZE", 3)
    every = shop.query("product", "code >= 'Q'", user="admin")
    assert [p["code"] for p in every] == [f"Q{i}" for i in range(7)]  # by id, over three pages
    assert [p["code"] for p in shop.query("product", "code >= 'Q'", user="admin", limit=2, offset=5)] == ["Q5", "Q6"]
    assert [p["code"] for p in shop.query("product", user="admin", order_by="-code", offset=8)] == ["P1"]
    monkeypatch.setattr(app_module, "MAX_LIMIT", 6)
    with pytest.raises(UsageError, match="more than 6 product records match: ask for a page"):
        shop.query("product", "code >= 'Q'", user="admin")
    assert len(shop.query("product", "code >= 'Q'", user="admin", limit=6)) == 6
