"""Reports: YAML-defined analytics compiled to one SQL statement, with export, charts,
alerts and drill-down.

``install(app)`` compiles every ``report`` definition once and keeps a
:class:`Reports` object in ``app.features["reports"]``::

    reports = app.features["reports"]
    result = reports.report("sales_by_month", user="alice", params={"period": "this_year"}, lang="zh")
    with app.reader("alice") as tx:
        result = reports.run(tx, "sales_by_month", {"period": "last_month"})
    reports.export(result, "xlsx")          # bytes; also "json", "csv", "svg", "table"
    with app.reader("alice") as tx, open("sales.csv", "wb") as f:   # every row, streamed
        reports.stream(tx, "sales_by_month", "csv", f, {"period": "this_year"})
    print(reports.explain("sales_by_month", user="alice"))  # its SQL and the database's plan
    reports.refresh("daily_demand", user="alice")   # write the rows into records (materialize)
    drill = reports.drill("sales_by_month", {"month": "2024-03", "region": "north"}, measure="returned")
    app.query(drill.entity, drill.where, params=drill.params, user="alice")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from ..actor import UserLike
from ..errors import NotFound, PermissionDenied
from . import alerts, materialize, summary
from .compile import CompiledReport
from .drill import Drill, drill, drill_rows
from .explain import explain_report
from .export import EXTENSIONS, FORMATS, export
from .indexes import install_indexes
from .materialize import MaterializeResult
from .percentile import install_sqlite_functions
from .run import Column, ReportResult, run
from .stored_buckets import install_stored_buckets
from .stream import stream_export
from .summary import Summary, install_summaries

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction

__all__ = ["Column", "Drill", "EXTENSIONS", "FORMATS", "MaterializeResult", "ReportResult", "Reports", "install"]


class Reports:
    """The compiled reports of one app."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.compiled: dict[str, CompiledReport] = {d.name: CompiledReport(app, d)
                                                    for d in app.definition.all("report")}
        self.indexes: dict[str, str] = {}  # report -> the index serving it (see indexes.py)
        self.stored_buckets: dict[str, dict[str, str]] = {}  # report -> {dimension: generated column}
        self.summaries: dict[str, Summary] = {}  # report -> its maintained summary (see summary.py)

    def names(self) -> list[str]:
        return sorted(self.compiled)

    def get(self, name: str) -> CompiledReport:
        r = self.compiled.get(name)
        if r is None:
            raise NotFound(f"unknown report '{name}' (known: {', '.join(self.names()) or 'none'})")
        return r

    def allowed(self, tx: Transaction, name: str, action: str = "run") -> CompiledReport:
        """Report ``name`` if ``tx.user`` may ``action`` it (the roles' report permissions), else
        PermissionDenied."""
        r = self.get(name)
        if not self.app.permissions.may_report(tx.user, name, action):
            raise PermissionDenied(f"{tx.user.name} may not {action} report {name}")
        return r

    def run(self, tx: Transaction, name: str, params: Mapping[str, Any] | None = None,
            lang: str = "en") -> ReportResult:
        """Run report ``name`` as ``tx.user`` (their report, row and field permissions apply); labels,
        option values and words such as "Total" in ``lang``."""
        return run(self.allowed(tx, name), tx, params, lang)

    def report(self, name: str, *, user: UserLike, params: Mapping[str, Any] | None = None,
               lang: str = "en") -> ReportResult:
        """Run a report in its own read transaction."""
        with self.app.reader(user) as tx:
            return self.run(tx, name, params, lang)

    def explain(self, name: str, *, user: UserLike, params: Mapping[str, Any] | None = None) -> str:
        """The SQL a run of report ``name`` as ``user`` executes and the database's plan, as text
        (nothing is run; the user's permissions apply as in a run)."""
        with self.app.reader(user) as tx:
            return explain_report(self.allowed(tx, name), tx, params)

    def rebuild(self, name: str, *, user: UserLike) -> int:
        """Recompute the maintained summary of report ``name`` from a full scan (an administrator's
        task); return its number of groups."""
        self.get(name)
        with self.app.transaction(user) as tx:
            return summary.get(self.summaries, name).rebuild(tx)

    def verify(self, name: str, *, user: UserLike) -> list[str]:
        """Differences between the summary of report ``name`` and a full scan (empty: exact)."""
        self.get(name)
        with self.app.reader(user) as tx:
            return summary.get(self.summaries, name).verify(tx)

    def export(self, result: ReportResult, fmt: str) -> str | bytes:
        """``result`` as ``json``, ``csv``, ``table`` (text), ``xlsx`` (bytes) or ``svg`` (chart)."""
        return export(result, fmt)

    def stream(self, tx: Transaction, name: str, fmt: str, out: IO[bytes],
               params: Mapping[str, Any] | None = None, lang: str = "en") -> int:
        """Write every row of report ``name`` (as ``tx.user``) to ``out`` as ``csv`` or ``xlsx``, fetched
        page by page (no row bound; needs the report action 'export'); return the rows written."""
        return stream_export(self.allowed(tx, name), tx, fmt, out, params, lang)

    def drill(self, name: str, cell: Mapping[str, Any], measure: str | None = None,
              params: Mapping[str, Any] | None = None) -> Drill:
        """The record-list filter (``app.query(entity, where, params=...)``) behind one report cell."""
        return drill(self.get(name), cell, measure, params)

    def drill_rows(self, tx: Transaction, name: str, cell: Mapping[str, Any], measure: str | None = None,
                   params: Mapping[str, Any] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """The source rows behind one cell (also for child-table sources), read in SQL."""
        return drill_rows(self.allowed(tx, name), tx, cell, measure, params, limit)

    def materialize(self, tx: Transaction, name: str,
                    params: Mapping[str, Any] | None = None) -> MaterializeResult:
        """Run report ``name`` and upsert its rows into its ``materialize.into`` entity, in ``tx``."""
        self.allowed(tx, name)
        return materialize.materialize(self, tx, name, params)

    def refresh(self, name: str, *, user: UserLike, params: Mapping[str, Any] | None = None) -> MaterializeResult:
        """Materialize a report in its own write transaction (all rows or none)."""
        with self.app.transaction(user) as tx:
            return self.materialize(tx, name, params)

    def check_alert(self, tx: Transaction, name: str) -> list[dict[str, Any]]:
        """Evaluate a report's alert now; notify and return the rows that met its condition."""
        return alerts.check(self, tx, name)


def install(app: App) -> None:
    install_sqlite_functions(app.engine)
    reports = Reports(app)
    app.features["reports"] = reports
    reports.stored_buckets = install_stored_buckets(app, reports.compiled)  # before the indexes that read them
    reports.indexes = install_indexes(app, reports.compiled)
    reports.summaries = install_summaries(app, reports.compiled)
    for name, s in reports.summaries.items():
        reports.compiled[name].summary = s
    app.jobs.register(alerts.JOB_KIND, lambda tx, payload: alerts.handle(reports, tx, payload))
    app.jobs.register(materialize.JOB_KIND, lambda tx, payload: materialize.handle(reports, tx, payload))
    app.on_start.append(lambda a: alerts.ensure_schedules(reports))
    app.on_start.append(lambda a: materialize.ensure_schedules(reports))
