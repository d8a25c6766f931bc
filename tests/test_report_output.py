"""Report output (JSON, CSV, XLSX, SVG), the ``ordo report`` command and load-time errors."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal

import pytest
from openpyxl import load_workbook

from ordo.dsl.errors import DefinitionErrors
from ordo.engine import open_app
from ordo.engine.cli import main

from .test_report import ENTITIES, ORDERS, money, open_report_app

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def app(make_app, db_url):
    a = open_report_app(make_app, db_url)
    yield a
    a.close()


def run(app, name, **params):
    return app.features["reports"].report(name, user="root", params=params)


def test_json_rows_are_exact(app):
    res = run(app, "month_channel")
    data = json.loads(app.features["reports"].export(res, "json"))
    assert data["report"] == "month_channel" and data["label"] == "Orders by month and channel"
    assert [c["name"] for c in data["columns"]] == [c.name for c in res.columns]
    assert len(data["rows"]) == len(res.rows)
    for got, row in zip(data["rows"], res.rows, strict=True):
        assert got["month"] == row["month"].isoformat() and got["orders"] == row["orders"]
        assert Decimal(got["revenue"]) == row["revenue"]
    assert data["totals"]["orders"] == len(ORDERS)


def test_csv_shows_labels_and_plain_numbers(app):
    res = run(app, "month_channel")
    text = app.features["reports"].export(res, "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Month", "Channel", "Orders", "Customers"]
    assert len(rows) == 1 + len(res.rows) + 1  # header, rows, totals
    header = rows[0]
    for line, row in zip(rows[1:], res.rows, strict=False):
        cells = dict(zip(header, line, strict=True))
        assert cells["Month"] == f"{row['month']:%Y-%m}"
        assert cells["Channel"] == (row["channel"] or "(none)")
        assert cells["Revenue"] == str(money(row["revenue"]))  # plain, at the money scale: 26875.50
        assert cells["Return rate"] == str(Decimal(row["return_rate"]).quantize(Decimal("0.001"), ROUND_HALF_UP))  # a ratio
        assert cells["Returns per cancel"] == ("" if row["returns_per_cancel"] is None else cells["Returns per cancel"])
    assert rows[-1][0] == "Total" and int(rows[-1][2]) == len(ORDERS)


def test_xlsx_has_typed_cells_and_a_totals_row(app, tmp_path):
    res = run(app, "top_regions")
    data = app.features["reports"].export(res, "xlsx")
    ws = load_workbook(io.BytesIO(data)).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == ("Region", "Revenue", "Orders")
    for got, row in zip(values[1:], res.rows, strict=False):
        assert got[0] == (row["region"] or "(none)")
        assert money(got[1]) == money(row["revenue"]) and got[2] == row["orders"]
    assert values[-1][0] == "Total" and values[-1][2] == len(ORDERS)
    assert ws.cell(row=ws.max_row, column=1).font.bold


def test_svg_charts(app):
    reports = app.features["reports"]
    bar = ET.fromstring(reports.export(run(app, "month_channel"), "svg"))
    res = run(app, "month_channel")
    bars = [r for r in bar.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == len(res.rows)  # one bar per (month, channel) cell
    legend = {t.text for t in bar.iter(f"{SVG}text")}
    assert {"web", "store", "phone", "(none)"} <= legend
    line = ET.fromstring(reports.export(run(app, "region_pivot"), "svg"))
    assert len(list(line.iter(f"{SVG}polyline"))) == 4  # one line per channel column of the pivot
    pie = ET.fromstring(reports.export(run(app, "top_regions"), "svg"))
    slices = list(pie.iter(f"{SVG}path"))
    assert len(slices) == 2 and all("revenue" not in (s.findtext(f"{SVG}title") or "x") for s in slices)


def test_cli_report_formats(app, make_app, db_url, tmp_path, capsys):
    path = app.definition.root
    assert main(["report", str(path), "month_channel", "--db", db_url, "--user", "root", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Month,Channel,Orders")
    assert len(out.strip().splitlines()) == len(run(app, "month_channel").rows) + 2
    xlsx = tmp_path / "top.xlsx"
    assert main(["report", str(path), "top_regions", "--db", db_url, "--user", "root", "--out", str(xlsx)]) == 0
    assert load_workbook(xlsx).active.cell(row=1, column=1).value == "Region"
    assert "2 row(s) written to" in capsys.readouterr().out
    assert main(["report", str(path), "filtered", "--db", db_url, "--user", "root", "--param", "period=all",
                 "--param", "since=2000-01-01", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["orders"] == len(ORDERS)
    assert main(["report", str(path), "--db", db_url]) == 0
    assert "month_channel: Orders by month and channel" in capsys.readouterr().out
    assert main(["report", str(path), "filtered", "--db", db_url, "--param", "min_amount=lots"]) == 1
    err = capsys.readouterr().err
    assert "parameter 'min_amount'" in err and "Traceback" not in err
    assert main(["report", str(path), "nope", "--db", db_url]) == 1
    assert "unknown report 'nope'" in capsys.readouterr().err


BAD = """
name: bad
source: order
params:
  period: {type: period, default: fortnight}
dimensions:
  - {name: region, expr: customer.regoin}
  - {name: month, expr: channel, bucket: month}
measures:
  - {name: orders, agg: count}
  - {name: total, agg: sum, expr: status}
  - {name: rate, formula: "returned / orders"}
sort: [-revenue]
pivot: week
chart: {type: pie, y: [orders, total]}
alert:
  when: "orders > 'x'"
  every: 3 days
  notify: [{to: [boss]}]
"""


def test_definition_errors_are_located(make_app):
    path = make_app({**ENTITIES, "reports/bad.yaml": BAD})
    with pytest.raises(DefinitionErrors) as e:
        open_app(path, "sqlite://")
    text = "\n".join(str(err) for err in e.value.errors)
    for needle, line in (("unknown period 'fortnight'", 4), ("unknown field 'regoin' in customer", 6),
                         ("'bucket' needs a date or datetime", 7), ("sum needs a number", 10),
                         ("unknown field 'returned' in report row", 11), ("unknown column 'revenue'", 12),
                         ("unknown dimension 'week'", 13), ("a pie chart shows one measure", 14),
                         ("cannot compare", 16), ("invalid interval", 17)):
        hit = [err for err in e.value.errors if needle in str(err)]
        assert hit, f"missing error {needle!r} in:\n{text}"
        assert hit[0].line == line and hit[0].file.endswith("reports/bad.yaml") and hit[0].column, str(hit[0])


def test_child_source_must_be_a_table_field(make_app):
    path = make_app({**ENTITIES, "reports/bad.yaml": """
        name: bad
        source: order.customer
        measures: [{name: n, agg: count}]
    """, "reports/bad2.yaml": """
        name: bad2
        source: line
        measures: [{name: n, agg: count}]
    """})
    with pytest.raises(DefinitionErrors) as e:
        open_app(path, "sqlite://")
    text = "\n".join(str(err) for err in e.value.errors)
    assert "'customer' is not a table field of order" in text
    assert "'line' is a child entity; use PARENT.TABLE_FIELD" in text
