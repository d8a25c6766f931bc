"""Reports: every figure is compared with the same figure computed here in plain Python
from the data the test wrote, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.errors import PermissionDenied, UsageError

TODAY = dt.date(2024, 3, 20)
CLOCK = Clock(fixed=dt.datetime(2024, 3, 20, 10, 0))
CUSTOMERS = [("C1", "north"), ("C2", "south"), ("C3", None), ("C4", "north")]
UNITS = ("day", "week", "month", "quarter", "year")

ENTITIES = {
    "entities/customer.yaml": """
        name: customer
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          region: {type: string}
    """,
    "entities/order.yaml": """
        name: order
        fields:
          customer: {type: link, entity: customer}
          channel: {type: enum, options: [web, store, phone]}
          status: {type: enum, options: [paid, returned, cancelled], default: paid}
          order_date: {type: date}
          placed_at: {type: datetime}
          amount: {type: money}
          lines: {type: table, entity: line}
        ---
        name: line
        child: true
        fields:
          product: {type: string}
          qty: {type: integer}
          price: {type: money}
          amount: {type: computed, expr: "qty * price"}
    """,
    "roles.yaml": """
        roles:
          admin:
            users: [root]
          regional:
            permissions:
              - entity: order
                actions: [read]
                where: "customer.region == user.region"
              - {entity: customer, actions: [read]}
          manager:
            users: [mia]
    """,
}

REPORTS = {
    "roles/report_reader.yaml": """
        name: report_reader
        permissions: [{report: month_channel}, {report: lines}, {report: region_pivot}, {report: top_regions}]
    """,
    "reports/month_channel.yaml": """
        name: month_channel
        label: Orders by month and channel
        source: order
        dimensions:
          - {name: month, expr: order_date, bucket: month}
          - channel
        measures:
          - {name: orders, agg: count}
          - {name: customers, agg: count_distinct, expr: customer}
          - {name: with_customer, agg: count, expr: customer}
          - {name: revenue, agg: sum, expr: amount, format: money}
          - {name: avg_amount, agg: avg, expr: amount}
          - {name: smallest, agg: min, expr: amount}
          - {name: latest, agg: max, expr: order_date}
          - {name: returned, agg: count, filter: "status == 'returned'"}
          - {name: returned_amount, agg: sum, expr: amount, filter: "status == 'returned'"}
          - {name: cancelled, agg: count, filter: "status == 'cancelled'"}
          - {name: return_rate, formula: "returned / orders", format: percent}
          - {name: returns_per_cancel, formula: "returned / cancelled"}
        totals: true
        chart: {type: bar, y: revenue, series: channel}
    """,
    "reports/by_customer.yaml": """
        name: by_customer
        source: order
        dimensions: [customer, customer.region]
        measures:
          - {name: orders, agg: count}
          - {name: revenue, agg: sum, expr: amount}
        sort: [-revenue]
    """,
    "reports/top_regions.yaml": """
        name: top_regions
        source: order
        dimensions: [{name: region, expr: customer.region}]
        measures:
          - {name: revenue, agg: sum, expr: amount}
          - {name: orders, agg: count}
        sort: [-revenue]
        limit: 2
        totals: true
        chart: {type: pie, y: revenue}
    """,
    "reports/filtered.yaml": """
        name: filtered
        source: order
        params:
          period: {type: period, default: last_30_days}
          region: {type: string}
          min_amount: {type: decimal, default: 0}
          since: {type: date, default: start_of_year-1y}
        filters:
          - "order_date >= :period_start and order_date < :period_end"
          - "is_null(:region) or customer.region == :region"
          - "amount >= :min_amount"
          - "order_date >= :since"
        dimensions: [status]
        measures:
          - {name: orders, agg: count}
          - {name: revenue, agg: sum, expr: amount}
        totals: true
    """,
    "reports/busy_channels.yaml": """
        name: busy_channels
        source: order
        dimensions: [channel]
        measures:
          - {name: orders, agg: count}
        having: "orders >= 15 or is_null(channel)"
    """,
    "reports/region_pivot.yaml": """
        name: region_pivot
        source: order
        dimensions: [{name: region, expr: customer.region}, channel]
        measures:
          - {name: orders, agg: count}
          - {name: revenue, agg: sum, expr: amount}
          - {name: avg_amount, agg: avg, expr: amount}
        pivot: channel
        totals: true
        sort: [-revenue]
        chart: {type: line, y: revenue}
    """,
    "reports/empty.yaml": """
        name: empty
        source: order
        filters: ["amount < 0"]
        dimensions: [channel]
        measures:
          - {name: orders, agg: count}
          - {name: revenue, agg: sum, expr: amount}
          - {name: avg_amount, agg: avg, expr: amount}
          - {name: rate, formula: "revenue / orders"}
        totals: true
    """,
    "reports/empty_pivot.yaml": """
        name: empty_pivot
        source: order
        filters: ["amount < 0"]
        dimensions: [status, channel]
        measures: [{name: orders, agg: count}]
        pivot: channel
        totals: true
    """,
    "reports/lines.yaml": """
        name: lines
        source: order.lines
        dimensions: [{name: region, expr: parent.customer.region}, product]
        measures:
          - {name: lines, agg: count}
          - {name: orders, agg: count_distinct, expr: parent}
          - {name: qty, agg: sum, expr: qty}
          - {name: amount, agg: sum, expr: amount}
          - {name: paid_amount, agg: sum, expr: amount, filter: "parent.status == 'paid'"}
        totals: true
    """,
}
for unit in UNITS:
    for fname in ("order_date", "placed_at"):
        REPORTS[f"reports/b_{unit}_{fname}.yaml"] = f"""
            name: b_{unit}_{fname}
            source: order
            dimensions: [{{name: bucket, expr: {fname}, bucket: {unit}}}]
            measures: [{{name: orders, agg: count}}, {{name: amount, agg: sum, expr: amount}}]
        """


def make_orders() -> list[dict]:
    rng = random.Random(7)
    out = []
    for _ in range(70):
        d = dt.date(2023, 11, 1) + dt.timedelta(days=rng.randrange(150))
        lines = [{"product": rng.choice("xyz"), "qty": rng.randrange(1, 5),
                  "price": Decimal(rng.randrange(100, 2000)) / 100} for _ in range(rng.randrange(0, 3))]
        out.append({
            "customer": rng.choice(["C1", "C2", "C3", "C4", None]),
            "channel": rng.choice(["web", "web", "store", "phone", None]),
            "status": rng.choice(["paid", "paid", "returned", "cancelled"]),
            "order_date": d,
            "placed_at": dt.datetime.combine(d, dt.time(rng.randrange(24), rng.randrange(60))),
            "amount": Decimal(rng.randrange(100, 50000)) / 100,
            "lines": lines,
        })
    return out


ORDERS = make_orders()
REGION = dict(CUSTOMERS)


def region_of(o: dict) -> str | None:
    return REGION.get(o["customer"]) if o["customer"] else None


def open_report_app(make_app, db_url, extra: dict | None = None, clock: Clock | None = None):
    """The test app with its customers and orders (also used by the other report tests)."""
    a = open_app(make_app({**ENTITIES, **REPORTS, **(extra or {})}), db_url, clock=clock or CLOCK)
    with a.users("root") as users:
        users.save("nora", attrs={"region": "north"})
        users.grant("nora", "regional")
        users.grant("nora", "report_reader")
    for code, region in CUSTOMERS:
        a.create("customer", {"code": code, "region": region}, "root")
    with a.transaction("root") as tx:
        for o in ORDERS:
            tx.create("order", {k: v for k, v in o.items() if v is not None})
    return a


@pytest.fixture
def app(make_app, db_url):
    a = open_report_app(make_app, db_url)
    yield a
    a.close()


def run(app, name, user="root", **params):
    return app.features["reports"].report(name, user=user, params=params)


def money(v) -> Decimal | None:
    return None if v is None else Decimal(str(v)).quantize(Decimal("0.01"))


def close(v, places: int = 6) -> Decimal | None:
    return None if v is None else Decimal(str(v)).quantize(Decimal(1).scaleb(-places))


def ratio(a, b) -> Decimal | None:
    return None if not b else close(Decimal(a) / Decimal(b))


def group_by(rows, key):
    out = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return out


def month_channel_expected(orders):
    """The figures of report month_channel, computed independently."""
    def figures(rows):
        amounts = [o["amount"] for o in rows]
        returned = [o for o in rows if o["status"] == "returned"]
        cancelled = sum(1 for o in rows if o["status"] == "cancelled")
        return {
            "orders": len(rows),
            "customers": len({o["customer"] for o in rows if o["customer"]}),
            "with_customer": sum(1 for o in rows if o["customer"]),
            "revenue": money(sum(amounts, Decimal(0))),
            "avg_amount": close(sum(amounts) / len(amounts)) if amounts else None,
            "smallest": money(min(amounts)) if amounts else None,
            "latest": max(o["order_date"] for o in rows) if rows else None,
            "returned": len(returned),
            "returned_amount": money(sum((o["amount"] for o in returned), Decimal(0))),
            "cancelled": cancelled,
            "return_rate": ratio(len(returned), len(rows)),
            "returns_per_cancel": ratio(len(returned), cancelled),
        }
    groups = group_by(orders, lambda o: (o["order_date"].replace(day=1), o["channel"]))
    return {k: figures(v) for k, v in groups.items()}, figures(orders)


def normalize(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in ("revenue", "returned_amount", "smallest", "amount", "paid_amount"):
            out[k] = money(v)
        elif k in ("avg_amount", "return_rate", "returns_per_cancel", "rate"):
            out[k] = close(v)
        else:
            out[k] = v
    return out


def test_month_channel_every_aggregate_matches(app):
    res = run(app, "month_channel")
    expected, total = month_channel_expected(ORDERS)
    got = {(r["month"], r["channel"]): normalize({k: v for k, v in r.items() if k not in ("month", "channel")})
           for r in res.rows}
    assert got == expected
    totals = normalize({k: v for k, v in res.totals.items() if k not in ("month", "channel")})
    assert totals == total
    # rows come sorted by the dimensions, nulls last
    keys = [(r["month"], r["channel"] is None, r["channel"] or "") for r in res.rows]
    assert keys == sorted(keys)
    assert [c.name for c in res.columns][:3] == ["month", "channel", "orders"]


def test_division_by_zero_gives_null_not_an_error(app):
    res = run(app, "month_channel")
    zero = [r for r in res.rows if r["cancelled"] == 0]
    assert zero, "the data set must have a group without cancellations"
    assert all(r["returns_per_cancel"] is None for r in zero)
    assert all(r["returns_per_cancel"] is not None for r in res.rows if r["cancelled"])


@pytest.mark.parametrize("unit", UNITS)
def test_date_buckets_on_dates_and_datetimes(app, unit):
    def start(d: dt.date) -> dt.date:
        if unit == "day":
            return d
        if unit == "week":
            return d - dt.timedelta(days=d.weekday())
        if unit == "month":
            return d.replace(day=1)
        if unit == "quarter":
            return dt.date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
        return dt.date(d.year, 1, 1)

    for fname in ("order_date", "placed_at"):
        res = run(app, f"b_{unit}_{fname}")
        groups = group_by(ORDERS, lambda o: start(o["order_date"]))
        expected = {k: (len(v), money(sum(o["amount"] for o in v))) for k, v in groups.items()}
        got = {r["bucket"]: (r["orders"], money(r["amount"])) for r in res.rows}
        assert got == expected, (unit, fname)
        assert all(isinstance(k, dt.date) for k in got)


def test_link_dimensions_show_names_and_keep_nulls(app):
    res = run(app, "by_customer")
    groups = group_by(ORDERS, lambda o: (o["customer"], region_of(o)))
    expected = {k: (len(v), money(sum(o["amount"] for o in v))) for k, v in groups.items()}
    got = {(r["customer"], r["customer_region"]): (r["orders"], money(r["revenue"])) for r in res.rows}
    assert got == expected
    assert (None, None) in got and ("C3", None) in got  # no customer / customer without region
    revenues = [r["revenue"] for r in res.rows]
    assert revenues == sorted(revenues, reverse=True)


def test_sort_limit_and_grand_totals(app):
    res = run(app, "top_regions")
    groups = group_by(ORDERS, region_of)
    ranked = sorted(((money(sum(o["amount"] for o in v)), k, len(v)) for k, v in groups.items()), reverse=True)
    assert [(r["region"], money(r["revenue"]), r["orders"]) for r in res.rows] == \
        [(k, rev, n) for rev, k, n in ranked[:2]]
    assert money(res.totals["revenue"]) == money(sum(o["amount"] for o in ORDERS))  # over every row
    assert res.totals["orders"] == len(ORDERS) and res.totals["region"] is None


def test_parameters_periods_and_relative_dates(app):
    def expect(rows):
        groups = group_by(rows, lambda o: o["status"])
        return {k: (len(v), money(sum(o["amount"] for o in v))) for k, v in groups.items()}

    def got(res):
        return {r["status"]: (r["orders"], money(r["revenue"])) for r in res.rows}

    # default period: the last 30 days up to today (2024-03-20) inclusive
    res = run(app, "filtered")
    window = [o for o in ORDERS if TODAY - dt.timedelta(days=29) <= o["order_date"] <= TODAY]
    assert got(res) == expect(window) and window
    assert res.params["period"] == (dt.date(2024, 2, 20), dt.date(2024, 3, 21))
    assert res.params["since"] == dt.date(2023, 1, 1)
    # named periods, a region, a typed decimal threshold and an explicit range
    res = run(app, "filtered", period="last_month", region="north", min_amount="100.50")
    rows = [o for o in ORDERS if o["order_date"].month == 2 and region_of(o) == "north" and o["amount"] >= Decimal("100.50")]
    assert got(res) == expect(rows) and rows
    res = run(app, "filtered", period="2023-12-01..2024-01-15", since="2024-01-01")
    rows = [o for o in ORDERS if dt.date(2024, 1, 1) <= o["order_date"] <= dt.date(2024, 1, 15)]
    assert got(res) == expect(rows)
    res = run(app, "filtered", period="this_quarter")
    assert got(res) == expect([o for o in ORDERS if dt.date(2024, 1, 1) <= o["order_date"] <= dt.date(2024, 3, 31)])
    assert run(app, "filtered", period="all", since="2000-01-01").totals["orders"] == len(ORDERS)
    with pytest.raises(UsageError, match="parameter 'min_amount'"):
        run(app, "filtered", min_amount="lots")
    with pytest.raises(UsageError, match="unknown period"):
        run(app, "filtered", period="fortnight")
    with pytest.raises(UsageError, match="unknown parameter 'regoin'"):
        run(app, "filtered", regoin="north")


def test_having_filters_result_rows(app):
    res = run(app, "busy_channels")
    groups = {k: len(v) for k, v in group_by(ORDERS, lambda o: o["channel"]).items()}
    expected = {k: n for k, n in groups.items() if n >= 15 or k is None}
    assert {r["channel"]: r["orders"] for r in res.rows} == expected
    assert len(expected) < len(groups)


def test_pivot_with_row_and_column_totals(app):
    res = run(app, "region_pivot")
    channels = [c for c in ("phone", "store", "web")] + [None]
    assert [c.pivot_value for c in res.columns if c.measure == "orders" and not c.total] == channels
    cells = group_by(ORDERS, lambda o: (region_of(o), o["channel"]))
    for r in res.rows:
        for ch in channels:
            label = ch or "(none)"
            rows = cells.get((r["region"], ch), [])
            assert r[f"orders:{label}"] == len(rows)
            assert money(r[f"revenue:{label}"]) == money(sum((o["amount"] for o in rows), Decimal(0)))
            expected_avg = close(sum(o["amount"] for o in rows) / len(rows)) if rows else None
            assert close(r[f"avg_amount:{label}"]) == expected_avg
        mine = [o for o in ORDERS if region_of(o) == r["region"]]
        assert r["orders:total"] == len(mine)
        assert close(r["avg_amount:total"]) == close(sum(o["amount"] for o in mine) / len(mine))
    revenues = [r["revenue:total"] for r in res.rows]
    assert revenues == sorted(revenues, reverse=True)
    assert {r["region"] for r in res.rows} == {"north", "south", None}
    for ch in channels:
        mine = [o for o in ORDERS if o["channel"] == ch]
        assert res.totals[f"orders:{ch or '(none)'}"] == len(mine)
    assert res.totals["orders:total"] == len(ORDERS)
    assert close(res.totals["avg_amount:total"]) == close(sum(o["amount"] for o in ORDERS) / len(ORDERS))


def test_empty_results(app):
    res = run(app, "empty")
    assert res.rows == []
    assert res.totals == {"channel": None, "orders": 0, "revenue": 0, "avg_amount": None, "rate": None}
    res = run(app, "empty_pivot")
    assert res.rows == [] and [c.name for c in res.columns] == ["status", "orders:total"]
    assert res.totals == {"status": None, "orders:total": 0}
    exports = app.features["reports"]
    for fmt in ("table", "json", "csv", "xlsx", "svg"):
        assert exports.export(run(app, "empty"), fmt)


def test_child_table_source_groups_by_parent_and_linked_fields(app):
    res = run(app, "lines")
    flat = [(o, line) for o in ORDERS for line in o["lines"]]
    groups = group_by(flat, lambda p: (region_of(p[0]), p[1]["product"]))

    def figures(pairs):
        return {"lines": len(pairs), "orders": len({id(o) for o, _ in pairs}),
                "qty": sum(line["qty"] for _, line in pairs),
                "amount": money(sum((line["qty"] * line["price"] for _, line in pairs), Decimal(0))),
                "paid_amount": money(sum((line["qty"] * line["price"] for o, line in pairs if o["status"] == "paid"),
                                         Decimal(0)))}
    assert {(r["region"], r["product"]): normalize({k: v for k, v in r.items() if k not in ("region", "product")})
            for r in res.rows} == {k: figures(v) for k, v in groups.items()}
    assert normalize({k: v for k, v in res.totals.items() if k not in ("region", "product")}) == figures(flat)


def test_row_permissions_apply_to_report_rows(app):
    mine = [o for o in ORDERS if region_of(o) == "north"]
    res = run(app, "month_channel", user="nora")
    expected, total = month_channel_expected(mine)
    assert {(r["month"], r["channel"]): r["orders"] for r in res.rows} == {k: v["orders"] for k, v in expected.items()}
    assert normalize({k: v for k, v in res.totals.items() if k not in ("month", "channel")}) == total
    lines = run(app, "lines", user="nora")
    assert {r["region"] for r in lines.rows} == {"north"}
    assert lines.totals["lines"] == sum(len(o["lines"]) for o in mine)
    with app.users("root") as users:
        users.revoke("nora", "regional")
    assert run(app, "month_channel", user="nora").rows == []  # may run the report, may read no order
    with app.users("root") as users:
        users.revoke("nora", "report_reader")
    with pytest.raises(PermissionDenied, match="nora may not run report month_channel"):
        run(app, "month_channel", user="nora")


def test_drill_down_reproduces_every_cell(app):
    reports = app.features["reports"]
    res = run(app, "month_channel")
    for row in res.rows:
        d = reports.drill("month_channel", row)
        records = app.query(d.entity, d.where, params=d.params, user="root", limit=None)
        assert len(records) == row["orders"]
        assert money(sum(r["amount"] for r in records)) == money(row["revenue"])
        d = reports.drill("month_channel", row, measure="returned_amount")
        records = app.query(d.entity, d.where, params=d.params, user="root", limit=None)
        assert len(records) == row["returned"]
        assert money(sum((r["amount"] for r in records), Decimal(0))) == money(row["returned_amount"])
    # a month given by its label, a null dimension, report parameters and a user's row filter
    d = reports.drill("filtered", {"status": "paid"}, params={"period": "last_month", "region": None})
    res = run(app, "filtered", period="last_month")
    paid = next(r for r in res.rows if r["status"] == "paid")
    assert app.count(d.entity, d.where, params=d.params, user="root") == paid["orders"]
    d = reports.drill("month_channel", {"month": "2024-02", "channel": None})
    expected = [o for o in ORDERS if o["order_date"].month == 2 and o["order_date"].year == 2024 and not o["channel"]]
    assert app.count(d.entity, d.where, params=d.params, user="root") == len(expected)
    north = [o for o in expected if region_of(o) == "north"]
    assert app.count(d.entity, d.where, params=d.params, user="nora") == len(north)
    with pytest.raises(UsageError, match="not a dimension"):
        reports.drill("month_channel", {"mnth": "2024-02"})


def test_drill_rows_of_a_child_table_cell(app):
    reports = app.features["reports"]
    res = run(app, "lines")
    with app.reader("root") as tx:
        for row in res.rows:
            rows = reports.drill_rows(tx, "lines", row)
            assert len(rows) == row["lines"]
            assert sum(r["qty"] for r in rows) == row["qty"]
            paid = reports.drill_rows(tx, "lines", row, measure="paid_amount")
            assert money(sum((r["amount"] for r in paid), Decimal(0))) == money(row["paid_amount"])
    with pytest.raises(UsageError, match="drill_rows"):
        reports.drill("lines", {"product": "x"})


def test_a_report_is_one_sql_statement(app):
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    reports = app.features["reports"]
    for name in ("month_channel", "region_pivot", "lines", "top_regions"):
        with app.reader("nora") as tx:
            statements.clear()
            sa.event.listen(app.engine, "before_cursor_execute", seen)
            try:
                reports.run(tx, name)
            finally:
                sa.event.remove(app.engine, "before_cursor_execute", seen)
        assert len(statements) == 1, name
        assert "GROUP BY" in statements[0]
    assert "LEFT OUTER JOIN" in statements[0]
