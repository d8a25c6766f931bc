"""What the database does with a statement: its SQL and the planner's plan (``ordo report --explain``).

The statement is executed exactly as a run executes it (same bound parameters, same type
conversion, expanded lists) with the database's own ``EXPLAIN`` in front: ``EXPLAIN QUERY PLAN``
on SQLite, ``EXPLAIN`` on PostgreSQL. Nothing is run for real.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

PREFIX = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN "}


def plan_lines(conn: Connection, stmt: Any, params: Mapping[str, Any] | None = None) -> list[str]:
    """The database's plan of ``stmt`` run with ``params``, one line per plan step (SQLite's steps
    indented under their parent, as its shell prints them)."""
    prefix = PREFIX.get(conn.dialect.name, "EXPLAIN ")

    rows: list[tuple] = []

    def explain(_conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        return prefix + statement, parameters

    def fetch(_conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        rows.extend(tuple(r) for r in cursor.fetchall())  # raw rows: the statement's own result types do not apply

    event.listen(conn, "before_cursor_execute", explain, retval=True)
    event.listen(conn, "after_cursor_execute", fetch)
    try:
        conn.execute(stmt, dict(params or {})).close()
    finally:
        event.remove(conn, "before_cursor_execute", explain)
        event.remove(conn, "after_cursor_execute", fetch)
    if conn.dialect.name != "sqlite":
        return [str(r[0]) for r in rows]
    depth: dict[Any, int] = {0: -1}
    out = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        out.append("  " * depth[node] + str(detail))
    return out


def statement_sql(conn: Connection, stmt: Any) -> str:
    """The SQL text of ``stmt`` in the connection's dialect (parameters as placeholders)."""
    return str(stmt.compile(conn))


def how(report: Any, built: Any, dialect: str) -> list[str]:
    """Comment lines saying what serves the run: its summary, or a scan (its index, stored buckets)."""
    if built.summary is not None:
        return [f"-- answered from the maintained summary {built.summary.table.name}"]
    index = report.app.features["reports"].indexes.get(report.name)
    out = [f"-- scan of the source rows; the report's index: {index or 'none (index: false)'}"]
    from .indexes import source_table

    table = source_table(report).name
    for dim, column in report.stored.items():
        where = "the index holds its expression, the same as the column's" if dialect == "sqlite" else \
            "grouped by the column"
        out.append(f"-- stored bucket: {dim} = generated column {column} of {table} ({where})")
    return out


def explain_report(report: Any, tx: Any, params: Mapping[str, Any] | None = None) -> str:
    """The SQL a run of ``report`` as ``tx.user`` with ``params`` executes, the values it binds and
    the database's plan, as text (``ordo report APP NAME --explain``)."""
    from .run import bind_params, statement

    _, binds = bind_params(report, params, report.app.clock.today())
    built = report.build(tx, binds)
    stmt = statement(report, built)
    lines = [f"-- report {report.name} on {tx.conn.dialect.name}", *how(report, built, tx.conn.dialect.name),
             statement_sql(tx.conn, stmt), ""]
    if binds:
        lines.append("-- parameters")
        lines += [f"--   {k} = {v!r}" for k, v in sorted(binds.items())]
        lines.append("")
    lines.append("-- plan")
    lines += plan_lines(tx.conn, stmt, binds)
    return "\n".join(lines) + "\n"
