"""Time buckets kept as generated columns (``stored_buckets``): a report grouping by the month
(week, quarter ...) of a date field gets a generated column and an index reading it; the figures
are those of the same report computing the bucket per row; ``ordo sync --dry-run`` lists the
column, a second sync changes nothing, and turning it off drops the column and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.reports.explain import plan_lines

UNITS = ("day", "week", "month", "quarter", "year")


def _report(name: str, unit: str, field: str, stored: bool) -> str:
    return f"""
        name: {name}
        source: sale
        stored_buckets: {str(stored).lower()}
        params:
          period: {{type: period, default: all}}
        filters:
          - "sold_on >= :period_start and sold_on < :period_end"
          - "status != 'void'"
        dimensions:
          - {{name: period, expr: {field}, bucket: {unit}}}
          - channel
        measures:
          - {{name: sales, agg: count}}
          - {{name: amount, agg: sum, expr: amount}}
          - {{name: biggest, agg: max, expr: amount}}
        totals: true
    """


APP = {
    "entities/sale.yaml": """
        name: sale
        fields:
          status: {type: enum, options: [open, void], default: open}
          channel: {type: enum, options: [web, store], default: web}
          amount: {type: money}
          sold_on: {type: date}
          placed_at: {type: datetime}
    """,
    **{f"reports/{u}_{f}.yaml": _report(f"{u}_{f}", u, f, True) for u in UNITS for f in ("sold_on", "placed_at")},
    **{f"reports/{u}_{f}_plain.yaml": _report(f"{u}_{f}_plain", u, f, False)
       for u in UNITS for f in ("sold_on", "placed_at")},
}


@pytest.fixture
def app_path(make_app):
    return make_app(APP)


@pytest.fixture
def app(db_url, app_path):
    a = open_app(app_path, db_url)
    with a.transaction("t") as tx:
        for i in range(90):
            day = dt.date(2023, 11, 27) + dt.timedelta(days=7 * i + i % 5)  # across years, ISO weeks, quarters
            tx.create("sale", {"status": "void" if i % 9 == 0 else "open", "channel": "store" if i % 4 else "web",
                               "amount": f"{i}.25", "sold_on": None if i % 17 == 3 else day,
                               "placed_at": None if i % 13 == 5 else dt.datetime.combine(day, dt.time(23, 59, 30))})
    yield a
    a.close()


def _figures(app, name):
    r = app.features["reports"].report(name, user="t")
    return r.rows, r.totals


def test_same_figures_with_and_without_the_stored_bucket(app):
    reports = app.features["reports"]
    for unit in UNITS:
        for field in ("sold_on", "placed_at"):
            name = f"{unit}_{field}"
            assert reports.stored_buckets[name] == {"period": f"_ordo_{unit}_{field}"}
            assert f"{name}_plain" not in reports.stored_buckets
            rows, totals = _figures(app, name)
            plain_rows, plain_totals = _figures(app, f"{name}_plain")
            assert [r for r in rows if r not in plain_rows] == [] and len(rows) == len(plain_rows), name
            assert rows == plain_rows and totals == plain_totals, name
            assert len(rows) > 5 and all(isinstance(r["period"], dt.date) for r in rows if r["period"] is not None)
    # the column follows the row: a changed date moves it to its new bucket
    with app.transaction("t") as tx:
        sale = tx.query("sale", "sold_on != null and status == 'open'", limit=1)[0]
        tx.update("sale", sale["name"], {"sold_on": dt.date(2031, 5, 6)})
    rows, _ = _figures(app, "month_sold_on")
    assert any(r["period"] == dt.date(2031, 5, 1) for r in rows)
    assert (rows, _) == _figures(app, "month_sold_on_plain")
    # records never carry the generated column
    with app.reader("t") as tx:
        assert not [k for k in tx.query("sale", limit=1)[0] if k.startswith("_ordo")]


def _plan(app, name):
    text = app.features["reports"].explain(name, user="t")
    sql, _, plan = text.partition("-- plan")
    return sql, plan


def test_explain_shows_the_bucket_read_from_the_index(app):
    index = app.features["reports"].indexes["month_sold_on"]
    assert "_ordo_month_sold_on" in index
    sql, plan = _plan(app, "month_sold_on")
    assert f"-- scan of the source rows; the report's index: {index}" in sql
    assert "-- stored bucket: period = generated column _ordo_month_sold_on of sale" in sql
    assert "stored bucket" not in _plan(app, "month_sold_on_plain")[0]
    if app.engine.dialect.name == "sqlite":
        # the index holds the bucket expression: it covers the query and delivers the rows grouped
        assert f"COVERING INDEX {index}" in plan, plan
        assert "TEMP B-TREE FOR GROUP BY" not in plan, plan
    else:
        assert "src._ordo_month_sold_on" in sql and "date_trunc" not in sql.split("FROM")[0]
        report = app.features["reports"].get("month_sold_on")
        from ordo.engine.reports.run import bind_params, statement

        _, binds = bind_params(report, {}, dt.date(2026, 1, 1))
        with app.reader("t") as tx:
            stmt = statement(report, report.build(tx, binds))
        with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE sale")  # an index-only scan needs the visibility map
            for kind in ("seqscan", "bitmapscan", "indexscan"):  # left: index-only scans, if an index covers
                conn.exec_driver_sql(f"SET enable_{kind} = off")
            text = "\n".join(plan_lines(conn, stmt, binds))
        assert f"Index Only Scan using {index}" in text, text


def test_bucket_units_and_percentiles_are_part_of_the_statement_cache_key():
    """Two statements differing only in a bucket's unit (or a percentile) never share compiled SQL."""
    from ordo.engine.reports.buckets import DateBucket
    from ordo.engine.reports.percentile import Percentile

    t = sa.table("t", sa.column("d"))
    assert sa.select(DateBucket("week", t.c.d))._generate_cache_key() != \
        sa.select(DateBucket("month", t.c.d))._generate_cache_key()
    assert sa.select(Percentile(0.5, t.c.d))._generate_cache_key() != \
        sa.select(Percentile(0.9, t.c.d))._generate_cache_key()


