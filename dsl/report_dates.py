"""Relative dates and named periods for report parameters.

A *relative date* is an anchor optionally followed by offsets::

    today, yesterday, tomorrow, start_of_month, end_of_quarter, 2024-03-31,
    today-30d, start_of_month-1m, start_of_year+2q, -7d   (anchor defaults to today)

Units: ``d`` days, ``w`` weeks, ``m`` months, ``q`` quarters, ``y`` years (month
arithmetic keeps the day, clamped to the month's last day).

A *period* is a half-open date range ``[start, end)``::

    today, yesterday, this_week, this_month, this_quarter, this_year,
    last_week, last_month, last_quarter, last_year      (the previous full one)
    last_30_days, last_12_weeks, last_6_months          (ending today, inclusive)
    month_to_date, year_to_date, all,
    2024-01-01..2024-03-31                              (both ends inclusive; ends may be relative)

Weeks start on Monday. Pure functions of ``today``: no clock is read here.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

PERIOD_UNITS = ("week", "month", "quarter", "year")
_ANCHOR = re.compile(r"^(today|yesterday|tomorrow|(?:start|end)_of_(?:week|month|quarter|year)|\d{4}-\d{2}-\d{2})?")
_OFFSET = re.compile(r"\s*([+-])\s*(\d+)\s*([dwmqy])")
_LAST_N = re.compile(r"^last_(\d+)_(days|weeks|months)$")
ALL_START, ALL_END = dt.date(1, 1, 1), dt.date(9999, 12, 31)


def add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def start_of(unit: str, d: dt.date) -> dt.date:
    """First day of the week (Monday), month, quarter or year containing ``d``."""
    if unit == "week":
        return d - dt.timedelta(days=d.weekday())
    if unit == "month":
        return d.replace(day=1)
    if unit == "quarter":
        return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    if unit == "year":
        return dt.date(d.year, 1, 1)
    if unit == "day":
        return d
    raise ValueError(f"unknown unit {unit!r}")


def next_start(unit: str, start: dt.date) -> dt.date:
    """The start of the unit after the one starting at ``start``."""
    if unit == "day":
        return start + dt.timedelta(days=1)
    if unit == "week":
        return start + dt.timedelta(days=7)
    return add_months(start, {"month": 1, "quarter": 3, "year": 12}[unit])


def _shift(d: dt.date, sign: str, n: int, unit: str) -> dt.date:
    n = n if sign == "+" else -n
    if unit == "d":
        return d + dt.timedelta(days=n)
    if unit == "w":
        return d + dt.timedelta(weeks=n)
    return add_months(d, n * {"m": 1, "q": 3, "y": 12}[unit])


def relative_date(text: str, today: dt.date) -> dt.date:
    """Resolve a relative date such as ``today-30d`` or ``start_of_month``; ValueError if invalid."""
    s = text.strip().lower()
    m = _ANCHOR.match(s)
    anchor = m.group(1) if m else None
    rest = s[m.end():] if m else s
    if anchor is None or anchor == "today":
        d = today
    elif anchor == "yesterday":
        d = today - dt.timedelta(days=1)
    elif anchor == "tomorrow":
        d = today + dt.timedelta(days=1)
    elif anchor.startswith(("start_of_", "end_of_")):
        edge, unit = anchor.split("_of_")
        d = start_of(unit, today)
        if edge == "end":
            d = next_start(unit, d) - dt.timedelta(days=1)
    else:
        try:
            d = dt.date.fromisoformat(anchor)
        except ValueError:
            raise ValueError(f"invalid date {anchor!r}") from None
    pos = 0
    while pos < len(rest):
        om = _OFFSET.match(rest, pos)
        if om is None:
            raise ValueError(f"invalid relative date {text!r} (e.g. today, today-30d, start_of_month-1m)")
        d = _shift(d, om.group(1), int(om.group(2)), om.group(3))
        pos = om.end()
    if anchor is None and not rest:
        raise ValueError(f"invalid relative date {text!r} (e.g. today, today-30d, start_of_month-1m)")
    return d


def period_range(text: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """``[start, end)`` of a named period or an ``A..B`` range; ValueError if invalid."""
    s = text.strip().lower()
    if ".." in s:
        a, b = s.split("..", 1)
        start, last = relative_date(a, today), relative_date(b, today)
        if last < start:
            raise ValueError(f"period {text!r} ends before it starts")
        return start, last + dt.timedelta(days=1)
    if s == "all":
        return ALL_START, ALL_END
    if s == "today":
        return today, today + dt.timedelta(days=1)
    if s == "yesterday":
        return today - dt.timedelta(days=1), today
    for unit in PERIOD_UNITS:
        if s == f"this_{unit}":
            start = start_of(unit, today)
            return start, next_start(unit, start)
        if s == f"last_{unit}":
            end = start_of(unit, today)
            return start_of(unit, end - dt.timedelta(days=1)), end
    if s == "month_to_date":
        return start_of("month", today), today + dt.timedelta(days=1)
    if s == "year_to_date":
        return start_of("year", today), today + dt.timedelta(days=1)
    m = _LAST_N.match(s)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n < 1:
            raise ValueError(f"period {text!r} must cover at least one {unit[:-1]}")
        end = today + dt.timedelta(days=1)
        if unit == "days":
            return end - dt.timedelta(days=n), end
        if unit == "weeks":
            return end - dt.timedelta(weeks=n), end
        return add_months(today, -n) + dt.timedelta(days=1), end
    raise ValueError(
        f"unknown period {text!r} (use today, this_month, last_quarter, last_30_days, year_to_date, all, "
        "or FROM..TO)"
    )
