"""Maintained summaries (``summary: true``): after any sequence of creates, updates, deletes and
child-row changes, the report read from its summary equals the same report computed by a full scan,
on SQLite and PostgreSQL (and under concurrent writers on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordo.dsl.errors import DefinitionErrors
from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.errors import PermissionDenied

APP = {
    "entities/order.yaml": """
        name: order
        fields:
          order_date: {type: date}
          channel: {type: enum, options: [web, store, phone]}
          status: {type: enum, options: [paid, cancelled], default: paid}
          qty: {type: integer}
          lines: {type: table, entity: line}
          total: {type: computed, expr: "sum(lines, price * units)"}
        ---
        name: line
        child: true
        fields:
          units: {type: integer}
          price: {type: money}
    """,
    "roles.yaml": """
        roles:
          admin:
            users: [root]
          web_only:
            users: [ann]
            permissions:
              - {entity: order, actions: [read], where: "channel == 'web'"}
              - {report: by_month}
    """,
    "reports/by_month.yaml": """
        name: by_month
        source: order
        summary: true
        params:
          period: {type: period, default: all}
        filters:
          - "order_date >= :period_start and order_date < :period_end"
          - "status != 'cancelled'"
        dimensions:
          - {name: month, expr: order_date, bucket: month}
          - channel
        measures:
          - {name: orders, agg: count}
          - {name: revenue, agg: sum, expr: total}
          - {name: qty, agg: sum, expr: qty}
          - {name: avg_qty, agg: avg, expr: qty}
          - {name: big, agg: count, filter: "qty > 5"}
          - {name: per_order, formula: "revenue / orders"}
        totals: true
    """,
}
SCAN = {"period": "0001-01-02..9999-12-29"}  # a closed period: the report scans (same rows as "all")


@pytest.fixture
def app(db_url, make_app):
    a = open_app(make_app(APP), db_url)
    yield a
    a.close()


def figures(result) -> tuple:
    def clean(r):
        return tuple(round(v, 6) if isinstance(v, Decimal) else v for v in r.values())
    return [clean(r) for r in result.rows], clean(result.totals) if result.totals else None


def assert_summary_matches(app) -> None:
    reports = app.features["reports"]
    assert "ordo_summary_by_month" in reports.explain("by_month", user="root")
    assert "ordo_summary_by_month" not in reports.explain("by_month", user="root", params=SCAN)
    assert figures(reports.report("by_month", user="root")) == figures(reports.report("by_month", user="root",
                                                                                      params=SCAN))
    assert reports.verify("by_month", user="root") == []
    quarter = {"period": "2024-02-01..2024-04-30"}  # whole months: answered from the summary too
    assert "ordo_summary_by_month" in reports.explain("by_month", user="root", params=quarter)
    assert figures(reports.report("by_month", user="root", params=quarter)) == scanned(app, quarter)


def scanned(app, params) -> tuple:
    """The figures of by_month computed by a scan (its summary set aside for this run)."""
    report = app.features["reports"].get("by_month")
    summary, report.summary = report.summary, None
    try:
        return figures(app.features["reports"].report("by_month", user="root", params=params))
    finally:
        report.summary = summary


ORDER = st.fixed_dictionaries({
    "order_date": st.one_of(st.none(), st.dates(dt.date(2024, 1, 1), dt.date(2024, 6, 30))),
    "channel": st.sampled_from([None, "web", "store", "phone"]),
    "status": st.sampled_from(["paid", "cancelled"]),
    "qty": st.one_of(st.none(), st.integers(0, 9)),
    "lines": st.lists(st.fixed_dictionaries({"units": st.integers(0, 5),
                                             "price": st.integers(0, 4000).map(lambda c: Decimal(c) / 100)}),
                      max_size=3),
})
OPS = st.lists(st.one_of(
    st.tuples(st.just("create"), ORDER),
    st.tuples(st.just("update"), st.integers(0, 50), ORDER),
    st.tuples(st.just("lines"), st.integers(0, 50), ORDER),
    st.tuples(st.just("delete"), st.integers(0, 50)),
), min_size=1, max_size=10)


def apply(app, ops) -> None:
    for op in ops:
        ids = [r["id"] for r in app.query("order", user="root", limit=None)]
        if op[0] == "create" or not ids:
            app.create("order", op[-1] if op[0] != "delete" else {"qty": 1}, "root")
        elif op[0] == "update":
            data = {k: v for k, v in op[2].items() if k != "lines"}
            app.update("order", ids[op[1] % len(ids)], data, "root")
        elif op[0] == "lines":  # child rows only: the stored total changes
            app.update("order", ids[op[1] % len(ids)], {"lines": op[2]["lines"]}, "root")
        else:
            app.delete("order", ids[op[1] % len(ids)], "root")


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_summary_equals_a_full_scan_after_random_writes(app, ops):
    for r in app.query("order", user="root", limit=None):  # each example starts empty (deleting is a write too)
        app.delete("order", r["id"], "root")
    apply(app, ops)
    assert_summary_matches(app)


def test_summary_is_read_right_after_a_write_and_a_failed_write_leaves_it(app):
    reports = app.features["reports"]
    app.create("order", {"order_date": "2024-03-05", "channel": "web", "qty": 7,
                         "lines": [{"units": 2, "price": "10.50"}]}, "root")
    with app.transaction("root") as tx:
        tx.create("order", {"order_date": "2024-03-09", "channel": "web", "qty": 1})
        rows = reports.run(tx, "by_month").rows  # inside the writing transaction
        assert [(r["orders"], r["qty"], r["big"]) for r in rows] == [(2, 8, 1)]
    with pytest.raises(RuntimeError), app.transaction("root") as tx:
        tx.create("order", {"order_date": "2024-03-10", "channel": "web", "qty": 3})
        raise RuntimeError("rolled back")
    result = reports.report("by_month", user="root")
    assert [(r["month"], r["channel"], r["orders"], r["revenue"]) for r in result.rows] == \
        [(dt.date(2024, 3, 1), "web", 2, Decimal("21.00"))]
    assert result.totals["orders"] == 2 and result.totals["avg_qty"] == 4
    assert_summary_matches(app)


def test_a_restricted_reader_gets_the_scan(app):
    for ch in ("web", "store", "web"):
        app.create("order", {"order_date": "2024-02-01", "channel": ch, "qty": 2}, "root")
    reports = app.features["reports"]
    assert "ordo_summary" not in reports.explain("by_month", user="ann")  # a row rule applies to ann
    rows = reports.report("by_month", user="ann").rows
    assert [(r["channel"], r["orders"]) for r in rows] == [("web", 2)]
    with pytest.raises(PermissionDenied):
        reports.rebuild("by_month", user="ann")


def test_rebuild_and_verify_from_the_cli(app, db_url, make_app, capsys):
    path = app.definition.root
    app.create("order", {"order_date": "2024-01-02", "channel": "store", "qty": 6}, "root")
    assert main(["report", "verify", str(path), "by_month", "--db", db_url]) == 0
    assert "equals a full scan" in capsys.readouterr().out
    table = app.features["reports"].summaries["by_month"].table
    with app.engine.begin() as conn:  # damage it behind Ordo's back
        conn.execute(table.update().values(_rows=table.c._rows + 5))
    assert main(["report", "verify", str(path), "by_month", "--db", db_url]) == 1
    assert "differs from a full scan in 1 group" in capsys.readouterr().err
    assert main(["report", "rebuild", str(path), "by_month", "--db", db_url]) == 0
    assert "1 group(s)" in capsys.readouterr().out
    assert main(["report", "verify", str(path), "by_month", "--db", db_url]) == 0
    assert main(["report", "verify", str(path), "nope", "--db", db_url]) == 1


def test_a_summary_added_over_existing_rows_is_used_once_rebuilt(db_url, make_app):
    files = dict(APP)
    files["reports/by_month.yaml"] = APP["reports/by_month.yaml"].replace("summary: true", "summary: false")
    path = make_app(files)
    a = open_app(path, db_url)
    a.create("order", {"order_date": "2024-01-02", "channel": "store", "qty": 6}, "root")
    a.close()
    (path / "reports" / "by_month.yaml").write_text(
        (path / "reports" / "by_month.yaml").read_text().replace("summary: false", "summary: true"))
    a = open_app(path, db_url)
    try:
        reports = a.features["reports"]
        assert "ordo_summary" not in reports.explain("by_month", user="root")  # not built: scan
        assert reports.report("by_month", user="root").totals["orders"] == 1
        assert reports.rebuild("by_month", user="root") == 1
        assert "ordo_summary" in reports.explain("by_month", user="root")
        assert_summary_matches(a)
    finally:
        a.close()


def test_reports_that_cannot_be_summarized_are_refused_at_load(make_app, tmp_path):
    files = dict(APP)
    files["reports/by_month.yaml"] = APP["reports/by_month.yaml"].replace(
        "{name: qty, agg: sum, expr: qty}", "{name: qty, agg: max, expr: qty}")
    with pytest.raises(DefinitionErrors) as e:
        open_app(make_app(files), f"sqlite:///{tmp_path / 'x.db'}")
    assert "by_month.yaml" in str(e.value) and "(max) cannot be kept exact" in str(e.value)


def test_concurrent_writers_keep_the_summary_exact(pg_url, make_app):
    a = open_app(make_app(APP), pg_url)
    try:
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(15):
                    rec = a.create("order", {"order_date": f"2024-0{1 + i % 2}-0{1 + n}", "channel": "web",
                                             "qty": i, "lines": [{"units": 1, "price": "1.25"}]}, "root")
                    if i % 3 == 0:
                        a.update("order", rec["id"], {"channel": "store"}, "root")
                    if i % 5 == 0:
                        a.delete("order", rec["id"], "root")
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert_summary_matches(a)
        assert a.features["reports"].report("by_month", user="root").totals["orders"] == 4 * 12
    finally:
        a.close()


def test_a_period_on_whole_buckets_is_answered_from_the_summary(app):
    """A bounded period whose bounds are first days of the summary's month buckets (this year, a
    quarter, 2024-02-01..2024-04-30) reads the summary, filtered on its month column; one that cuts a
    month (last_30_days, 2024-02-02..) scans. Same figures either way."""
    orders = [(dt.date(2024, m, d), ch, q) for m in range(1, 7) for d in (1, 15, 28) for ch, q in
              (("web", m + d), ("store", d % 7), (None, 3))] + [(None, "web", 4)]
    for day, ch, q in orders:
        app.create("order", {"order_date": day, "channel": ch, "qty": q,
                             "lines": [{"units": 2, "price": Decimal("1.25")}]}, "root")
    reports = app.features["reports"]
    reports.rebuild("by_month", user="root")
    for period, whole in (("2024-02-01..2024-04-30", True), ("2024-01-01..2024-12-31", True),
                          ("2024-03-01..2025-02-28", True), ("2024-02-02..2024-04-30", False),
                          ("2024-02-01..2024-04-29", False), ("2024-04-15..2024-04-20", False)):
        text = reports.explain("by_month", user="root", params={"period": period})
        assert ("ordo_summary_by_month" in text) == whole, (period, text)
        if whole:
            assert "answered from the maintained summary" in text
        got = figures(reports.report("by_month", user="root", params={"period": period}))
        assert got == scanned(app, {"period": period}), period
        assert got[0], period
    assert figures(reports.report("by_month", user="root", params={"period": "2024-02-01..2024-02-29"}))[1][2] == 9
