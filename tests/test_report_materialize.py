"""Materialized reports: result rows upserted into records (generic toy app, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.errors import UsageError, ValidationFailed

NOW = dt.datetime(2026, 3, 16, 6, 0)
TODAY = NOW.date()

ENTITIES = """
name: item
naming: "{code}"
fields:
  code: {type: string, required: true, unique: true}
---
name: sale
fields:
  item: {type: link, entity: item, required: true}
  day: {type: date, required: true}
  qty: {type: integer, required: true}
---
name: daily
fields:
  item: {type: link, entity: item, required: true}
  day: {type: date, required: true}
  qty: {type: integer, min: 0}
  origin: {type: string, default: auto}
---
name: stat
fields:
  item: {type: link, entity: item, required: true}
  mean: {type: decimal, scale: 4}
  sigma: {type: decimal, scale: 4}
  days: {type: integer}
"""

REPORTS = """
name: daily_sales
source: sale
params:
  days: {type: integer, default: 7}
filters: ["day >= today() - :days and day < today()"]
dimensions: [item, {name: day, expr: day, bucket: day}]
measures: [{name: qty, agg: sum, expr: qty}]
materialize: {into: daily, key: [item, day], where: "origin == 'auto'", stale: delete}
---
name: item_stats
source: daily
params:
  days: {type: integer, default: 7}
filters: ["origin == 'auto'"]
dimensions: [item]
measures:
  - {name: total, agg: sum, expr: qty}
  - {name: squares, agg: sum, expr: qty * qty}
  - {name: mean, formula: "total / :days"}
  - {name: sigma, formula: "sqrt(squares / :days - mean * mean)"}
  - {name: days, formula: ":days"}
