"""Date buckets in SQL, per dialect: the first day of the day/week/month/quarter/year.

SQLite stores dates and datetimes as ISO text ('YYYY-MM-DD...'), so month,
quarter and year buckets are cheap string slices (no date parsing per row);
weeks start on Monday (ISO). PostgreSQL uses ``date_trunc`` over a timestamp. Both are
immutable, so a bucket can be a generated column (stored_buckets.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from ordo.dsl.report_dates import start_of

UNITS = ("day", "week", "month", "quarter", "year")


class DateBucket(FunctionElement):
    name = "ordo_date_bucket"
    inherit_cache = True
    # part of the statement cache key: without it SQLAlchemy reuses the SQL compiled for another unit
    _traverse_internals = [*FunctionElement._traverse_internals, ("unit", InternalTraversal.dp_plain_obj)]
    type = sa.Date()

    def __init__(self, unit: str, value: Any) -> None:
        if unit not in UNITS:
            raise ValueError(f"unknown date bucket {unit!r}")
        self.unit = unit
        super().__init__(value)


@compiles(DateBucket)
def _bucket_pg(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    # date_trunc of a date would resolve to the timestamptz variant, which depends on the session's
    # time zone (not immutable: no generated column, no index); over a timestamp it is immutable
    # and gives the same day
    return f"CAST(date_trunc('{el.unit}', CAST({x} AS TIMESTAMP)) AS DATE)"


@compiles(DateBucket, "sqlite")
def _bucket_sqlite(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    if el.unit == "day":
        return f"substr({x}, 1, 10)"
    if el.unit == "month":
        return f"(substr({x}, 1, 7) || '-01')"
    if el.unit == "year":
        return f"(substr({x}, 1, 4) || '-01-01')"
    if el.unit == "quarter":
        return (f"(substr({x}, 1, 5) || CASE WHEN substr({x}, 6, 2) <= '03' THEN '01' "
                f"WHEN substr({x}, 6, 2) <= '06' THEN '04' WHEN substr({x}, 6, 2) <= '09' THEN '07' "
                f"ELSE '10' END || '-01')")
    return f"date({x}, '-' || ((CAST(strftime('%w', {x}) AS INTEGER) + 6) % 7) || ' days')"


def bucket_label(unit: str, d: dt.date) -> str:
    """How a bucket is shown: 2024-03-05, 2024-W10, 2024-03, 2024-Q1, 2024."""
    if unit == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    if unit == "month":
        return f"{d.year}-{d.month:02d}"
    if unit == "quarter":
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    if unit == "year":
        return str(d.year)
    return d.isoformat()


def bucket_start(unit: str, value: Any) -> dt.date:
    """The bucket containing ``value`` (a date, datetime, ISO text or a bucket label)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        s = value.strip()
        try:
            if unit == "quarter" and "-Q" in s:
                y, q = s.split("-Q")
                return dt.date(int(y), 3 * (int(q) - 1) + 1, 1)
            if unit == "week" and "-W" in s:
                y, w = s.split("-W")
                return dt.date.fromisocalendar(int(y), int(w), 1)
            if unit == "year" and len(s) == 4:
                return dt.date(int(s), 1, 1)
            if unit == "month" and len(s) == 7:
                return dt.date(int(s[:4]), int(s[5:7]), 1)
            value = dt.date.fromisoformat(s[:10])
        except ValueError:
            raise ValueError(f"{value!r} is not a {unit}") from None
    if not isinstance(value, dt.date):
        raise ValueError(f"{value!r} is not a date")
    return start_of(unit, value)
