"""The main job: `ordo demo` plays the OMS order-to-cash scenario (SQLite by default, PostgreSQL with --db)."""

from __future__ import annotations

import io

from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.scenario import run_scenario


def test_demo_scenario_runs_order_to_cash(db_url):
    app = open_app("builtin:oms", db_url)
    out = io.StringIO()
    result = run_scenario(app, "demo", out=out, variables={"seed": 7})
    text = out.getvalue()
    assert result.steps >= 50
    assert "created 0, 3 duplicate(s)" in text  # the repeated marketplace delivery
    store = result.variables["store_order"]["name"]
    shipments = app.query("shipment", "sales_order.name == :o", user="admin", params={"o": store})
    assert len(shipments) == 2 and {s["status"] for s in shipments} == {"delivered"}
    warehouses = {app.get("warehouse", s["warehouse"], "admin")["code"] for s in shipments}
    assert warehouses == {"SH01", "BJ01"}  # the split over two warehouses
    assert app.count("invoice", "sales_order.name == :o", user="admin", params={"o": store}) == 1
    rma = app.get("return_request", result.variables["rma"]["name"], "admin")
    assert rma["status"] == "restocked" and rma["approved_by"] == "auto"
    assert app.count("sales_order", "status == 'on_hold'", user="admin") <= 2  # held imports were reviewed
    assert app.count("purchase_order", "status in ['approved', 'partially_received', 'received']", user="admin") >= 1
    for title in ("Sales by channel and month", "Order status funnel", "Top customers"):
        assert title in text
    app.close()


def test_demo_command_starts_fresh_and_protects_other_databases(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "Ordo 订单管理演示" in out and "演示完成" in out
    headings = [line.split(".")[0] for line in out.splitlines() if line[:1].isdigit() and ". " in line[:4]]
    assert headings == [str(n) for n in range(1, 10)]  # numbered by the runner: 1 to 9, never 7 then 7
    assert "状态" in out and "已分仓" in out and "渠道月度销售" in out and "合计" in out  # labels, options, reports
    assert "Status" not in out and "Sales by channel and month" not in out
    assert main(["demo"]) == 0  # the demo's own file is recreated
    assert "starting from a fresh ordo-demo.db" in capsys.readouterr().out
    assert main(["demo", "--db", str(tmp_path / "ordo-demo.db")]) == 1  # any other path: refused when not empty
    assert "already holds data" in capsys.readouterr().err
