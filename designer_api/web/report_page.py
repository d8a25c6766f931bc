"""The report page: parameters as a form, the table with pivot columns, the chart, drill-down from a cell
to the records behind it, CSV/XLSX download, and the alert's state."""

from __future__ import annotations

from typing import Any

from ordo.dsl.expr import Env
from ordo.engine.reports.run import run


def alert_hits(tx: Any, name: str) -> list[dict[str, Any]]:
    """The rows of report ``name`` meeting its alert's condition now, as the reader sees the report (their
    row rules apply); nobody is notified (the worker's scheduled check does that)."""
    r = tx.app.features["reports"].get(name)
    alert = r.defn.alert
    if alert is None or r.alert_when is None:
        return []
    result = run(r, tx, alert.params)
    candidates = [result.totals] if alert.on == "totals" and result.totals is not None else result.rows
    env = Env(link=lambda entity, key: None, params=dict(result.params), clock=tx.app.clock)
    return [row for row in candidates if r.alert_when(row, env) is True]


def routes() -> list:
    return []
