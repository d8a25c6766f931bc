"""A count of related rows in a report (the repurchase-rate shape) is a LEFT JOIN to counts pre-grouped by
owner, one scan of the related rows, with the same figures as record queries, the related field's own
conditions and the reader's row rules; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ordo.engine import open_app
from ordo.engine.reports.run import bind_params, statement

from .api_kit import add_user

APP = {
    "entities/customer.yaml": """
        name: customer
        fields:
          level: {type: enum, options: [normal, vip]}
          orders:
            type: related
            entity: sale
            where: "customer == parent.id and status != 'void'"
          notes: {type: table, entity: note}
        ---
        name: note
        child: true
        fields:
          text: {type: string}
    """,
    "entities/sale.yaml": """
        name: sale
        fields:
          customer: {type: link, entity: customer}
          status: {type: string}
          owner: {type: string}
    """,
    "roles.yaml": """
        roles:
          clerk:
            permissions:
              - {entity: customer, actions: [read]}
              - {entity: sale, actions: [read], where: "owner == user.name"}
              - {report: repurchase}
    """,
    "reports/repurchase.yaml": """
        name: repurchase
        source: customer
        dimensions: [level]
        measures:
          - {name: customers, agg: count}
          - {name: buyers, agg: count, filter: "count(orders) > 0"}
          - {name: repeat_buyers, agg: count, filter: "count(orders) > 1"}
          - {name: noted, agg: count, filter: "count(notes) > 0"}
          - {name: rate, formula: "repeat_buyers / buyers", format: percent}
        totals: true
    """,
}
# customer: (level, [(status, owner)], notes)
CUSTOMERS = {
    "A": ("vip", [("paid", "ann"), ("paid", "ann"), ("void", "ann")], 1),
    "B": ("vip", [("paid", "ann"), ("paid", "bob")], 0),
    "C": ("normal", [("void", "ann"), ("void", "ann")], 2),
    "D": ("normal", [("paid", "bob"), ("paid", "bob"), ("paid", "bob")], 0),
    "E": ("normal", [], 0),
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    add_user(a, "ann", ("clerk",))
    add_user(a, "root", ("admin",))
    with a.transaction("root") as tx:
        for name, (level, sales, notes) in CUSTOMERS.items():
            tx.create("customer", {"name": name, "level": level, "notes": [{"text": "x"}] * notes})
            for status, owner in sales:
                tx.create("sale", {"customer": name, "status": status, "owner": owner})
    yield a
    a.close()


def _figures(a, user):
    rows = a.features["reports"].report("repurchase", user=user).rows
    return {r["level"]: (r["customers"], r["buyers"], r["repeat_buyers"], r["noted"]) for r in rows}


def test_related_counts_match_record_queries_and_row_rules(app):
    assert _figures(app, "root") == {"normal": (3, 1, 1, 1), "vip": (2, 2, 2, 1)}
    # ann reads only her sales: B has one readable order, D none
    assert _figures(app, "ann") == {"normal": (3, 0, 0, 1), "vip": (2, 2, 1, 1)}
    for user in ("root", "ann"):
        with app.reader(user) as tx:
            repeat = {r["name"] for r in tx.query("customer", "count(orders) > 1", limit=None)}
        figures = _figures(app, user)
        assert sum(f[2] for f in figures.values()) == len(repeat)


def test_related_count_is_one_pre_grouped_join(app):
    reports = app.features["reports"]
    report = reports.get("repurchase")
    with app.reader("ann") as tx:
        _, binds = bind_params(report, {}, app.clock.today())
        sql = str(statement(report, report.build(tx, binds)).compile(app.engine))
    assert "LEFT OUTER JOIN (SELECT" in sql and "count(*) AS n" in sql
    assert sql.count("FROM sale") == 1  # one pre-grouped scan of the sales however often the count is used
    assert "= customer" not in sql.replace("k = src", "")  # no correlation to the outer customer row


def test_an_unkeyed_related_field_keeps_the_correlated_count(make_app, db_url):
    files = dict(APP)
    files["entities/customer.yaml"] = APP["entities/customer.yaml"].replace(
        '"customer == parent.id and status != \'void\'"', '"customer == parent.id or status == parent.level"')
    a = open_app(make_app(files), db_url)
    add_user(a, "root", ("admin",))
    try:
        with a.transaction("root") as tx:
            tx.create("customer", {"name": "A", "level": "vip"})
            tx.create("sale", {"customer": "A", "status": "paid"})
        rows = a.features["reports"].report("repurchase", user="root").rows
        assert [(r["level"], r["buyers"], r["repeat_buyers"]) for r in rows] == [("vip", 1, 0)]
    finally:
        a.close()