def _columns(app, table):
    with app.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # PRAGMA table_info leaves generated columns out
            return {r[1] for r in conn.exec_driver_sql(f"PRAGMA table_xinfo({table})")}
        return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def test_sync_lists_adds_and_drops_only_the_generated_column(app, app_path, db_url, capsys):
    count = len(app.query("sale", user="t", limit=None))
    assert "_ordo_month_sold_on" in _columns(app, "sale")
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    assert "schema is up to date" in capsys.readouterr().out  # idempotent
    # turning the stored buckets off (or removing the reports) drops the columns and their indexes
    for u in UNITS:
        for f in ("sold_on", "placed_at"):
            p = app_path / "reports" / f"{u}_{f}.yaml"
            p.write_text(p.read_text().replace("stored_buckets: true", "stored_buckets: false"))
    (app_path / "reports" / "month_sold_on.yaml").unlink()
    assert main(["sync", str(app_path), "--db", db_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "drop generated column sale._ordo_month_sold_on" in out and "drop column sale.sold_on" not in out
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    capsys.readouterr()
    assert not {c for c in _columns(app, "sale") if c.startswith("_ordo")}
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    assert "schema is up to date" in capsys.readouterr().out
    again = open_app(app_path, db_url)
    try:
        assert len(again.query("sale", user="t", limit=None)) == count
        assert _figures(again, "quarter_placed_at") == _figures(again, "quarter_placed_at_plain")
    finally:
        again.close()
    # and back on: listed, added over the existing rows, same figures
    p = app_path / "reports" / "week_placed_at.yaml"
    p.write_text(p.read_text().replace("stored_buckets: false", "stored_buckets: true"))
    assert main(["sync", str(app_path), "--db", db_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "add generated column sale._ordo_week_placed_at" in out and "create index" in out
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    again = open_app(app_path, db_url)
    try:
        assert again.features["reports"].stored_buckets == {"week_placed_at": {"period": "_ordo_week_placed_at"}}
        assert _figures(again, "week_placed_at") == _figures(again, "week_placed_at_plain")
    finally:
        again.close()
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    assert "schema is up to date" in capsys.readouterr().out


def test_renaming_or_converting_the_bucketed_field_rebuilds_its_column(app, app_path, db_url, capsys):
    """Both databases refuse to change a column a generated column reads: sync drops the generated
    column first and adds it again over the renamed (converted) field."""
    before = _figures(app, "month_sold_on_plain")
    app.close()
    entity = app_path / "entities" / "sale.yaml"
    entity.write_text(entity.read_text().replace("sold_on: {type: date}",
                                                 "sale_date: {type: date, renamed_from: sold_on}"))
    for p in (app_path / "reports").iterdir():
        p.write_text(p.read_text().replace("sold_on", "sale_date"))
    assert main(["sync", str(app_path), "--db", db_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "rename sale.sold_on -> sale_date" in out and "add generated column sale._ordo_month_sale_date" in out
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    capsys.readouterr()
    assert "_ordo_month_sold_on" not in _columns(app, "sale")
    renamed = open_app(app_path, db_url)
    try:
        assert _figures(renamed, "month_sale_date") == before == _figures(renamed, "month_sale_date_plain")
    finally:
        renamed.close()
    entity.write_text(entity.read_text().replace("sale_date: {type: date, renamed_from: sold_on}",
                                                 "sale_date: {type: datetime, converted_from: date}"))
    for p in (app_path / "reports").iterdir():
        p.write_text(p.read_text().replace("sale_date >= :period_start and sale_date < :period_end",
                                           "date(sale_date) >= :period_start and date(sale_date) < :period_end"))
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    assert "convert sale.sale_date: date -> datetime" in capsys.readouterr().out
    converted = open_app(app_path, db_url)
    try:
        assert _figures(converted, "month_sale_date") == before == _figures(converted, "month_sale_date_plain")
    finally:
        converted.close()
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    assert "schema is up to date" in capsys.readouterr().out
