"""Generated SQL that the database planner serves from indexes, asserted through the database's own
plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL), on both databases.

PostgreSQL cannot answer ``IS NOT DISTINCT FROM`` from an index: equality against a value that
cannot be null must be a plain ``=``. On PostgreSQL the plan is read with sequential scans
discouraged (``enable_seqscan = off``) so that a tiny test table still shows whether an index *can*
serve the condition."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from ordo.dsl.expr.sql_nullsafe import nullsafe_bound
from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.reports.explain import plan_lines
from ordo.engine.stats import count_statements

APP = {
    "entities/customer.yaml": """
        name: customer
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          orders:
            type: related
            entity: sale
            where: "customer == parent.id and status != 'void'"
    """,
    "entities/sale.yaml": """
        name: sale
        fields:
          external_id: {type: string, index: true}
          other_id: {type: string}
          customer: {type: link, entity: customer}
          status: {type: enum, options: [open, void], default: open}
          amount: {type: integer}
          sold_on: {type: date}
          same_customer: {type: related, entity: sale, where: "customer == parent.customer and id != parent.id"}
          same_customer_count: {type: computed, expr: "count(same_customer)"}
    """,
    "reports/by_status.yaml": """
        name: by_status
        source: sale
        params:
          ext: {type: string}
          period: {type: period, default: all}
        filters:
          - "external_id == :ext"
          - "sold_on >= :period_start and sold_on < :period_end"
        dimensions: [status]
        measures:
          - {name: amount, agg: sum, expr: amount}
          - {name: sales, agg: count}
          - {name: share, formula: "amount / sales"}
          - {name: twice, formula: "share + share + amount"}
        totals: true
    """,
}


@pytest.fixture
def app_path(make_app):
    return make_app(APP)


@pytest.fixture
def app(db_url, app_path):
    a = open_app(app_path, db_url)
    for c in range(5):
        a.create("customer", {"code": f"C{c}"}, "t")
    with a.transaction("t") as tx:
        for i in range(60):
            tx.create("sale", {"external_id": f"E{i}" if i % 7 else None, "other_id": f"E{i % 5}",
                               "customer": f"C{i % 5}" if i % 11 else None, "amount": i,
                               "sold_on": None if i == 8 else dt.date(2024, 1 + i % 12, 1),
                               "status": "void" if i % 3 == 0 else "open"})
    yield a
    a.close()


def plan(app, stmt, params=None) -> str:
    """The database's plan of ``stmt`` as one text (PostgreSQL: sequential scans discouraged)."""
    with app.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(plan_lines(conn, stmt, params))


def uses_index(app, text: str, index_column: str) -> bool:
    """Whether the plan reads an index on ``index_column`` (SQLite names it in USING INDEX, PostgreSQL
    in an Index Scan / Bitmap Index Scan / Index Only Scan line)."""
    name = f"_{index_column}"
    return any("INDEX" in line.upper() and name in line for line in text.splitlines())


def filtered(app, entity: str, where: str, params: dict):
    with app.reader("t") as tx:
        clause = tx.where_clause(entity, where, params)
    table = app.compiled.entities[entity].table
    return sa.select(table.c.id).where(clause)


def test_equality_with_a_parameter_uses_the_index(app):
    stmt = filtered(app, "sale", "external_id == :v", {"v": "E8"})
    sql = str(stmt.compile(app.engine))
    assert "DISTINCT" not in sql.upper() and " IS " not in sql.upper()
    text = plan(app, stmt, {"v": "E8"})
    assert uses_index(app, text, "external_id"), text
    with app.reader("t") as tx:
        assert [r["external_id"] for r in tx.query("sale", "external_id == :v", params={"v": "E8"})] == ["E8"]


def test_equality_with_a_literal_and_is_null_use_the_index(app):
    for where in ("external_id == 'E9'", "'E9' == external_id", "external_id == null"):
        text = plan(app, filtered(app, "sale", where, {}))
        assert uses_index(app, text, "external_id"), (where, text)
    with app.reader("t") as tx:
        assert len(tx.query("sale", "external_id == null", limit=None)) == 9  # i % 7 == 0 for i < 60


