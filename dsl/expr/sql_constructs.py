"""Portable SQL constructs: one class per operation whose SQL differs between
SQLite and PostgreSQL, compiled per dialect (``@compiles``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .sqltypes import ExactDecimal


class _Fn(FunctionElement):
    inherit_cache = True


class SafeDiv(_Fn):
    inherit_cache = True
    name = "ordo_div"
    type = ExactDecimal(38, 10)


@compiles(SafeDiv)
def _div_default(el, compiler, **kw):
    a, b = list(el.clauses)
    return f"(CAST({compiler.process(a, **kw)} AS NUMERIC) / NULLIF({compiler.process(b, **kw)}, 0))"


@compiles(SafeDiv, "sqlite")
def _div_sqlite(el, compiler, **kw):
    a, b = list(el.clauses)
    return f"(CAST({compiler.process(a, **kw)} AS REAL) / NULLIF({compiler.process(b, **kw)}, 0))"


class SafeMod(_Fn):
    inherit_cache = True
    name = "ordo_mod"
    type = sa.BigInteger()


@compiles(SafeMod)
def _mod_default(el, compiler, **kw):
    a, b = list(el.clauses)
    return f"MOD({compiler.process(a, **kw)}, NULLIF({compiler.process(b, **kw)}, 0))"


@compiles(SafeMod, "sqlite")
def _mod_sqlite(el, compiler, **kw):
    a, b = list(el.clauses)
    return f"({compiler.process(a, **kw)} % NULLIF({compiler.process(b, **kw)}, 0))"


class DateDiff(_Fn):
    """a - b for dates (whole days) or datetimes (fractional days)."""

    name = "ordo_datediff"
    inherit_cache = True

    def __init__(self, a, b, *, whole_days: bool) -> None:
        self.whole_days = whole_days
        super().__init__(a, b)
        self.type = sa.BigInteger() if whole_days else ExactDecimal(38, 10)


@compiles(DateDiff)
def _datediff_pg(el, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in el.clauses)
    if el.whole_days:
        return f"({a} - {b})"
    return f"(EXTRACT(EPOCH FROM ({a} - {b})) / 86400)"


@compiles(DateDiff, "sqlite")
def _datediff_sqlite(el, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in el.clauses)
    if el.whole_days:
        return f"CAST(julianday({a}) - julianday({b}) AS INTEGER)"
    return f"(julianday({a}) - julianday({b}))"


class DateAdd(_Fn):
    """d + n days for dates (integer n) and datetimes (fractional n)."""

    name = "ordo_dateadd"
    inherit_cache = True

    def __init__(self, d, n, *, is_datetime: bool) -> None:
        self.is_datetime = is_datetime
        super().__init__(d, n)
        self.type = sa.DateTime() if is_datetime else sa.Date()


@compiles(DateAdd)
def _dateadd_pg(el, compiler, **kw):
    d, n = (compiler.process(c, **kw) for c in el.clauses)
    if el.is_datetime:
        return f"({d} + ({n}) * INTERVAL '1 day')"
    return f"({d} + CAST({n} AS INTEGER))"


@compiles(DateAdd, "sqlite")
def _dateadd_sqlite(el, compiler, **kw):
    d, n = (compiler.process(c, **kw) for c in el.clauses)
    if el.is_datetime:
        return f"strftime('%Y-%m-%d %H:%M:%f000', {d}, printf('%+.6f days', {n}))"
    return f"date({d}, printf('%+d days', {n}))"


class DatePart(_Fn):
    name = "ordo_datepart"
    inherit_cache = True
    type = sa.Integer()

    def __init__(self, part: str, d) -> None:
        self.part = part
        super().__init__(d)


@compiles(DatePart)
def _datepart_pg(el, compiler, **kw):
    (d,) = (compiler.process(c, **kw) for c in el.clauses)
    return f"CAST(EXTRACT({el.part.upper()} FROM {d}) AS INTEGER)"


@compiles(DatePart, "sqlite")
def _datepart_sqlite(el, compiler, **kw):
    (d,) = (compiler.process(c, **kw) for c in el.clauses)
    fmt = {"year": "%Y", "month": "%m", "day": "%d"}[el.part]
    return f"CAST(strftime('{fmt}', {d}) AS INTEGER)"


class ToDate(_Fn):
    inherit_cache = True
    name = "ordo_todate"
    type = sa.Date()


@compiles(ToDate)
def _todate_pg(el, compiler, **kw):
    return f"CAST({compiler.process(list(el.clauses)[0], **kw)} AS DATE)"


@compiles(ToDate, "sqlite")
def _todate_sqlite(el, compiler, **kw):
    return f"date({compiler.process(list(el.clauses)[0], **kw)})"


class StrContains(_Fn):
    inherit_cache = True
    name = "ordo_contains"
    type = sa.Boolean()


@compiles(StrContains)
def _contains_pg(el, compiler, **kw):
    s, p = (compiler.process(c, **kw) for c in el.clauses)
    return f"(strpos({s}, {p}) > 0)"


@compiles(StrContains, "sqlite")
def _contains_sqlite(el, compiler, **kw):
    s, p = (compiler.process(c, **kw) for c in el.clauses)
    return f"(instr({s}, {p}) > 0)"


class Rounding(_Fn):
    """floor/ceil returning an integer."""

    name = "ordo_rounding"
    inherit_cache = True
    type = sa.BigInteger()

    def __init__(self, mode: str, x) -> None:
        self.mode = mode
        super().__init__(x)


@compiles(Rounding)
def _rounding_pg(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    return f"CAST({el.mode.upper()}({x}) AS BIGINT)"


@compiles(Rounding, "sqlite")
def _rounding_sqlite(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    op, sign = (">", "+") if el.mode == "ceil" else ("<", "-")
    return f"(CAST({x} AS INTEGER) {sign} ({x} {op} CAST({x} AS INTEGER)))"


class RoundTo(_Fn):
    inherit_cache = True
    name = "ordo_round"
    type = ExactDecimal(38, 10)


@compiles(RoundTo)
def _round_pg(el, compiler, **kw):
    x, n = (compiler.process(c, **kw) for c in el.clauses)
    return f"ROUND(CAST({x} AS NUMERIC), {n})"


@compiles(RoundTo, "sqlite")
def _round_sqlite(el, compiler, **kw):
    x, n = (compiler.process(c, **kw) for c in el.clauses)
    return f"ROUND({x}, {n})"


class Distance(_Fn):
    """Haversine distance in km between (lat1, lon1) and (lat2, lon2) in degrees, 3 decimals."""

    name = "ordo_distance"
    inherit_cache = True
    type = ExactDecimal(38, 10)


def _haversine(a: str, b: str, c: str, d: str, cast: str) -> str:
    p1, p2 = f"RADIANS(CAST({a} AS {cast}))", f"RADIANS(CAST({c} AS {cast}))"
    dl = f"RADIANS(CAST({d} AS {cast}) - CAST({b} AS {cast}))"
    h = f"(POWER(SIN(({p2} - {p1}) / 2), 2) + COS({p1}) * COS({p2}) * POWER(SIN({dl} / 2), 2))"
    return f"(2 * 6371.0088 * ASIN(CASE WHEN SQRT({h}) > 1 THEN 1 ELSE SQRT({h}) END))"


@compiles(Distance)
def _distance_pg(el, compiler, **kw):
    a, b, c, d = (compiler.process(x, **kw) for x in el.clauses)
    return f"ROUND(CAST({_haversine(a, b, c, d, 'DOUBLE PRECISION')} AS NUMERIC), 3)"


@compiles(Distance, "sqlite")
def _distance_sqlite(el, compiler, **kw):
    a, b, c, d = (compiler.process(x, **kw) for x in el.clauses)
    return f"ROUND({_haversine(a, b, c, d, 'REAL')}, 3)"
