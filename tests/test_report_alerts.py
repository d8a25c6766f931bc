"""Report alerts: one schedule per alert whatever the number of processes, checked by the
worker, notifying through the outbox when result rows meet the condition."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine import outbox as outbox_mod
from ordo.engine.jobs import job_table

from .test_report import ENTITIES, ORDERS, open_report_app

ALERTS = {
    "reports/returns_watch.yaml": """
        name: returns_watch
        source: order
        params:
          period: {type: period, default: this_week}
        filters: ["order_date >= :period_start and order_date < :period_end"]
        dimensions: [channel]
        measures:
          - {name: orders, agg: count}
          - {name: returned, agg: count, filter: "status == 'returned'"}
          - {name: rate, formula: "returned / orders", format: percent}
        alert:
          when: "rate > 0.25"
          every: 1d
          at: "08:00"
          params: {period: all}
          notify: [{channel: inbox, to: ["role:manager", boss]}]
          subject: Returns above 25%
    """,
    "reports/quiet.yaml": """
        name: quiet
        source: order
        measures: [{name: orders, agg: count}]
        totals: true
        alert:
          when: "orders > 100000"
          on: totals
          every: 6h
          notify: [{to: [boss]}]
    """,
}


def pending(app):
    with app.engine.connect() as conn:
        t = job_table
        return {r.unique_key: r.run_at for r in conn.execute(
            sa.select(t.c.unique_key, t.c.run_at).where(t.c.status == "pending"))}


def inbox(app, recipient):
    with app.engine.connect() as conn:
        return outbox_mod.messages(conn, recipient=recipient, channel="inbox")


def expected_channels():
    by = {}
    for o in ORDERS:
        n, r = by.get(o["channel"], (0, 0))
        by[o["channel"]] = (n + 1, r + (o["status"] == "returned"))
    return {ch for ch, (n, r) in by.items() if r / n > 0.25}


def test_alert_schedule_notifications_and_next_run(make_app, db_url):
    clock = Clock(fixed=dt.datetime(2024, 3, 20, 10, 0))
    app = open_report_app(make_app, db_url, ALERTS, clock)
    try:
        jobs = pending(app)
        assert jobs == {"report-alert:returns_watch": dt.datetime(2024, 3, 21, 8, 0),
                        "report-alert:quiet": dt.datetime(2024, 3, 20, 12, 0)}
        again = open_app(app.definition, db_url, clock=clock)  # a second process starting: no new job
        again.close()
        assert pending(app) == jobs
        assert app.run_worker_once() == (0, 0)  # nothing due yet
        clock.fixed = dt.datetime(2024, 3, 21, 8, 0)
        ran, _ = app.run_worker_once()
        assert ran == 2
        assert pending(app) == {"report-alert:returns_watch": dt.datetime(2024, 3, 22, 8, 0),
                                "report-alert:quiet": dt.datetime(2024, 3, 21, 12, 0)}
        want = expected_channels()
        assert want, "the data set must trigger the alert"
        for who in ("mia", "boss"):
            (msg,) = inbox(app, who)
            assert msg.subject == "Returns above 25%"
            assert {r["channel"] for r in msg.payload["rows"]} == want
            assert "rate > 0.25" in msg.body
        # the quiet alert ran too (rescheduled) but its condition did not hold: only the one message
        assert len(inbox(app, "boss")) == 1
    finally:
        app.close()


def test_alert_checked_directly_uses_run_as_permissions(make_app, db_url):
    extra = {"reports/north_watch.yaml": ALERTS["reports/returns_watch.yaml"]
             .replace("returns_watch", "north_watch").replace("subject:", "run_as: nora\n          subject:")}
    app = open_report_app(make_app, db_url, extra)
    try:
        with app.transaction("root") as tx:
            hits = app.features["reports"].check_alert(tx, "north_watch")
        north = [o for o in ORDERS if o["customer"] in ("C1", "C4")]
        by = {}
        for o in north:
            n, r = by.get(o["channel"], (0, 0))
            by[o["channel"]] = (n + 1, r + (o["status"] == "returned"))
        assert {h["channel"] for h in hits} == {ch for ch, (n, r) in by.items() if r / n > 0.25}
        assert sum(h["orders"] for h in hits) <= len(north)
    finally:
        app.close()


def test_concurrent_starts_create_one_schedule(make_app, pg_url):
    path = make_app({**ENTITIES, **ALERTS})
    open_app(path, pg_url).close()  # create the schema first
    with sa.create_engine(pg_url).begin() as conn:
        conn.execute(sa.delete(job_table))
    errors = []

    def start():
        try:
            open_app(path, pg_url).close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        keys = [r[0] for r in conn.execute(sa.select(job_table.c.unique_key).where(job_table.c.status == "pending"))]
    engine.dispose()
    assert sorted(keys) == ["report-alert:quiet", "report-alert:returns_watch"]