def test_a_null_parameter_still_matches_nulls(app):
    with app.reader("t") as tx:
        assert len(tx.query("sale", "external_id == :v", params={"v": None}, limit=None)) == 9
        assert len(tx.query("sale", "external_id != :v", params={"v": None}, limit=None)) == 51
        # != and not(==) keep the null-safe meaning: a null external_id differs from 'E8'
        assert len(tx.query("sale", "external_id != :v", params={"v": "E8"}, limit=None)) == 59
        assert len(tx.query("sale", "not (external_id == :v)", params={"v": "E8"}, limit=None)) == 59
        assert len(tx.query("sale", "external_id == other_id", limit=None)) == \
            sum(1 for i in range(60) if i % 7 and f"E{i}" == f"E{i % 5}")


def test_two_nullable_sides_stay_null_safe(app):
    sql = str(filtered(app, "sale", "external_id == other_id", {}).compile(app.engine)).upper()
    assert "DISTINCT" in sql or " IS " in sql


def test_related_field_count_uses_the_link_index(app):
    """The repurchase-rate shape: a count of related rows per record, correlated on the link."""
    stmt = filtered(app, "customer", "count(orders) > 3", {})
    text = plan(app, stmt)
    assert uses_index(app, text, "customer"), text
    counts = {f"C{c}": sum(1 for i in range(60) if i % 11 and i % 5 == c and i % 3) for c in range(5)}
    with app.reader("t") as tx:
        got = {r["code"] for r in tx.query("customer", "count(orders) > 7", limit=None)}
    assert got == {c for c, n in counts.items() if n > 7} and got and len(got) < 5


def test_related_field_on_a_nullable_link_uses_the_index(app):
    """``customer == parent.customer`` (both sides may be null) is null-safe; on PostgreSQL, which cannot
    serve ``IS NOT DISTINCT FROM`` from an index, the statement run is ``customer = :v`` for an owner with
    a customer and ``customer IS NULL`` for one without (also in a prepared statement's generic plan)."""
    with app.transaction("t") as tx:
        with count_statements(app.engine) as counts:
            with_customer = tx.create("sale", {"customer": "C1", "amount": 1})
            without = tx.create("sale", {"amount": 2})
    assert with_customer["same_customer_count"] == sum(1 for i in range(60) if i % 11 and i % 5 == 1)
    assert without["same_customer_count"] == sum(1 for i in range(60) if not i % 11)
    ran = [t.upper() for t in counts.texts if "COUNT(*)" in t.upper()]
    assert len(ran) == 2
    if app.engine.dialect.name == "postgresql":
        assert "DISTINCT FROM" not in ran[0].split("AND")[0] and "CUSTOMER IS NULL" in ran[1], ran
    else:  # ``customer IS ?`` as a condition (``customer IS ? = 1`` would keep the index out)
        assert all("CUSTOMER IS ? AND" in t for t in ran), ran
    stmt = app.related_statements.groups[("sale", True)].built[0]
    params = {"owner_customer": with_customer["customer"], "owner_id": with_customer["id"]}
    if app.engine.dialect.name == "postgresql":
        stmt = nullsafe_bound(stmt, params)
    assert uses_index(app, plan(app, stmt, params), "customer")


