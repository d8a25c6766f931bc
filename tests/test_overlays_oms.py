"""The acceptance overlay (examples/acme, an overlay of builtin:oms) end to end: a new field on the sales
order, a raised manual-review threshold, a finance approval node inserted into the order flow, one risk
rule off, a Chinese label renamed, a new report; orders go through the changed flow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ordo.engine.cli import main
from ordo.forms.schema import entity_json_schema

from .oms_orders_kit import Kit

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


@pytest.fixture
def kit(db_url):
    os.environ["ORDO_TEST_OMS_APP"] = str(ACME)
    try:
        k = Kit(db_url)
    finally:
        del os.environ["ORDO_TEST_OMS_APP"]
    yield k
    k.close()


def _status(kit, order):
    rec = kit.get("sales_order", order["id"])
    return rec["status"], rec["hold_reason"]


def test_the_overlay_is_small(tmp_path):
    field = (ACME / "entities" / "sales_order.yaml").read_text().splitlines()
    assert sum(1 for ln in field if ln.strip() and not ln.lstrip().startswith("#")) <= 5 + 2  # + 2 other changes


def test_new_field_new_report_and_chinese_label(kit):
    wrapped = kit.order([("P1", 1)], gift_wrap=True)
    plain = kit.order([("P1", 2)])
    assert kit.get("sales_order", wrapped["id"])["gift_wrap"] is True
    assert kit.get("sales_order", plain["id"])["gift_wrap"] is False
    report = kit.app.features["reports"].report("gift_wrap_orders", user="admin")
    assert [(r["status"], r["orders"]) for r in report.rows] == [("reviewed", 1)]
    schema = entity_json_schema(kit.app.definition, "sales_order", lang="zh")
    assert schema["title"] == "订货单" and schema["properties"]["gift_wrap"]["title"] == "礼品包装"
    assert entity_json_schema(kit.app.definition, "sales_order")["title"] == "Sales order"
    with kit.app.reader("fiona") as tx:  # the pack's finance role got the report
        assert kit.app.features["reports"].run(tx, "gift_wrap_orders").rows


def test_the_manual_review_threshold_is_raised(kit):
    assert _status(kit, kit.order([("P1", 5, 5000)])) == ("reviewed", None)  # 25 000: held by the pack
    assert _status(kit, kit.order([("P1", 5, 11000)])) == ("on_hold", "total_above_limit")  # 55 000


def test_the_phone_burst_rule_is_off(kit):
    orders = [kit.order([("P1", 1)], phone="13911112222") for _ in range(5)]
    assert [_status(kit, o)[0] for o in orders] == ["reviewed"] * 5


def test_a_held_order_goes_through_review_then_finance(kit):
    order = kit.order([("P1", 2, 30000)])  # 60 000: held
    assert _status(kit, order) == ("on_hold", "total_above_limit")
    assert kit.tasks("fiona") == []
    kit.act(kit.get("sales_order", order["id"])["reviewer"], order)  # rita or ray (round robin)
    assert _status(kit, order)[0] == "reviewed"
    assert [t.record_name for t in kit.tasks("fiona")] == [order["name"]]  # the inserted finance step
    kit.advance(hours=2)
    assert _status(kit, order)[0] == "reviewed"  # not allocated before finance approves
    kit.act("fiona", order)
    kit.advance(minutes=31)  # the merge window, then allocation
    assert _status(kit, order)[0] == "allocated"


def test_finance_can_reject(kit):
    order = kit.order([("P1", 2, 30000)])
    kit.act(kit.get("sales_order", order["id"])["reviewer"], order)
    kit.act("fiona", order, "reject", comment="no credit")
    rec = kit.get("sales_order", order["id"])
    assert (rec["status"], rec["cancel_reason"]) == ("cancelled", "rejected in review")


def test_cli_shows_the_overlay(capsys):
    assert main(["validate", str(ACME)]) == 0
    assert "extends builtin:oms 1.0.0: 7 definition(s) of its own or changed" in capsys.readouterr().out
    assert main(["diff", str(ACME)]) == 0
    out = capsys.readouterr().out
    assert "~ nodes.approved.next: merge_window -> finance_approval" in out
    assert "~ label.zh: 销售订单 -> 订货单" in out and "+ report gift_wrap_orders (new)" in out


def test_upgrading_the_pack_under_acme(tmp_path, capsys):
    """The OMS moves 1.0.0 -> 1.1.0: a change Acme did not touch is taken, one it did is a conflict."""
    import shutil

    from ordo.dsl.errors import DefinitionErrors
    from ordo.dsl.loader import builtin_templates_dir, load_app

    pack = tmp_path / "oms"
    ignore = shutil.ignore_patterns("__pycache__", "*.py")
    shutil.copytree(builtin_templates_dir() / "oms", pack, ignore=ignore)
    shutil.copytree(builtin_templates_dir() / "oms", pack / "versions" / "1.0.0", ignore=ignore)
    acme = tmp_path / "acme"
    shutil.copytree(ACME, acme)
    (acme / "app.yaml").write_text((acme / "app.yaml").read_text().replace("builtin:oms", "../oms"))
    (pack / "app.yaml").write_text((pack / "app.yaml").read_text().replace("version: 1.0.0", "version: 1.1.0"))
    entity = pack / "entities" / "sales_order.yaml"
    entity.write_text(entity.read_text().replace("buyer_note: {type: text, max_length: 500",
                                                 "buyer_note: {type: text, max_length: 800"))
    app = load_app(acme)
    assert app.get("entity", "sales_order").fields["buyer_note"].max_length == 800
    assert main(["upgrade", str(acme), "--check"]) == 0
    entity.write_text(entity.read_text().replace("max_order_total), 20000)", "max_order_total), 30000)"))
    with pytest.raises(DefinitionErrors) as e:
        load_app(acme)
    (err,) = e.value.errors
    assert (Path(err.file).name, err.line) == ("sales_order.yaml", 7) and "acme" in err.file
    assert 'from "total > coalesce(max(policy, max_order_total), 20000)" (oms/versions/1.0.0/entities/' \
           'sales_order.yaml:140) in 1.0.0 to "total > coalesce(max(policy, max_order_total), 30000)" ' \
           '(oms/entities/sales_order.yaml:140) in 1.1.0; this overlay sets "total > coalesce(max(policy, ' \
           'max_order_total), 50000)"' in str(err)
    capsys.readouterr()
    assert main(["upgrade", str(acme)]) == 1
    assert "version: 1.0.0" in (acme / "app.yaml").read_text()


def test_two_customer_apps_side_by_side_each_on_its_own_database(tmp_path):
    os.environ["ORDO_TEST_OMS_APP"] = str(ACME)
    try:
        acme = Kit(f"sqlite:///{tmp_path / 'acme.db'}")
    finally:
        del os.environ["ORDO_TEST_OMS_APP"]
    pack = Kit(f"sqlite:///{tmp_path / 'oms.db'}")
    try:
        a, p = acme.order([("P1", 5, 5000)]), pack.order([("P1", 5, 5000)])  # 25 000 each
        assert _status(acme, a) == ("reviewed", None) and _status(pack, p) == ("on_hold", "total_above_limit")
        assert "gift_wrap" in acme.get("sales_order", a["id"]) and "gift_wrap" not in pack.get("sales_order", p["id"])
        assert (acme.app.name, pack.app.name) == ("acme", "oms")
    finally:
        acme.close()
        pack.close()


def test_effective_prints_yaml_that_reads_back_as_the_merged_definitions(capsys):
    import yaml

    from ordo.dsl.base import KINDS
    from ordo.dsl.loader import load_app

    assert main(["effective", str(ACME)]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    app = load_app(ACME)
    assert len(docs) == sum(len(app.names(k)) for k in app.items)
    for d in docs:
        assert KINDS[d["kind"]].model_validate(d) == app.get(d["kind"], d["name"]), (d["kind"], d["name"])
