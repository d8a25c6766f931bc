"""Cohort retention (``cohort:``): actors grouped by the period of their first event, counted again
in each period since.

One statement over the report's rows (its filters and the reader's row rules applied, so a cohort is
formed from what the reader may read)::

    WITH ev AS (SELECT actor, bucket(date) AS p FROM src ... WHERE filters AND row_filter),
         first AS (SELECT actor, min(p) AS cohort FROM ev GROUP BY actor)
    SELECT cohort, periods_between(cohort, p) AS since, count(DISTINCT actor)
    FROM ev JOIN first USING (actor) WHERE since <= :periods GROUP BY cohort, since

Every actor is active in its first period, so the count at 0 periods since is the cohort's size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.base import label_text

from ..i18n import word
from .buckets import DateBucket

if TYPE_CHECKING:
    from ..records import Transaction
    from .compile import Built, CompiledReport
    from .run import Column

SIZE = "size"
SHARE = Decimal("0.0001")  # a share's exported digits (12.34%)


def _parts(x: Any, dialect: str) -> tuple[Any, Any]:
    """(year, month) of a bucket start as integers."""
    if dialect == "sqlite":
        return (sa.cast(sa.func.substr(x, 1, 4), sa.Integer), sa.cast(sa.func.substr(x, 6, 2), sa.Integer))
    return (sa.cast(sa.extract("year", x), sa.Integer), sa.cast(sa.extract("month", x), sa.Integer))


def periods_between(unit: str, start: Any, end: Any, dialect: str) -> Any:
    """Whole periods from bucket ``start`` to bucket ``end`` (both first days of their period)."""
    if unit in ("day", "week"):
        days = (sa.func.julianday(end) - sa.func.julianday(start)) if dialect == "sqlite" else (end - start)
        days = sa.cast(days, sa.Integer)
        return days if unit == "day" else days / 7
    (y0, m0), (y1, m1) = _parts(start, dialect), _parts(end, dialect)
    if unit == "year":
        return y1 - y0
    months = (y1 - y0) * 12 + (m1 - m0)
    return months if unit == "month" else months / 3


def statement(report: CompiledReport, built: Built) -> sa.Select:
    cohort = report.defn.cohort
    assert cohort is not None and report.cohort is not None
    actor_expr, date_expr = report.cohort
    actor = actor_expr.to_sql(built.source, built.roots, report.app.clock)
    date = date_expr.to_sql(built.source, built.roots, report.app.clock)
    ev = sa.select(actor.label("a"), DateBucket(cohort.period, date).label("p")) \
        .select_from(built.plan.from_).where(*built.where, actor.is_not(None), date.is_not(None)).cte("ev")
    first = sa.select(ev.c.a, sa.func.min(ev.c.p).label("c")).group_by(ev.c.a).cte("first")
    since = periods_between(cohort.period, first.c.c, ev.c.p, built.dialect)
    rows = sa.select(first.c.c.label("cohort"), since.label("since"), ev.c.a) \
        .select_from(ev.join(first, ev.c.a == first.c.a)).subquery("r")
    return sa.select(rows.c.cohort, rows.c.since, sa.func.count(sa.distinct(rows.c.a)).label("n")) \
        .where(rows.c.since <= cohort.periods).group_by(rows.c.cohort, rows.c.since) \
        .order_by(rows.c.cohort, rows.c.since)


def columns(report: CompiledReport, lang: str) -> list[Column]:
    from .run import Column

    cohort = report.defn.cohort
    assert cohort is not None
    label = label_text(cohort.label, lang) or word("cohort", lang)
    cols = [Column("cohort", label, "dimension", "date", bucket=cohort.period),
            Column(SIZE, word("cohort_size", lang), "measure", "integer", format="integer", measure=SIZE, scale=0)]
    for i in range(cohort.periods + 1):
        name = f"p{i}"
        if cohort.share:
            cols.append(Column(name, str(i), "measure", "decimal", format="percent", decimals=1, measure=name,
                              scale=4))
        else:
            cols.append(Column(name, str(i), "measure", "integer", format="integer", measure=name, scale=0))
    return cols


def iter_rows(report: CompiledReport, tx: Transaction, built: Built, binds: dict,
              page: int | None = None) -> Iterator[dict[str, Any]]:
    """The cohort rows in order, each as soon as its last count is read (the statement is ordered
    by cohort); ``page``: fetch that many counts at a time (a streamed export)."""
    from .buckets import bucket_start

    cohort = report.defn.cohort
    assert cohort is not None
    current = bucket_start(cohort.period, report.app.clock.today())
    stmt = statement(report, built)
    if page is not None:
        stmt = stmt.execution_options(stream_results=True, yield_per=page)
    row: dict[str, Any] | None = None
    for c, since, n in tx.conn.execute(stmt, binds):
        start = bucket_start(cohort.period, c)
        if row is None or row["cohort"] != start:
            if row is not None:
                yield _finished(cohort, row, current)
            row = {"cohort": start, SIZE: 0}
        row[f"p{int(since)}"] = int(n)
        if int(since) == 0:
            row[SIZE] = int(n)
    if row is not None:
        yield _finished(cohort, row, current)


def _finished(cohort: Any, row: dict[str, Any], current: dt.date) -> dict[str, Any]:
    size = row[SIZE]
    elapsed = since_in_python(cohort.period, row["cohort"], current)
    for i in range(cohort.periods + 1):
        n: Any = row.get(f"p{i}", 0)
        if i > elapsed:  # a period still to come: empty, not 0
            n = None
        elif cohort.share:
            n = (Decimal(n) / Decimal(size)).quantize(SHARE) if size else None
        row[f"p{i}"] = n
    return row


def since_in_python(unit: str, start: dt.date, end: dt.date) -> int:
    """``periods_between`` for two bucket starts in Python."""
    if unit in ("day", "week"):
        days = (end - start).days
        return days if unit == "day" else days // 7
    if unit == "year":
        return end.year - start.year
    months = (end.year - start.year) * 12 + end.month - start.month
    return months if unit == "month" else months // 3
