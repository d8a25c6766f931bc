"""The OMS template pack: it validates, generates its demo data deterministically, and takes
orders from both channel shapes idempotently (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from ordo.dsl.expr import Clock
from ordo.dsl.loader import builtin_templates_dir, load_app, validate_app
from ordo.engine import open_app
from ordo.engine.cli import main

SAMPLES = builtin_templates_dir() / "oms" / "samples"
NOW = dt.datetime(2026, 3, 15, 8, 0)


@pytest.fixture
def oms(db_url):
    app = open_app("builtin:oms", db_url, clock=Clock(NOW))
    result = app.features["generate"].run("admin", "demo", scale=0.05)
    assert result.errors == {}, result.messages
    yield app
    app.close()


def test_pack_validates_with_every_entity_and_label():
    assert validate_app("builtin:oms") == []
    app = load_app("builtin:oms")
    expected = {"channel", "customer", "blacklist_entry", "product_category", "product", "supplier", "warehouse",
                "stock_level", "sales_order", "order_line", "shipment", "shipment_line", "invoice", "payment",
                "return_request", "return_line", "replenishment_suggestion", "purchase_order",
                "purchase_order_line", "order_change_request"}
    assert expected <= set(app.entities)
    for e in app.entities.values():
        assert isinstance(e.label, dict) and {"en", "zh"} <= set(e.label), e.name
        for fname, f in e.fields.items():
            assert isinstance(f.label, dict) and {"en", "zh"} <= set(f.label), f"{e.name}.{fname}"
    assert {"reviewer", "warehouse", "finance", "manager", "admin"} <= set(app.names("role"))
    assert app.names("intake") == ["orders"] and app.names("dataset") == ["demo"]


def test_cli_validate_pack(capsys):
    assert main(["validate", "builtin:oms"]) == 0
    assert "oms 1.0.0: OK" in capsys.readouterr().out


def test_demo_data_is_realistic(oms):
    orders = oms.query("sales_order", user="admin", limit=1000, with_children=True)
    assert len(orders) >= 90
    assert all(1 <= len(o["lines"]) <= 5 for o in orders if o["risk_reasons"] != "line quantity above the limit")
    assert {o["channel"] for o in orders} and len({o["ship_region"] for o in orders}) >= 3
    stock = oms.query("stock_level", user="admin", limit=1000)
    assert all(s["available"] == s["on_hand"] - s["reserved"] - s["safety_stock"] for s in stock)
    closed = [o for o in orders if o["status"] == "closed"]
    assert closed and oms.count("invoice", user="admin") > 0 and oms.count("return_request", user="admin") > 0
    assert all(o["total"] == o["subtotal"] + o["shipping_fee"] - o["order_discount"] for o in orders)


def test_generation_is_deterministic_for_a_seed(tmp_path):
    def snapshot(url: str) -> list[tuple]:
        with open_app("builtin:oms", url, clock=Clock(NOW)) as app:
            app.features["generate"].run("admin", "demo", seed=11, scale=0.02)
            return [(o["name"], o["external_order_id"], str(o["customer"]), o["total"], o["order_date"], o["status"])
                    for o in app.query("sales_order", user="admin", order_by="id", limit=1000)]

    first = snapshot(f"sqlite:///{tmp_path / 'a.db'}")
    assert first and first == snapshot(f"sqlite:///{tmp_path / 'b.db'}")


def test_import_both_shapes_then_reimport_is_duplicate(oms):
    rt = oms.features["intake"]
    json_result = rt.import_file("admin", "orders", SAMPLES / "marketplace_orders.json", channel="TMALL")
    csv_result = rt.import_file("admin", "orders", SAMPLES / "shop_orders.csv", channel="SHOP")
    assert json_result.ok and csv_result.ok, (json_result.errors, csv_result.errors)
    assert (json_result.shape, csv_result.shape) == ("marketplace_json", "shop_csv")
    assert len(json_result.created) == 3 and len(csv_result.created) == 3
    first = oms.query("sales_order", "external_order_id == 'MP20260314000123'", user="admin",
                      with_children=True)[0]
    assert first["total"] == Decimal("241.8") and first["paid_amount"] == Decimal("241.80")
    assert first["payment_status"] == "paid" and first["ship_region"] == "east" and first["address_complete"]
    assert [(line["quantity"], line["unit_price"]) for line in first["lines"]] == [
        (2, Decimal("59.90")), (1, Decimal("119.00"))]
    shop = oms.query("sales_order", "external_order_id == '1002'", user="admin", with_children=True)[0]
    assert len(shop["lines"]) == 2 and shop["ship_region"] == "southwest" and shop["payment_status"] == "unpaid"
    customer = oms.get("customer", shop["customer"], "admin")
    assert customer["phone"] == "13500003333" and customer["customer_name"] == "刘洋"
    again = rt.import_file("admin", "orders", SAMPLES / "shop_orders.csv", channel="SHOP")
    assert again.created == [] and [d.key for d in again.duplicates] == ["1001", "1002", "1003"]
    assert [d.line for d in again.duplicates] == [2, 4, 6]


def test_bad_csv_rows_reported_good_rows_kept(oms, tmp_path):
    text = (SAMPLES / "shop_orders.csv").read_text(encoding="utf-8").splitlines()
    text[4] = text[4].replace("SKU-0001", "SKU-9999")  # line 5: second row of #1002
    text[6] = text[6].replace(",1,Water bottle", ",-2,Water bottle")  # line 7: second row of #1003
    bad = tmp_path / "shop.csv"
    bad.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = oms.features["intake"].import_file("admin", "orders", bad, channel="SHOP")
    assert len(result.created) == 1
    problems = {(e.line, e.key, e.field, e.reason) for e in result.errors}
    assert (5, "1002", "lines[1].product", "no product 'SKU-9999'") in problems
    assert (7, "1003", "lines[1].quantity", "must be at least 1") in problems
    assert {p[0] for p in problems} == {5, 7}
    assert oms.count("sales_order", "external_order_id in ['1002', '1003']", user="admin") == 0


def test_cli_import_and_generate(db_url, capsys):
    assert main(["generate", "builtin:oms", "demo", "--scale", "0.05", "--quiet", "--db", db_url, "--create"]) == 0
    assert "sales_order" in capsys.readouterr().out
    rc = main(["import", "builtin:oms", "orders", "builtin:oms/samples/marketplace_orders.json", "--channel", "JD",
               "--db", db_url])  # a file shipped in the pack, wherever Ordo is installed
    assert rc == 0 and "created 3" in capsys.readouterr().out
    rc = main(["import", "builtin:oms", "orders", "builtin:oms/samples/nope.csv", "--channel", "SHOP", "--db", db_url])
    assert rc == 1 and "no such file: builtin:oms/samples/nope.csv" in capsys.readouterr().err
    rc = main(["import", "builtin:oms", "orders", "builtin:oms/../../secret.csv", "--channel", "SHOP", "--db", db_url])
    assert rc == 1 and "is not a file of a shipped template pack" in capsys.readouterr().err


def test_a_scenario_imports_a_file_shipped_in_a_pack(make_app, db_url):
    from ordo.engine.scenario import run_scenario

    folder = make_app({"app.yaml": "name: acme\nversion: 1\nextends: builtin:oms\n", "scenarios/take.yaml": """
        name: take
        user: admin
        steps:
          - generate: demo
            scale: 0.05
          - import: orders
            file: builtin:oms/samples/shop_orders.csv
            channel: SHOP
    """})
    with open_app(folder, db_url, clock=Clock(NOW)) as app:
        run_scenario(app, "take", out=io.StringIO())
        assert app.count("sales_order", "external_order_id in ['1001', '1002', '1003']", user="admin") == 3


def test_documented_commands_work_verbatim_from_any_directory(tmp_path, monkeypatch, capsys):
    """The command blocks of docs/oms.md and docs/intake.md, run as written from an empty directory
    (only the generate scale is made smaller to keep the test short)."""
    import shlex
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "docs"
    monkeypatch.chdir(tmp_path)
    for doc in ("oms.md", "intake.md"):
        block = next(b for b in (docs / doc).read_text(encoding="utf-8").split("```bash")[1:]
                     if "ordo import builtin:oms" in b.split("```")[0])
        commands = [line.split("  #")[0] for line in block.split("```")[0].splitlines()
                    if line.startswith("ordo ") and "APP" not in line]
        assert any("builtin:oms/samples/" in c for c in commands), doc
        for command in commands:
            argv = shlex.split(command.replace("--scale 0.25", "--scale 0.05"))[1:]
            if argv[0] == "generate":
                (tmp_path / "oms.db").unlink(missing_ok=True)
            assert main(argv) == 0, (doc, command, capsys.readouterr())
        capsys.readouterr()
