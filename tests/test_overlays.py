"""Customer overlays: merge semantics per kind, placement, rewired flow edges, removal, provenance of errors,
stacking (base -> industry -> customer)."""

from __future__ import annotations

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app

from .conftest import write_app
from .overlay_apps import BASE, overlay


@pytest.fixture
def base(tmp_path):
    return write_app(tmp_path / "base", BASE, "base")


def load(tmp_path, files, name="cust", extends="../base"):
    return load_app(write_app(tmp_path / name, overlay(files, extends, name), name))


def errors(tmp_path, files, name="cust"):
    with pytest.raises(DefinitionErrors) as e:
        load(tmp_path, files, name)
    return [str(x) for x in e.value.errors]


def test_a_field_is_added_in_place_and_the_rest_of_the_entity_is_kept(tmp_path, base):
    app = load(tmp_path, {"entities/order.yaml": """
        name: order
        label: {zh: 订货单}
        fields:
          rush: {type: boolean, default: false, after: code}
          amount: {default: 10}
          status: {options: [{value: done, label: {zh: 已完成}}, {value: held, after: new}]}
    """})
    order = app.get("entity", "order")
    assert list(order.fields) == ["code", "rush", "status", "amount", "note", "big"]
    assert order.label == {"en": "Order", "zh": "订货单"}
    assert order.fields["amount"].default == 10 and order.fields["amount"].min == 0  # scalar replaced, rest kept
    opts = [(o.value, o.label) for o in order.fields["status"].options]
    assert opts == [("new", {"en": "New", "zh": "新建"}), ("held", None), ("done", {"en": "Done", "zh": "已完成"})]


def test_remove_deletes_an_item_and_a_definition(tmp_path, base):
    app = load(tmp_path, {"entities/order.yaml": "name: order\nfields:\n  note: {remove: true}\n",
                          "reports/orders.yaml": "name: orders_by_status\ndisabled: true\n",
                          "forms/order.yaml": "name: order\nremove: true\n"})
    assert "note" not in app.get("entity", "order").fields
    assert app.get("report", "orders_by_status") is None and app.get("form", "order") is None
    assert app.overlay.removed.keys() == {("report", "orders_by_status"), ("form", "order")}


def test_a_node_inserted_after_another_takes_over_its_next(tmp_path, base):
    app = load(tmp_path, {"flows/approve.yaml": """
        name: approve
        nodes:
          finance:
            after: check
            type: approval
            approvers: [{role: boss}]
    """})
    nodes = app.get("flow", "approve").nodes
    assert list(nodes) == ["check", "finance", "finish", "done"]
    assert (nodes["check"].next, nodes["finance"].next) == ("finance", "finish")


def test_a_node_inserted_before_another_takes_over_every_edge_to_it(tmp_path, base):
    app = load(tmp_path, {"flows/approve.yaml": """
        name: approve
        nodes:
          check: {on_reject: finish}
          audit: {before: finish, type: action, set: {note: "'audited'"}}
    """})
    nodes = app.get("flow", "approve").nodes
    assert list(nodes) == ["check", "audit", "finish", "done"]
    assert (nodes["check"].next, nodes["check"].on_reject, nodes["audit"].next) == ("audit", "audit", "finish")


def test_named_lists_merge_by_name_and_plain_lists_are_edited_or_replaced(tmp_path, base):
    app = load(tmp_path, {
        "reports/orders.yaml": """
            name: orders_by_status
            measures:
              - {name: orders, label: {zh: 订单数}}
              - {name: biggest, agg: max, expr: amount, before: amount}
        """,
        "forms/order.yaml": """
            name: order
            sections:
              - title: {en: Main}
                fields: {add: [note], after: code}
              - {title: {en: Money}, fields: [amount, big]}
        """,
        "roles.yaml": "roles:\n  clerk:\n    permissions:\n      - {report: orders_by_status}\n",
    })
    report = app.get("report", "orders_by_status")
    assert [(m.name, m.label) for m in report.measures] == [
        ("orders", {"en": "Orders", "zh": "订单数"}), ("biggest", None), ("amount", None)]
    assert [s.fields for s in app.get("form", "order").sections] == [["code", "note", "status"], ["amount", "big"]]
    grants = [(p.entity, p.report) for p in app.get("role", "clerk").permissions]
    assert grants == [("order", None), (None, "orders_by_status")]


def test_replace_true_keeps_the_whole_definition_of_the_overlay(tmp_path, base):
    app = load(tmp_path, {"forms/order.yaml": """
        name: order
        replace: true
        entity: order
        sections: [{fields: [code]}]
    """})
    assert [s.fields for s in app.get("form", "order").sections] == [["code"]]


