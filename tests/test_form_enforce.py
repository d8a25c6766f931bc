"""forms.enforce.check_posted: the server re-checks a form's live rules on save. A value posted for a
field hidden by visible_if (its own or its section's) or made read-only by read_only_if is refused by
field name; required_if is enforced; child rows are checked row by row."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordo.engine import open_app
from ordo.forms.enforce import check_posted

APP = {
    "entities/order.yaml": """
        name: sales_order
        fields:
          kind: {type: enum, options: [person, company]}
          tax_id: {type: string, visible_if: "kind == 'company'", required_if: "kind == 'company'"}
          locked: {type: boolean}
          note: {type: string, read_only_if: "locked"}
          amount: {type: money}
          approver: {type: string, required_if: "amount > 1000"}
          customer: {type: link, entity: customer}
          vip_code: {type: string, visible_if: "customer.vip"}
          lines: {type: table, entity: order_line}
          internal: {type: string}
        ---
        name: order_line
        child: true
        fields:
          qty: {type: integer}
          discount: {type: decimal, scale: 2, visible_if: "qty >= 10"}
          reason: {type: string, required_if: "discount > 0.2"}
        ---
        name: customer
        fields:
          vip: {type: boolean}
    """,
    "forms/order_form.yaml": """
        name: order_form
        entity: sales_order
        sections:
          - fields: [kind, tax_id, locked, note, amount, approver, customer, vip_code, lines]
          - fields: [internal]
            visible_if: "kind == 'company'"
    """,
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from .conftest import write_app

    root = tmp_path_factory.mktemp("enforce")
    a = open_app(write_app(root / "app", APP), f"sqlite:///{root / 'a.db'}")
    yield a.definition
    a.close()


def _fields(errors):
    return {e.field: e.message for e in errors}


def test_a_value_for_a_hidden_field_is_refused_by_name(app):
    errors = check_posted(app, "order_form", None, {"kind": "person", "tax_id": "913100"})
    assert _fields(errors) == {"tax_id": "is hidden (visible_if: kind == 'company') and cannot be set"}
    # shown by a choice made in the same post: accepted
    assert check_posted(app, "order_form", None, {"kind": "company", "tax_id": "913100"}) == []
    # an empty value for a hidden field is no value
    assert check_posted(app, "order_form", None, {"kind": "person", "tax_id": ""}) == []


def test_a_hidden_section_refuses_its_fields(app):
    errors = check_posted(app, "order_form", None, {"kind": "person", "internal": "x"})
    assert _fields(errors) == {"internal": "is hidden (its section is hidden) and cannot be set"}
    assert check_posted(app, "order_form", None, {"kind": "company", "tax_id": "1", "internal": "x"}) == []


def test_switching_away_keeps_the_stored_hidden_value_but_refuses_a_new_one(app):
    before = {"kind": "company", "tax_id": "913100", "name": "SO-1"}
    # the page does not post hidden fields; posting the stored value again is no change
    assert check_posted(app, "order_form", before, {"kind": "person"}) == []
    assert check_posted(app, "order_form", before, {"kind": "person", "tax_id": "913100"}) == []
    errors = check_posted(app, "order_form", before, {"kind": "person", "tax_id": "999"})
    assert list(_fields(errors)) == ["tax_id"]


def test_read_only_if_refuses_a_change(app):
    before = {"locked": True, "note": "agreed"}
    errors = check_posted(app, "order_form", before, {"note": "changed"})
    assert _fields(errors) == {"note": "is read-only (read_only_if: locked) and cannot be changed"}
    assert check_posted(app, "order_form", before, {"note": "agreed"}) == []
    # unlocking in the same post makes the field editable (the rule holds on the record after the save)
    assert check_posted(app, "order_form", before, {"locked": "false", "note": "changed"}) == []
    assert check_posted(app, "order_form", {"locked": False, "note": "a"}, {"note": "b"}) == []


def test_required_if_is_enforced(app):
    errors = check_posted(app, "order_form", None, {"kind": "company"})
    assert _fields(errors) == {"tax_id": "is required"}
    errors = check_posted(app, "order_form", None, {"amount": "1000.01", "approver": ""})
    assert _fields(errors) == {"approver": "is required"}
    assert check_posted(app, "order_form", None, {"amount": "1000.00"}) == []
    # decimals compare exactly, as typed values: a stored amount over the limit needs the approver too
    errors = check_posted(app, "order_form", {"amount": Decimal("1500")}, {"note": "x"})
    assert _fields(errors) == {"approver": "is required"}


def test_values_compare_after_coercion(app):
    before = {"locked": True, "note": "n", "amount": Decimal("12.50")}
    assert check_posted(app, "order_form", {**before, "kind": "company", "tax_id": "1"},
                        {"amount": "12.5", "locked": "true"}) == []


def test_child_rows_are_checked_row_by_row(app):
    data = {"lines": [{"qty": "2", "discount": "0.10"}, {"qty": "12", "discount": "0.30"},
                      {"qty": "12", "discount": "0.05"}]}
    assert _fields(check_posted(app, "order_form", None, data)) == {
        "lines[0].discount": "is hidden (visible_if: qty >= 10) and cannot be set",
        "lines[1].reason": "is required",
    }
    before = {"lines": [{"id": 7, "qty": 12, "discount": Decimal("0.30"), "reason": "bulk"}]}
    assert check_posted(app, "order_form", before, {"lines": [{"id": 7, "qty": "12"}]}) == []
    errors = check_posted(app, "order_form", before, {"lines": [{"id": 7, "qty": "2", "discount": "0.40"}]})
    assert list(_fields(errors)) == ["lines[0].discount"]


def test_conditions_through_links_use_the_given_loader(app):
    customers = {"C-VIP": {"name": "C-VIP", "vip": True}, "C-2": {"name": "C-2", "vip": False}}
    data = {"customer": "C-2", "vip_code": "gold"}
    errors = check_posted(app, "order_form", None, data, link=lambda entity, key: customers.get(key))
    assert list(_fields(errors)) == ["vip_code"]
    assert check_posted(app, "order_form", None, {**data, "customer": "C-VIP"},
                        link=lambda entity, key: customers.get(key)) == []
    # without a loader a link's fields read as null: the field counts as hidden
    assert list(_fields(check_posted(app, "order_form", None, {**data, "customer": "C-VIP"}))) == ["vip_code"]


def test_default_layout_and_unknown_form(app):
    errors = check_posted(app, "sales_order", None, {"kind": "person", "tax_id": "1"})
    assert list(_fields(errors)) == ["tax_id"]
    assert check_posted(app, "sales_order", None, {"kind": "person", "internal": "x"}) == []  # no sections
    with pytest.raises(KeyError):
        check_posted(app, "nope", None, {})


def test_messages_in_chinese(app):
    errors = check_posted(app, "order_form", {"locked": True, "note": "a"},
                          {"kind": "company", "note": "b", "internal": "x"}, lang="zh")
    assert _fields(errors) == {"tax_id": "必填", "note": "当前只读（read_only_if: locked），不能修改"}
    errors = check_posted(app, "order_form", None, {"kind": "person", "tax_id": "1", "internal": "x"}, lang="zh")
    assert _fields(errors) == {"tax_id": "当前不显示（visible_if: kind == 'company'），不能填写",
                               "internal": "当前不显示（所在分区不显示），不能填写"}


def test_with_the_transaction_links_resolve_as_the_store_resolves_them(tmp_path):
    from .conftest import write_app

    files = dict(APP)
    files["entities/order.yaml"] = files["entities/order.yaml"].replace(
        "internal: {type: string}", "internal: {type: string}\n          backup: {type: link, entity: customer, "
        "read_only_if: \"locked\"}")
    a = open_app(write_app(tmp_path / "app", files), f"sqlite:///{tmp_path / 'a.db'}")
    try:
        a.create("customer", {"name": "C-VIP", "vip": True}, "t")
        a.create("customer", {"name": "C-2", "vip": False}, "t")
        rec = a.create("sales_order", {"customer": "C-2", "backup": "C-2", "locked": True}, "t")
        with a.transaction("t") as tx:
            before = tx.get("sales_order", rec["id"])  # links as ids
            check = lambda data: _fields(check_posted(a.definition, "order_form", before, data, tx=tx))  # noqa: E731
            assert check({"backup": "C-2", "note": ""}) == {}  # the same customer, named: no change
            assert list(check({"backup": "C-VIP"})) == ["backup"]  # read-only while locked
            assert list(check({"vip_code": "gold"})) == ["vip_code"]  # C-2 is no VIP (read via tx.env)
            assert check({"customer": "C-VIP", "vip_code": "gold"}) == {}
    finally:
        a.close()
