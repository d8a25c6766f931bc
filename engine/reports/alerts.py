"""Report alerts: a condition on a report's result, checked on a schedule by the worker.

Each report with an ``alert`` has one pending job (unique key
``report-alert:NAME``). The job runs the report, evaluates ``when`` on every
result row (or on the totals row), notifies the recipients through the outbox
when some rows meet it, and enqueues its next run; all in the job's
transaction. Runs fall on fixed slots (every 1h: on the hour; every 1d at
08:00: each day at 08:00 UTC; weeks start on Monday), so starting several
processes never shifts or duplicates a schedule.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from ordo.dsl.expr import Env
from ordo.dsl.report import AlertDef

from ..actor import SYSTEM
from ..coerce import to_jsonable
from ..jobs import ensure_scheduled
from ..records import Transaction
from ..textfmt import table
from .run import ReportResult, run

if TYPE_CHECKING:
    from . import Reports

log = logging.getLogger("ordo.reports")
JOB_KIND = "report-alert"
KEY_PREFIX = "report-alert:"
_EPOCH = dt.datetime(2024, 1, 1)  # a Monday: weekly slots start on Mondays


def next_run(alert: AlertDef, after: dt.datetime) -> dt.datetime:
    """The first slot of ``alert``'s schedule strictly after ``after``."""
    step = alert.interval()
    offset = dt.timedelta()
    if alert.at is not None and step >= dt.timedelta(days=1):
        h, m = alert.at.split(":")
        offset = dt.timedelta(hours=int(h), minutes=int(m))
    start = _EPOCH + offset
    after = after.replace(tzinfo=None)
    n = (after - start) // step + 1
    return start + n * step


def ensure_schedules(reports: Reports) -> None:
    """Create the missing alert jobs and cancel those of alerts that were removed (idempotent)."""
    with reports.app.transaction(SYSTEM) as tx:
        ensure_scheduled(tx, KEY_PREFIX, {
            f"{KEY_PREFIX}{name}": (JOB_KIND, {"report": name}, next_run(r.defn.alert, tx.now))
            for name, r in reports.compiled.items() if r.defn.alert is not None})


def handle(reports: Reports, tx: Transaction, payload: dict[str, Any]) -> None:
    """The job: check the alert, then schedule its next run."""
    name = payload.get("report", "")
    r = reports.compiled.get(name)
    if r is None or r.defn.alert is None:
        log.info("report alert %s no longer exists; not rescheduled", name)
        return
    check(reports, tx, name)
    tx.enqueue(JOB_KIND, {"report": name}, next_run(r.defn.alert, tx.now), unique_key=f"{KEY_PREFIX}{name}")


def check(reports: Reports, tx: Transaction, name: str) -> list[dict[str, Any]]:
    """Run the report with the alert's parameters; notify if rows meet the condition; return them."""
    r = reports.get(name)
    alert = r.defn.alert
    if alert is None or r.alert_when is None:
        raise ValueError(f"report {name} has no alert")
    runner = tx
    if alert.run_as:
        runner = Transaction(tx.app, tx.conn, tx.users.actor(alert.run_as))
    result = run(r, runner, alert.params)
    candidates = [result.totals] if alert.on == "totals" and result.totals is not None else result.rows
    env = Env(link=lambda entity, key: None, params=dict(result.params), clock=tx.app.clock)
    hits = [row for row in candidates if r.alert_when(row, env) is True]
    if hits:
        _notify(tx, alert, result, hits)
    return hits


def _recipients(tx: Transaction, channel: str, to: list[str]) -> list[str]:
    names: list[str] = []
    for item in to:
        if item.startswith("role:"):
            names += tx.users.members(item[5:])
        elif item.startswith("group:"):
            names += tx.users.members(item[6:], "group")
        else:
            names.append(item)
    out: list[str] = []
    for n in names:
        if channel == "email" and "@" not in n:
            info = tx.users.get(n)
            if info is None or not info.email:
                log.warning("report alert: user %s has no email address", n)
                continue
            n = info.email
        if n not in out:
            out.append(n)
    return out


def _notify(tx: Transaction, alert: AlertDef, result: ReportResult, hits: list[dict[str, Any]]) -> None:
    subject = alert.subject or f"Alert: {result.label}"
    shown = ReportResult(result.report, result.label, result.columns, hits, None, result.params, result.pivot)
    body = (f"{len(hits)} row(s) of report '{result.label}' meet the condition {alert.when}:\n\n"
            f"{table(shown.display_rows(with_totals=False), [c.label for c in result.columns])}\n")
    payload = {"report": result.report, "condition": alert.when, "rows": to_jsonable(hits)}
    for n in alert.notify:
        for recipient in _recipients(tx, n.channel, n.to):
            tx.notify(n.channel, recipient, subject, body, payload)
