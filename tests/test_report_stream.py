"""Report results over the in-memory bound are streamed, never refused or cut: CSV and XLSX (API and
CLI) carry every row the user may read, page by page; JSON refuses with a message naming CSV/XLSX.

The bound is lowered for the test (``MAX_GROUPS``) so a few hundred rows exceed it."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.errors import PermissionDenied, UsageError
from ordo.engine.reports import compile as report_compile
from ordo.engine.reports import stream as report_stream
from ordo.engine.stats import count_statements

from .api_kit import add_user, bearer, served, token_for

APP = {
    "entities/item.yaml": """
        name: item
        fields:
          code: {type: string, required: true}
          owner: {type: string}
          amount: {type: money}
          day: {type: date}
    """,
    "roles.yaml": """
        roles:
          clerk:
            permissions:
              - {entity: item, actions: [read], where: "owner == user.name"}
              - {report: by_code, actions: [run, export]}
          viewer:
            permissions:
              - {entity: item, actions: [read]}
              - {report: by_code, actions: [run]}
    """,
    "reports/by_code_owner.yaml": """
        name: by_code_owner
        source: item
        dimensions: [code, owner]
        pivot: owner
        measures:
          - {name: items, agg: count}
          - {name: amount, agg: sum, expr: amount, format: money}
        sort: [-amount]
        limit: 120
        totals: true
    """,
    "reports/by_owner_code.yaml": """
        name: by_owner_code
        source: item
        dimensions: [owner, code]
        pivot: code
        measures: [{name: amount, agg: sum, expr: amount}]
    """,
    "reports/first_days.yaml": """
        name: first_days
        source: item
        cohort: {actor: code, date: day, period: day, periods: 3, share: true}
    """,
    "reports/by_code.yaml": """
        name: by_code
        label: {en: By code, zh: 按编码}
        source: item
        dimensions: [code]
        measures:
          - {name: items, agg: count, label: {en: Items, zh: 件数}}
          - {name: amount, agg: sum, expr: amount, format: money, label: {en: Amount, zh: 金额}}
        sort: [code]
        totals: true
    """,
}
N = 130  # rows; over the lowered bound and over two fetch pages


@pytest.fixture
def small_bound(monkeypatch):
    monkeypatch.setattr(report_compile, "MAX_GROUPS", 50)
    monkeypatch.setattr(report_stream, "PAGE", 40)


@pytest.fixture
def items(make_app, db_url, small_bound):
    path = make_app(APP)
    app = open_app(path, db_url)
    try:
        add_user(app, "ann", ("clerk",))
        add_user(app, "vic", ("viewer",))
        add_user(app, "root", ("admin",))
        with app.transaction("root") as tx:
            for i in range(N):
                tx.create("item", {"code": f"C{i:04d}", "owner": "ann" if i % 2 == 0 else "bob",
                                   "amount": f"{i}.25", "day": dt.date(2024, 1, 1) + dt.timedelta(days=i)})
    finally:
        app.close()
    return path


def _csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_json_over_the_bound_is_refused_pointing_to_the_streamed_formats(items, db_url):
    app = open_app(items, db_url)
    try:
        with pytest.raises(UsageError, match="more than 50 rows.*CSV or XLSX"):
            app.features["reports"].report("by_code", user="root")
    finally:
        app.close()


def test_cli_csv_and_xlsx_stream_every_row_with_totals(items, db_url, tmp_path, capsys):
    out = tmp_path / "all.csv"
    assert main(["report", str(items), "by_code", "--db", db_url, "--user", "root", "--out", str(out)]) == 0
    assert f"{N} row(s) written" in capsys.readouterr().out
    rows = _csv(out.read_bytes())
    assert rows[0] == ["Code", "Items", "Amount"]
    assert [r[0] for r in rows[1:-1]] == [f"C{i:04d}" for i in range(N)]  # every row, in order
    assert rows[1] == ["C0000", "1", "0.25"] and rows[-1] == ["Total", str(N), f"{sum(range(N)) + N * 0.25:.2f}"]
    assert not list(tmp_path.glob("*.part"))
    xlsx = tmp_path / "all.xlsx"
    assert main(["report", str(items), "by_code", "--db", db_url, "--user", "root", "--out", str(xlsx), "--lang", "zh"]) == 0
    sheet = load_workbook(xlsx).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[0][1:] == ["件数", "金额"]
    assert len(values) == N + 2 and values[1] == ["C0000", 1, 0.25] and values[-1][0] == "合计"
    assert values[-1][1] == N and sheet.cell(row=2, column=3).number_format == "#,##0.00"
    capsys.readouterr()
    assert main(["report", str(items), "by_code", "--db", db_url, "--user", "root", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == N + 2


def test_cli_json_over_the_bound_exits_1_naming_csv(items, db_url, capsys):
    assert main(["report", str(items), "by_code", "--db", db_url, "--user", "root", "--format", "json"]) == 1
    assert "CSV or XLSX" in capsys.readouterr().err


def test_api_streams_every_readable_row_and_applies_permissions(items, db_url):
    with served(items, db_url) as (app, client):
        h = {u: bearer(token_for(app, u)) for u in ("ann", "vic", "root")}
        r = client.get("/api/v1/reports/by_code", params={"format": "csv"}, headers=h["root"])
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        rows = _csv(r.content)
        assert len(rows) == N + 2 and rows[-1][:2] == ["Total", str(N)]
        mine = _csv(client.get("/api/v1/reports/by_code", params={"format": "csv"}, headers=h["ann"]).content)
        assert [r[0] for r in mine[1:-1]] == [f"C{i:04d}" for i in range(0, N, 2)]  # her rows only
        assert mine[-1][1] == str(len(range(0, N, 2)))
        r = client.get("/api/v1/reports/by_code", params={"format": "xlsx"}, headers=h["ann"])
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet.max_row == len(range(0, N, 2)) + 2
        r = client.get("/api/v1/reports/by_code", params={"format": "csv"}, headers=h["vic"])
        assert r.status_code == 403 and "export" in r.text
        r = client.get("/api/v1/reports/by_code", headers=h["root"])
        assert r.status_code == 400 and "CSV or XLSX" in r.json()["message"]


def test_stream_needs_the_export_action(items, db_url):
    app = open_app(items, db_url)
    try:
        with app.reader("vic") as tx, pytest.raises(PermissionDenied, match="export"):
            app.features["reports"].stream(tx, "by_code", "csv", io.BytesIO())
    finally:
        app.close()


@pytest.mark.parametrize("name", ["by_code_owner", "by_owner_code", "first_days"])
def test_pivot_and_cohort_exports_stream_every_row_as_an_unbounded_run_shows_them(items, db_url, monkeypatch, name):
    """Over the bound a pivot (its pivot values as columns, rows sorted by a measure, a limit above
    the bound, totals) or a cohort report is refused as JSON but streamed as CSV/XLSX, row for row
    what a run without the bound shows."""
    app = open_app(items, db_url)
    reports = app.features["reports"]
    try:
        if name != "by_owner_code":  # that one is wide (a column per code), not long
            with pytest.raises(UsageError, match="more than 50 rows.*CSV or XLSX"):
                reports.report(name, user="root")
        streamed = {}
        for fmt in ("csv", "xlsx"):
            buf = io.BytesIO()
            with app.reader("root") as tx:
                written = reports.stream(tx, name, fmt, buf)
            streamed[fmt] = (written, buf.getvalue())
        monkeypatch.setattr(report_compile, "MAX_GROUPS", 100_000)
        whole = reports.report(name, user="root")
    finally:
        app.close()
    assert len(whole.rows) > (1 if name == "by_owner_code" else 50) and streamed["csv"][0] == streamed["xlsx"][0] == len(whole.rows)
    got = _csv(streamed["csv"][1])
    assert got == _csv(reports.export(whole, "csv").encode("utf-8"))
    sheet = load_workbook(io.BytesIO(streamed["xlsx"][1])).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[0] == [c.label for c in whole.columns] and len(values) == len(got)
    assert [v[0] for v in values[1:len(whole.rows) + 1]] == [r[whole.columns[0].name] if name != "first_days"
                                                              else dt.datetime.combine(r["cohort"], dt.time())
                                                              for r in whole.rows]
    if name == "by_code_owner":
        assert len(whole.rows) == 120 and got[1][0] == "C0129" and got[-1][0] == "Total"  # by amount, descending
        assert got[0] == ["Code", "ann Items", "ann Amount", "bob Items", "bob Amount", "Total Items", "Total Amount"]
    if name == "by_owner_code":
        assert len(got[0]) == 1 + N and got[0][1:3] == ["C0000", "C0001"]
    if name == "first_days":
        assert got[1][:4] == ["2024-01-01", "1", "1.0000", "0.0000"]


@pytest.mark.parametrize("name", ["by_code_owner", "by_owner_code"])
def test_a_streamed_pivot_reads_its_rows_in_two_passes(items, db_url, monkeypatch, name):
    """A streamed pivot reads the grouped rows twice: its pivot values with the column and grand totals
    in one statement, then its cells row by row; the export is what the unbounded run shows."""
    app = open_app(items, db_url)
    reports = app.features["reports"]
    try:
        buf = io.BytesIO()
        with app.reader("root") as tx, count_statements(app.engine) as counts:
            reports.stream(tx, name, "csv", buf)
        grouped = [t for t in counts.texts if "group by" in t.lower()]
        assert len(grouped) == 2, grouped
        monkeypatch.setattr(report_compile, "MAX_GROUPS", 100_000)
        whole = reports.report(name, user="root")
    finally:
        app.close()
    assert _csv(buf.getvalue()) == _csv(reports.export(whole, "csv").encode("utf-8"))
