"""Report exports carry exact plain numbers at their scale (CSV, JSON, XLSX), labels in the chosen
language, and refuse an output file whose extension is no supported format."""

from __future__ import annotations

import csv
import io
import json

from openpyxl import load_workbook

from ordo.engine import open_app
from ordo.engine.cli import main

APP = {
    "entities/item.yaml": """
        name: item
        fields:
          status:
            type: enum
            label: {en: Status, zh: 状态}
            options:
              - {value: new, label: {en: New, zh: 新建}}
              - {value: done, label: {en: Done, zh: 完成}}
          qty: {type: integer}
          price: {type: money}
          amount: {type: computed, expr: "qty * price"}
    """,
    "reports/sales.yaml": """
        name: sales
        label: {en: Sales, zh: 销售}
        source: item
        dimensions: [status]
        measures:
          - {name: items, agg: count, label: {en: Items, zh: 件数}}
          - {name: revenue, agg: sum, expr: amount, label: {en: Revenue, zh: 销售额}}
          - {name: paid, agg: sum, expr: price, format: money, label: {en: Paid, zh: 实收}}
          - {name: avg_price, formula: "paid / items", format: money, label: {en: Average, zh: 均价}}
        totals: true
    """,
}
ITEMS = [("new", 1, "0.10"), ("new", 1, "0.20"), ("new", 3, "80.20"), ("new", 26, "1000.00"), ("done", 2, "0.35")]


def _app(make_app, db_url):
    path = make_app(APP)
    app = open_app(path, db_url)
    with app.transaction("admin") as tx:
        for status, qty, price in ITEMS:
            tx.create("item", {"status": status, "qty": qty, "price": price})
    app.close()
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_csv_and_json_carry_exact_numbers_at_scale(make_app, db_url, capsys):
    path = _app(make_app, db_url)
    code, out, _ = _run(capsys, "report", path, "sales", "--db", db_url, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["Status", "Items", "Revenue", "Paid", "Average"]
    by_status = {r[0]: r for r in rows[1:]}
    assert by_status["New"] == ["New", "4", "26240.90", "1080.50", "270.13"]  # plain numbers, money at its scale
    assert by_status["Done"] == ["Done", "1", "0.70", "0.35", "0.35"]  # a computed money sum keeps its scale
    assert by_status["Total"][1:3] == ["5", "26241.60"]
    code, out, _ = _run(capsys, "report", path, "sales", "--db", db_url, "--format", "json")
    data = json.loads(out)
    new = next(r for r in data["rows"] if r["status"] == "new")
    assert new == {"status": "new", "items": 4, "revenue": "26240.90", "paid": "1080.50", "avg_price": "270.13"}
    assert data["totals"]["revenue"] == "26241.60"  # exact decimals as strings, never binary floats


def test_xlsx_cells_are_numbers_with_a_format(make_app, db_url, tmp_path, capsys):
    path = _app(make_app, db_url)
    out = tmp_path / "sales.xlsx"
    assert _run(capsys, "report", path, "sales", "--db", db_url, "--out", out, "--lang", "zh")[0] == 0
    ws = load_workbook(out).active
    assert [c.value for c in ws[1]] == ["状态", "件数", "销售额", "实收", "均价"]
    new = next(row for row in ws.iter_rows(min_row=2) if row[0].value == "新建")
    assert new[1].value == 4 and new[2].value == 26240.9 and new[2].number_format == "0.00"
    assert new[3].value == 1080.5 and new[3].number_format == "#,##0.00"
    assert ws.cell(row=ws.max_row, column=1).value == "合计"


def test_lang_and_output_extension(make_app, db_url, tmp_path, capsys):
    path = _app(make_app, db_url)
    code, out, _ = _run(capsys, "report", path, "sales", "--db", db_url, "--lang", "zh")
    assert out.splitlines()[0].split() == ["状态", "件数", "销售额", "实收", "均价"]
    assert "新建" in out and "完成" in out and "合计" in out and "1,080.50" in out  # money formatted in the table
    code, out, _ = _run(capsys, "report", path, "--db", db_url, "--lang", "zh")
    assert "sales: 销售" in out
    for name, message in (("x.pdf", "'.pdf' is not a supported report format (supported: .csv, .json, .xlsx, "
                                    ".svg, .txt)"),
                          ("x.csv", "does not match --format json")):
        code, _, err = _run(capsys, "report", path, "sales", "--db", db_url, "--out", tmp_path / name,
                            *(["--format", "json"] if name == "x.csv" else []))
        assert code == 1 and message in err and not (tmp_path / name).exists()
    code, out, _ = _run(capsys, "report", path, "sales", "--db", db_url, "--out", tmp_path / "s.txt")
    assert code == 0 and "Revenue" in (tmp_path / "s.txt").read_text(encoding="utf-8")
