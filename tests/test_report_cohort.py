"""Cohort retention reports (``cohort:``): customers grouped by the month of their first order, counted
in each month since; as counts and as shares of the cohort; the reader's row rules form the cohorts;
through the CLI and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.cli import main

from .api_kit import add_user, bearer, served, token_for

CLOCK = Clock(fixed=dt.datetime(2024, 4, 15, 10, 0))
APP = {
    "entities/customer.yaml": """
        name: customer
        fields:
          code: {type: string, required: true, unique: true}
        title_field: code
    """,
    "entities/sale.yaml": """
        name: sale
        fields:
          customer: {type: link, entity: customer}
          sold_on: {type: date}
          owner: {type: string}
          status: {type: string}
    """,
    "roles.yaml": """
        roles:
          clerk:
            permissions:
              - {entity: sale, actions: [read], where: "owner == user.name"}
              - {entity: customer, actions: [read]}
              - {report: retention}
              - {report: retention_share}
    """,
    "reports/retention.yaml": """
        name: retention
        label: {en: Retention, zh: 留存}
        source: sale
        filters: ["status != 'cancelled'"]
        cohort: {actor: customer, date: sold_on, period: month, periods: 3, label: {en: First month, zh: 首购月}}
    """,
    "reports/retention_share.yaml": """
        name: retention_share
        source: sale
        cohort: {actor: customer, date: sold_on, period: month, periods: 2, share: true}
    """,
}
# customer: sale dates (owner ann unless noted)
SALES = {
    "A": ["2024-01-05", "2024-02-10", "2024-02-20", "2024-04-01"],
    "B": ["2024-01-20", "2024-03-03"],
    "C": ["2024-02-14", "2024-03-01"],
    "D": ["2024-02-28"],
}


@pytest.fixture
def app_dir(make_app, db_url):
    path = make_app(APP)
    app = open_app(path, db_url, clock=CLOCK)
    try:
        add_user(app, "ann", ("clerk",))
        add_user(app, "root", ("admin",))
        with app.transaction("root") as tx:
            for code, dates in SALES.items():
                tx.create("customer", {"name": code, "code": code})
                for d in dates:
                    tx.create("sale", {"customer": code, "sold_on": d, "owner": "ann", "status": "paid"})
            # bob's sale makes D a January customer for root only; a cancelled sale counts for nobody
            tx.create("sale", {"customer": "D", "sold_on": "2024-01-02", "owner": "bob", "status": "paid"})
            tx.create("sale", {"customer": "C", "sold_on": "2024-01-03", "owner": "ann", "status": "cancelled"})
    finally:
        app.close()
    return path


def _run(app_dir, db_url, name, user):
    app = open_app(app_dir, db_url, clock=CLOCK)
    try:
        return app.features["reports"].report(name, user=user)
    finally:
        app.close()


def test_cohorts_count_actors_active_in_each_period_since_their_first(app_dir, db_url):
    r = _run(app_dir, db_url, "retention", "ann")
    assert [c.label for c in r.columns] == ["First month", "Cohort size", "0", "1", "2", "3"]
    assert [(row["cohort"], row["size"], row["p0"], row["p1"], row["p2"], row["p3"]) for row in r.rows] == [
        (dt.date(2024, 1, 1), 2, 2, 1, 1, 1),   # A, B: A in Feb, B in Mar, A in Apr
        (dt.date(2024, 2, 1), 2, 2, 1, 0, None),  # C, D: C in Mar; April is month 2; month 3 is to come
    ]
    everyone = _run(app_dir, db_url, "retention", "root")  # bob's January sale moves D to January
    assert [(row["size"], row["p1"], row["p2"]) for row in everyone.rows] == [(3, 2, 1), (1, 1, 0)]


def test_cohort_shares_and_exports(app_dir, db_url, tmp_path, capsys):
    r = _run(app_dir, db_url, "retention_share", "ann")
    one, two_thirds, none = Decimal("1.0000"), Decimal("0.6667"), Decimal("0.0000")
    # no filter: the cancelled January sale makes C a January customer (A, B, C); D alone in February
    assert [(row["size"], row["p0"], row["p1"], row["p2"]) for row in r.rows] == [
        (3, one, two_thirds, two_thirds), (1, one, none, none)]
    out = tmp_path / "r.csv"
    assert main(["report", str(app_dir), "retention", "--db", db_url, "--user", "ann", "--out", str(out),
                 "--lang", "zh"]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["首购月", "群组人数", "0", "1", "2", "3"]
    # the CLI runs on the real clock: every month has passed, so no period is left empty
    assert rows[1:] == [["2024-01", "2", "2", "1", "1", "1"], ["2024-02", "2", "2", "1", "0", "0"]]


def test_cohort_over_the_api_follows_row_rules(app_dir, db_url):
    with served(app_dir, db_url) as (app, client):
        app.clock = CLOCK
        body = client.get("/api/v1/reports/retention", headers=bearer(token_for(app, "ann"))).json()
        assert [(row["size"], row["p1"]) for row in body["rows"]] == [(2, 1), (2, 1)]


def test_cohort_definition_errors_name_the_field(make_app, db_url):
    from ordo.dsl.errors import DefinitionErrors

    bad = dict(APP)
    bad["reports/retention.yaml"] = """
        name: retention
        source: sale
        cohort: {actor: customer, date: status}
        measures: [{name: n, agg: count}]
    """
    with pytest.raises(DefinitionErrors) as e:
        open_app(make_app(bad), db_url)
    text = str(e.value)
    assert "date or datetime" in text and "measures" in text


def test_cohort_report_page_shows_the_table(app_dir, db_url):
    from starlette.testclient import TestClient

    from ordo.designer_api.server import create_server
    from ordo.designer_api.settings import Settings

    from .web_kit import sign_in, text_of

    app = open_app(app_dir, db_url, clock=CLOCK)
    try:
        client = TestClient(create_server(app, Settings(app=str(app_dir), db=db_url)), follow_redirects=False)
        sign_in(client, "ann")
        r = client.get("/reports/retention")
        page = text_of(r.text)
        assert r.status_code == 200 and "First month" in page and "Cohort size" in page and "2024-01" in page
        assert "/drill" not in r.text  # a cohort cell has no record list behind it
        r = client.get("/reports/retention/drill", params={"d.cohort": "2024-01-01", "m": "p1"})
        assert r.status_code == 400
    finally:
        app.close()