def test_errors_point_at_the_file_that_wrote_the_value(tmp_path, base):
    found = errors(tmp_path, {"entities/order.yaml": """
        name: order
        fields:
          amount: {remove: true}
          rush: {type: bool, after: nowhere}
          big: {expr: "amount2 > 1"}
          ghost: {remove: true}
    """})
    text = "\n".join(found)
    # the base's form, report and computed field use the removed field: reported at the base's lines
    assert "base/forms/order.yaml:7:" in text and "unknown field 'amount'" in text
    assert "base/reports/orders.yaml:6:" in text
    # the overlay's own mistakes at the overlay's lines
    assert "cust/entities/order.yaml:4:" in text and "entity.order.fields.rush.type" in text
    assert "cust/entities/order.yaml:4:" in text and "'after: nowhere': no such item" in text
    assert "cust/entities/order.yaml:5:" in text and "unknown field 'amount2'" in text
    assert "cust/entities/order.yaml:6:" in text and "nothing to remove: the base has no 'ghost'" in text


def test_an_overlay_cannot_remove_what_the_base_does_not_have(tmp_path, base):
    found = errors(tmp_path, {"reports/x.yaml": "name: nothing_here\ndisabled: true\n"})
    assert any("cust/reports/x.yaml:1:" in e and "not in the base" in e for e in found)


def test_overlays_stack_base_industry_customer(tmp_path, base):
    write_app(tmp_path / "retail", overlay({"entities/order.yaml": """
        name: order
        fields:
          channel: {type: string, after: code}
          amount: {default: 5}
    """}, "../base", "retail"), "retail")
    app = load(tmp_path, {"entities/order.yaml": """
        name: order
        fields:
          amount: {default: 7}
          vip: {type: boolean, after: channel}
    """}, extends="../retail")
    order = app.get("entity", "order")
    assert list(order.fields)[:4] == ["code", "channel", "vip", "status"]
    assert order.fields["amount"].default == 7
    with pytest.raises(DefinitionErrors) as e:
        load(tmp_path, {"entities/order.yaml": "name: order\nfields:\n  channel: {type: nope}\n"},
             name="cust2", extends="../retail")
    assert "cust2/entities/order.yaml:3:" in str(e.value)


def test_a_node_inserted_before_the_start_node_starts_the_flow(tmp_path, base):
    write_app(tmp_path / "base2", {**BASE, "flows/approve.yaml": BASE["flows/approve.yaml"].replace(
        "trigger: {on: create}", "trigger: {on: create}\n        start: check")}, "base")
    app = load(tmp_path, {"flows/approve.yaml": """
        name: approve
        nodes:
          triage: {before: check, type: action, set: {note: "'triaged'"}}
    """}, extends="../base2")
    flow = app.get("flow", "approve")
    assert (flow.start, flow.nodes["triage"].next) == ("triage", "check")


def test_a_plain_label_gets_a_translation_without_losing_its_text(tmp_path, base):
    write_app(tmp_path / "base3", {**BASE, "entities/order.yaml": BASE["entities/order.yaml"].replace(
        "note: {type: text}", "note: {type: text, label: Note}")}, "base")
    app = load(tmp_path, {"entities/order.yaml": "name: order\nfields:\n  note: {label: {zh: 备注}}\n"},
               name="cust3", extends="../base3")
    assert app.get("entity", "order").fields["note"].label == {"en": "Note", "zh": "备注"}


def test_a_removed_node_is_bypassed(tmp_path, base):
    app = load(tmp_path, {"flows/approve.yaml": "name: approve\nnodes:\n  finish: {remove: true}\n"})
    nodes = app.get("flow", "approve").nodes
    assert list(nodes) == ["check", "done"] and nodes["check"].next == "done"


def test_moving_an_existing_node_only_reorders(tmp_path, base):
    app = load(tmp_path, {"flows/approve.yaml": "name: approve\nnodes:\n  done: {after: check}\n"})
    nodes = app.get("flow", "approve").nodes
    assert list(nodes) == ["check", "done", "finish"]
    assert (nodes["check"].next, nodes["finish"].next) == ("finish", "done")


@pytest.mark.parametrize("body", [
    "fields:\n  rush: {type: boolean, after: [code]}\n",
    "fields:\n  status: {options: [{value: [1], remove: true}, {value: {a: 1}}]}\n",
    "fields:\n  rush: {type: boolean, before: code, after: code}\n",
    "fields: [1, 2]\n",
    "fields:\n  code: {remove: 'yes'}\n",
    "fields:\n  status: {options: {add: [{x: 1}], remove: [[1]], after: {a: 1}}}\n",
])
def test_odd_overlay_values_are_errors_at_the_overlay_never_crashes(tmp_path, base, body):
    found = errors(tmp_path, {"entities/order.yaml": "name: order\n" + body})
    assert found and all("internal" not in e for e in found)
    assert any("cust/entities/order.yaml" in e for e in found)