def test_report_explain_shows_sql_and_an_index_plan(app, app_path, db_url, capsys):
    """``ordo report --explain``: the SQL a run executes and the database's plan; the report's filter
    on an indexed field is served by the index; an open period adds no date range."""
    text = app.features["reports"].explain("by_status", user="t", params={"ext": "E10"})
    sql, _, plan_text = text.partition("-- plan")
    assert "external_id = " in sql and "DISTINCT" not in sql.split("FROM", 1)[1].split("GROUP BY")[0].upper()
    assert "sold_on >=" not in sql and "sold_on <" not in sql and "sold_on IS NOT NULL" in sql
    assert plan_text.strip()
    # the totals row in the same pass; formulas reuse the aggregated measures (each aggregated once)
    if app.engine.dialect.name == "postgresql":
        assert "GROUPING SETS" in sql and sql.count("sum(") == 1 and sql.count("count(") == 1
    else:  # totals re-aggregate the groups: sum of the sums, sum of the counts
        assert "MATERIALIZED" in sql and plan_text.count("SCAN src") + plan_text.count("SEARCH src") == 1
        assert "_external_id" in plan_text  # SQLite picks the index by itself
        assert sql.count("sum(") == 3 and sql.count("count(") == 1
    result = app.features["reports"].report("by_status", user="t", params={"ext": "E10"})
    assert [(r["status"], r["amount"], r["sales"]) for r in result.rows] == [("open", 10, 1)]
    assert result.totals["amount"] == 10 and result.totals["twice"] == 30
    year = app.features["reports"].report("by_status", user="t", params={"ext": "E9", "period": "2024-01-01..2024-12-31"})
    assert [(r["status"], r["amount"]) for r in year.rows] == [("void", 9)]
    assert main(["report", str(app_path), "by_status", "--db", db_url, "--explain",
                 "--param", "ext=E10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-- report by_status on ") and "-- plan" in out and "ext = 'E10'" in out


def test_an_open_period_keeps_rows_with_a_date_and_a_period_filters(app):
    reports = app.features["reports"]
    with app.reader("t") as tx:
        with_date = len(tx.query("sale", "sold_on != null and external_id == :e", params={"e": "E8"}, limit=None))
    assert with_date == 0  # sale 8 has no date: an open period still leaves it out, as before
    rows = reports.report("by_status", user="t", params={"ext": "E8"}).rows
    assert rows == []
    rows = reports.report("by_status", user="t", params={"ext": "E13", "period": "2024-02-01..2024-02-29"}).rows
    assert [(r["status"], r["amount"]) for r in rows] == [("open", 13)]


def test_report_indexes_created_listed_and_removable(app, app_path, db_url, capsys):
    """Each report gets an index covering what it reads on its source table (equality filters,
    dimensions, ranges, measures); `ordo sync --dry-run` lists it; `index: false` drops it."""
    name = app.features["reports"].indexes["by_status"]
    table = app.compiled.entities["sale"].table
    index = next(i for i in table.indexes if i.name == name)
    assert [c.name for c in index.columns] == ["external_id", "status", "sold_on", "amount"]
    with app.engine.connect() as conn:
        assert name in {i["name"] for i in sa.inspect(conn).get_indexes("sale")}
    text = plan(app, _report_statement(app, "by_status", {"ext": "E3"}), {"ext": "E3", "period_start": dt.date(1, 1, 1),
                                                                         "period_end": dt.date(9999, 12, 31)})
    assert name in text, text
    if app.engine.dialect.name == "sqlite":
        assert "COVERING INDEX" in text  # the report never reads the table itself
    report = (app_path / "reports" / "by_status.yaml").read_text()
    (app_path / "reports" / "by_status.yaml").write_text(report.replace("totals: true", "totals: true\nindex: false"))
    assert main(["sync", str(app_path), "--db", db_url, "--dry-run"]) == 0
    assert f"drop index {name}" in capsys.readouterr().out
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    with app.engine.connect() as conn:
        assert name not in {i["name"] for i in sa.inspect(conn).get_indexes("sale")}
    (app_path / "reports" / "by_status.yaml").write_text(report)
    assert main(["sync", str(app_path), "--db", db_url, "--dry-run"]) == 0
    assert f"create index {name}" in capsys.readouterr().out


def _report_statement(app, name, params):
    from ordo.engine.reports.run import bind_params, statement

    report = app.features["reports"].get(name)
    _, binds = bind_params(report, params, dt.date(2026, 1, 1))
    with app.reader("t") as tx:
        return statement(report, report.build(tx, binds))


def test_a_list_newest_first_reads_the_created_at_index(app):
    """``order_by=-created_at`` (the API's usual "newest first") walks the index every entity table has on
    ``created_at`` and stops after the page, instead of reading and sorting every row."""
    from ordo.engine import keyset

    table = app.compiled.entities["sale"].table
    keys = keyset.sort_keys(app.compiled.entity("sale"), "-created_at")
    newest = sa.select(table).order_by(*keyset.order_clauses(table, keys)).limit(51)
    text = plan(app, newest)
    assert uses_index(app, text, "created_at"), text
    if app.engine.dialect.name == "sqlite":  # PostgreSQL's planner may prefer another index on a tiny table
        text = plan(app, newest.where(filtered(app, "sale", "status == 'open'", {}).whereclause))
        assert uses_index(app, text, "created_at"), text
    with app.reader("t") as tx:
        page = keyset.page(tx, "sale", "status == 'open'", {}, keys, limit=5)
        same = tx.query("sale", "status == 'open'", order_by=["-created_at", "id"], limit=5)
    assert [r["id"] for r in page] == [r["id"] for r in same]


def test_sync_adds_the_created_at_index_to_an_older_database(app, app_path, db_url, capsys):
    name = "ix_sale_created_at"
    with app.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    assert main(["sync", str(app_path), "--db", db_url]) == 0
    assert f"create index {name}" in capsys.readouterr().out
    with app.engine.connect() as conn:
        assert name in {i["name"] for i in sa.inspect(conn).get_indexes("sale")}
