"""Analyst measures across result rows (running total, share of total, change and growth against the
previous period) and count of distinct values of an expression, compared with the same figures computed
here in Python, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.engine import open_app

APP = {
    "entities/sale.yaml": """
        name: sale
        fields:
          customer: {type: string}
          placed_at: {type: datetime}
          channel: {type: enum, options: [web, store]}
          amount: {type: money}
    """,
    "reports/trend.yaml": """
        name: trend
        source: sale
        dimensions:
          - {name: month, expr: "date(placed_at)", bucket: month}
          - channel
        measures:
          - {name: revenue, agg: sum, expr: amount}
          - {name: orders, agg: count}
          - {name: cumulative, window: running_total, of: revenue}
          - {name: share, window: share, of: revenue, format: percent}
          - {name: growth, window: growth, of: revenue}
          - {name: more_orders, window: change, of: orders}
          - {name: per_order, formula: "revenue / orders"}
          - {name: per_order_share, window: share, of: per_order}
        having: "orders > 0"
        totals: true
    """,
    "reports/spread.yaml": """
        name: spread
        source: sale
        dimensions: [channel]
        measures:
          - {name: median, agg: median, expr: amount}
          - {name: p90, agg: percentile, p: 0.9, expr: amount}
          - {name: p10_web, agg: percentile, p: 0.1, expr: amount, filter: "customer == 'ann'"}
        totals: true
    """,
    "reports/days.yaml": """
        name: days
        source: sale
        dimensions: [customer]
        measures:
          - {name: purchase_days, agg: count_distinct, expr: "date(placed_at)"}
          - {name: orders, agg: count}
    """,
}


@pytest.fixture
def app(db_url, make_app):
    a = open_app(make_app(APP), db_url)
    rng = random.Random(7)
    sales = []
    with a.transaction("t") as tx:
        for _ in range(80):
            s = {"customer": rng.choice(["ann", "bob", "cy"]), "channel": rng.choice(["web", "store"]),
                 "placed_at": dt.datetime(2024, rng.randint(1, 5), rng.randint(1, 28), rng.randint(0, 23)),
                 "amount": Decimal(rng.randint(100, 9999)) / 100}
            sales.append(s)
            tx.create("sale", s)
    a.sales = sales
    yield a
    a.close()


def test_running_total_share_change_and_growth(app):
    result = app.features["reports"].report("trend", user="t")
    groups: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
    for s in app.sales:
        g = groups[(s["placed_at"].date().replace(day=1), s["channel"])]
        g[0] += s["amount"]
        g[1] += 1
    grand = sum(v[0] for v in groups.values())
    per_order_total = sum(v[0] / v[1] for v in groups.values())
    want = {}
    for ch in ("web", "store"):
        running, prev = Decimal(0), None
        for month in sorted(m for m, c in groups if c == ch):
            revenue, orders = groups[(month, ch)]
            running += revenue
            want[(month, ch)] = (revenue, orders, running, revenue / grand,
                                 None if prev is None else (revenue - prev[0]) / prev[0],
                                 None if prev is None else orders - prev[1], (revenue / orders) / per_order_total)
            prev = (revenue, orders)
    got = {(r["month"], r["channel"]): (r["revenue"], r["orders"], r["cumulative"], r["share"], r["growth"],
                                        r["more_orders"], r["per_order_share"]) for r in result.rows}
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        assert g[:3] == w[:3] and g[5] == w[5], key
        for a, b in zip((g[3], g[4], g[6]), (w[3], w[4], w[6]), strict=True):
            assert (a is None and b is None) or abs(Decimal(str(a)) - b) < Decimal("1e-9"), (key, a, b)
    assert result.totals["revenue"] == grand and result.totals["cumulative"] == grand
    assert abs(Decimal(str(result.totals["share"])) - 1) < Decimal("1e-9") and result.totals["growth"] is None
    text = app.features["reports"].export(result, "table")
    assert "%" in text  # share formatted as a percentage


def test_count_distinct_of_an_expression(app):
    rows = app.features["reports"].report("days", user="t").rows
    days = defaultdict(set)
    for s in app.sales:
        days[s["customer"]].add(s["placed_at"].date())
    assert {r["customer"]: r["purchase_days"] for r in rows} == {c: len(d) for c, d in days.items()}


def test_window_measures_are_checked(make_app, tmp_path):
    files = dict(APP)
    files["reports/trend.yaml"] = APP["reports/trend.yaml"].replace("of: revenue, format: percent", "of: nothing")
    with pytest.raises(DefinitionErrors) as e:
        open_app(make_app(files), f"sqlite:///{tmp_path / 'x.db'}")
    assert "trend.yaml" in str(e.value) and "'of: nothing' must name" in str(e.value)


def _cont(values, p):
    values = sorted(values)
    if not values:
        return None
    at = p * (len(values) - 1)
    lo, hi = int(at), min(int(at) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * Decimal(str(at - lo))


def test_median_and_percentiles(app):
    result = app.features["reports"].report("spread", user="t")
    by = defaultdict(list)
    for s in app.sales:
        by[s["channel"]].append(s)
    want = {ch: (_cont([s["amount"] for s in ss], 0.5), _cont([s["amount"] for s in ss], 0.9),
                 _cont([s["amount"] for s in ss if s["customer"] == "ann"], 0.1)) for ch, ss in by.items()}
    want[None] = (_cont([s["amount"] for s in app.sales], 0.5), _cont([s["amount"] for s in app.sales], 0.9),
                  _cont([s["amount"] for s in app.sales if s["customer"] == "ann"], 0.1))
    got = {r["channel"]: (r["median"], r["p90"], r["p10_web"]) for r in result.rows}
    got[None] = (result.totals["median"], result.totals["p90"], result.totals["p10_web"])
    assert set(got) == set(want)
    for key, w in want.items():
        for a, b in zip(got[key], w, strict=True):
            assert abs(Decimal(str(a)) - b) < Decimal("0.0001"), (key, a, b)