materialize: {into: stat, key: [item], every: 1d, at: "02:00"}
"""

SALES = [("A", 1, 3), ("A", 1, 2), ("A", 2, 4), ("B", 3, 1), ("B", 10, 9), ("C", 0, 5)]


@pytest.fixture
def toy(make_app, db_url):
    root = make_app({"entities/e.yaml": ENTITIES, "reports/r.yaml": REPORTS}, name="toy")
    app = open_app(str(root), db_url, clock=Clock(fixed=NOW))
    with app.transaction("admin") as tx:
        for c in "ABC":
            tx.create("item", {"code": c})
        for c, ago, q in SALES:
            tx.create("sale", {"item": c, "day": TODAY - dt.timedelta(days=ago), "qty": q})
    yield app, root
    app.close()


def _daily(app) -> dict[tuple[str, dt.date], int]:
    items = {r["id"]: r["name"] for r in app.query("item", user="admin")}
    return {(items[r["item"]], r["day"]): r["qty"] for r in app.query("daily", "origin == 'auto'", user="admin")}


def test_upsert_by_key_and_stale_rows(toy):
    app, _ = toy
    reports = app.features["reports"]
    first = reports.refresh("daily_sales", user="admin")
    assert (len(first.created), len(first.updated), first.unchanged, len(first.deleted)) == (3, 0, 0, 0)
    expected = {("A", TODAY - dt.timedelta(days=1)): 5, ("A", TODAY - dt.timedelta(days=2)): 4,
                ("B", TODAY - dt.timedelta(days=3)): 1}
    assert _daily(app) == expected
    again = reports.refresh("daily_sales", user="admin")
    assert (len(again.created), len(again.updated), again.unchanged) == (0, 0, 3)
    versions = {r["name"]: r["version"] for r in app.query("daily", user="admin")}
    assert set(versions.values()) == {1}  # nothing rewritten when nothing changed
    # a new sale changes one figure: exactly one update, audited
    app.create("sale", {"item": "A", "day": TODAY - dt.timedelta(days=2), "qty": 6}, user="admin")
    third = reports.refresh("daily_sales", user="admin")
    assert (len(third.created), len(third.updated), third.unchanged) == (0, 1, 2)
    assert _daily(app)[("A", TODAY - dt.timedelta(days=2))] == 10
    # records outside 'where' are not the report's: never matched nor deleted
    manual = app.create("daily", {"item": "A", "day": TODAY - dt.timedelta(days=1), "qty": 99,
                                  "origin": "manual"}, user="admin")
    narrow = reports.refresh("daily_sales", user="admin", params={"days": 2})
    assert len(narrow.deleted) == 1 and narrow.unchanged == 2
    assert set(_daily(app)) == {("A", TODAY - dt.timedelta(days=1)), ("A", TODAY - dt.timedelta(days=2))}
    assert app.get("daily", manual["id"], user="admin")["qty"] == 99


def test_two_stage_statistics_match_an_independent_computation(toy):
    app, _ = toy
    reports = app.features["reports"]
    reports.refresh("daily_sales", user="admin")
    done = reports.refresh("item_stats", user="admin")
    assert len(done.created) == 2
    n = 7
    per_day: dict[str, dict[int, int]] = {}
    for c, ago, q in SALES:
        if 1 <= ago <= n:
            per_day.setdefault(c, {}).setdefault(ago, 0)
            per_day[c][ago] += q
    items = {r["id"]: r["name"] for r in app.query("item", user="admin")}
    got = {items[r["item"]]: r for r in app.query("stat", user="admin")}
    assert set(got) == set(per_day)
    for c, days in per_day.items():
        series = [days.get(i, 0) for i in range(1, n + 1)]  # zero-demand days count
        mean = sum(series) / n
        sigma = math.sqrt(sum((x - mean) ** 2 for x in series) / n)
        assert abs(float(got[c]["mean"]) - mean) < 1e-4
        assert abs(float(got[c]["sigma"]) - sigma) < 1e-4
        assert got[c]["days"] == n


def test_refused_row_refuses_the_whole_refresh(toy):
    app, _ = toy
    app.create("sale", {"item": "B", "day": TODAY - dt.timedelta(days=4), "qty": -3}, user="admin")
    with pytest.raises(ValidationFailed) as e:
        app.features["reports"].refresh("daily_sales", user="admin")
    assert "qty" in str(e.value) and "item=" in str(e.value)
    assert app.query("daily", user="admin") == []  # all or nothing


def test_report_without_materialize_is_refused(make_app, db_url):
    root = make_app({"entities/e.yaml": ENTITIES, "reports/r.yaml": """
        name: plain
        source: sale
        measures: [{name: n, agg: count}]
        """}, name="toy")
    with open_app(str(root), db_url) as app, pytest.raises(UsageError, match="no 'materialize'"):
        app.features["reports"].refresh("plain", user="admin")


def test_scheduled_refresh_by_the_worker(toy):
    app, _ = toy
    app.features["reports"].refresh("daily_sales", user="admin")
    assert app.jobs.run_due("w1", now=NOW + dt.timedelta(hours=1)) == 0  # first slot: tomorrow 02:00
    app.clock.fixed = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(2, 0))
    assert app.jobs.run_due("w1") == 1
    assert len(app.query("stat", user="admin")) == 2
    with app.reader("admin") as tx:
        from ordo.engine.jobs import job_table
        rows = tx.conn.execute(job_table.select().where(job_table.c.unique_key == "report-materialize:item_stats",
                                                        job_table.c.status == "pending")).all()
    assert [r.run_at for r in rows] == [dt.datetime.combine(TODAY + dt.timedelta(days=2), dt.time(2, 0))]


def test_cli_into(toy, capsys):
    app, root = toy
    url = str(app.engine.url.render_as_string(hide_password=False))
    args = ["report", str(root), "daily_sales", "--into", "--db", url, "--user", "admin", "--param", "days=3650"]
    assert main(["user", "add", str(root), "admin", "--db", url]) == 0  # --user acts as users of the directory
    assert main(args) == 0
    assert "5 row(s); 5 created" in capsys.readouterr().out  # the CLI runs on the real clock: all sales
    assert main([*args, "--format", "json"]) == 0
    assert '"unchanged": 5' in capsys.readouterr().out
    assert main(["report", str(root), "daily_sales", "--into", "--db", url, "--param", "days=x"]) == 1
    assert "parameter 'days'" in capsys.readouterr().err


@pytest.mark.parametrize("materialize, message", [
    ("{into: nowhere, key: [item]}", "unknown entity 'nowhere'"),
    ("{into: daily, key: [qty]}", "unknown key column 'qty'"),
    ("{into: daily, key: [item], fields: {nope: qty}}", "has no field 'nope'"),
    ("{into: daily, key: [item], fields: {day: missing}}", "unknown result column 'missing'"),
    ("{into: daily, key: [item], where: \"colour == 1\"}", "colour"),
    ("{into: daily, key: [item], every: soon}", "invalid interval"),
])
def test_definition_errors_are_located(make_app, materialize, message):
    root = make_app({"entities/e.yaml": ENTITIES, "reports/r.yaml": f"""
        name: bad
        source: sale
        dimensions: [item]
        measures: [{{name: qty, agg: sum, expr: qty}}]
        materialize: {materialize}
        """}, name="toy")
    with pytest.raises(DefinitionErrors) as e:
        open_app(str(root), "sqlite://")
    text = str(e.value)
    assert message in text and "r.yaml:" in text


def test_decimals_are_rounded_to_the_field_scale(toy):
    app, _ = toy
    reports = app.features["reports"]
    reports.refresh("daily_sales", user="admin")
    reports.refresh("item_stats", user="admin", params={"days": 3})
    again = reports.refresh("item_stats", user="admin", params={"days": 3})
    assert again.unchanged == 2  # rounded values compare equal to the stored ones
    stat = app.query("stat", user="admin")[0]
    assert stat["mean"] == Decimal(stat["mean"]).quantize(Decimal("0.0001"))
