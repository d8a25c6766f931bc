"""Portable SQL constructs: one class per operation whose SQL differs between
SQLite and PostgreSQL, compiled per dialect (``@compiles``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from .limits import DATE_SPAN, MAX_TEXT, ROUND_DIGITS
from .sqltypes import ExactDecimal


class _Fn(FunctionElement):
    inherit_cache = True


def _keyed(*attrs: str) -> list:
    """Cache-key entries for a construct's settings: two constructs that differ only in a setting
    (floor vs ceil, concat vs +) must not share SQLAlchemy's compiled-statement cache."""
    return [*FunctionElement._traverse_internals, *((a, InternalTraversal.dp_plain_obj) for a in attrs)]


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
    _traverse_internals = _keyed('whole_days')

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
    """d + n days for dates (integer n) and datetimes (fractional n); null when the result falls
    outside years 1..9999 (as in Python). Each operand is rendered once, so nesting stays linear."""

    name = "ordo_dateadd"
    inherit_cache = True
    _traverse_internals = _keyed('is_datetime')

    def __init__(self, d, n, *, is_datetime: bool) -> None:
        self.is_datetime = is_datetime
        super().__init__(d, n)
        self.type = sa.DateTime() if is_datetime else sa.Date()


def null_outside(x: str, lo: str, hi: str, least: str = "LEAST", greatest: str = "GREATEST") -> str:
    """SQL for ``x`` when lo < x < hi, else NULL, rendering ``x`` once: ``x`` is clamped to
    [lo, hi] and both bounds (values outside the range) are turned into NULL."""
    return f"NULLIF(NULLIF({greatest}({least}({x}, {hi}), {lo}), {lo}), {hi})"


_TS_LOW = "TIMESTAMP '0001-12-31 23:59:59.999999 BC'"  # the last instant before 0001-01-01
_TS_HIGH = "TIMESTAMP '10000-01-01 00:00:00'"


@compiles(DateAdd)
def _dateadd_pg(el, compiler, **kw):
    d, n = (compiler.process(c, **kw) for c in el.clauses)
    if el.is_datetime:  # days since 1970 clamped to a range PostgreSQL can compute, then bounded
        days = f"LEAST(GREATEST(EXTRACT(EPOCH FROM {d}) / 86400 + ({n}), -719165), 2932899)"
        return null_outside(f"(TIMESTAMP '1970-01-01' + ({days}) * INTERVAL '1 day')", _TS_LOW, _TS_HIGH)
    day = null_outside(f"CAST(({d}) - DATE '0001-01-01' AS NUMERIC) + ({n})", "-1", str(DATE_SPAN + 1))
    return f"(DATE '0001-01-01' + CAST({day} AS INTEGER))"


@compiles(DateAdd, "sqlite")
def _dateadd_sqlite(el, compiler, **kw):
    # SQLite gives NULL past 9999-12-31; years before 1 ('0000-...', '-...') sort below '0000-99'
    d, n = (compiler.process(c, **kw) for c in el.clauses)
    value = (f"strftime('%Y-%m-%d %H:%M:%f000', julianday({d}) + ({n}))" if el.is_datetime
             else f"date(julianday({d}) + ({n}))")
    return f"NULLIF(max({value}, '0000-99'), '0000-99')"


class DatePart(_Fn):
    name = "ordo_datepart"
    inherit_cache = True
    _traverse_internals = _keyed('part')
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
    _traverse_internals = _keyed('mode')
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
    # SQLAlchemy replaces SQLite's floor() by a Python function that fails on NULL: floor(x) = -ceil(-x)
    return f"CAST(ceil({x}) AS INTEGER)" if el.mode == "ceil" else f"CAST(-ceil(-({x})) AS INTEGER)"


class RoundTo(_Fn):
    """round(x, digits): NULL when digits is outside ROUND_DIGITS (as in Python)."""

    inherit_cache = True
    name = "ordo_round"
    type = ExactDecimal(38, 10)


def _digits(n: str, least: str, greatest: str) -> str:
    lo, hi = ROUND_DIGITS
    return null_outside(n, str(lo - 1), str(hi + 1), least, greatest)


@compiles(RoundTo)
def _round_pg(el, compiler, **kw):
    x, n = (compiler.process(c, **kw) for c in el.clauses)
    return f"ROUND(CAST({x} AS NUMERIC), CAST({_digits(n, 'LEAST', 'GREATEST')} AS INTEGER))"


@compiles(RoundTo, "sqlite")
def _round_sqlite(el, compiler, **kw):
    x, n = (compiler.process(c, **kw) for c in el.clauses)
    return f"ROUND({x}, {_digits(n, 'min', 'max')})"


class ToInt32(_Fn):
    """An integer clamped to [low, 2**31 - 1] (string positions and lengths: PostgreSQL's substr
    takes int and refuses a negative length; Python slices clamp the same way)."""

    inherit_cache = True
    _traverse_internals = _keyed('low')
    name = "ordo_int32"
    type = sa.Integer()

    def __init__(self, n, low: int) -> None:
        self.low = low
        super().__init__(n)


@compiles(ToInt32)
def _int32_pg(el, compiler, **kw):
    (n,) = (compiler.process(c, **kw) for c in el.clauses)
    # int8larger/int8smaller (the functions behind max/min of bigint) keep NULL, unlike GREATEST/LEAST
    return f"CAST(int8smaller(int8larger(CAST({n} AS BIGINT), {el.low}), 2147483647) AS INTEGER)"


@compiles(ToInt32, "sqlite")
def _int32_sqlite(el, compiler, **kw):
    (n,) = (compiler.process(c, **kw) for c in el.clauses)
    return f"min(max({n}, {el.low}), 2147483647)"


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


class StrCat(_Fn):
    """a || b || ... , NULL when the result would be longer than MAX_TEXT (decided from the parts'
    lengths, so an oversize string is never built). ``null_as_empty``: concat() semantics."""

    inherit_cache = True
    _traverse_internals = _keyed('null_as_empty')
    name = "ordo_cat"
    type = sa.String()

    def __init__(self, *parts, null_as_empty: bool) -> None:
        self.null_as_empty = null_as_empty
        super().__init__(*parts)


@compiles(StrCat)
def _cat(el, compiler, **kw):
    parts = [compiler.process(c, **kw) for c in el.clauses]
    if el.null_as_empty:
        parts = [f"COALESCE({p}, '')" for p in parts]
    total = " + ".join(f"length({p})" for p in parts)
    return f"CASE WHEN {total} > {MAX_TEXT} THEN NULL ELSE {' || '.join(parts)} END"


class StrReplace(_Fn):
    """replace(s, old, new): NULL when the result would be longer than MAX_TEXT, decided from the
    number of occurrences (counted by removing them) before the longer string is built."""

    inherit_cache = True
    name = "ordo_replace"
    type = sa.String()


@compiles(StrReplace)
def _replace(el, compiler, **kw):
    s, old, new = (compiler.process(c, **kw) for c in el.clauses)
    grows = (f"length({s}) + (length({s}) - length(replace({s}, {old}, ''))) / NULLIF(length({old}), 0) "
             f"* (length({new}) - length({old}))")
    return f"CASE WHEN {grows} > {MAX_TEXT} THEN NULL ELSE replace({s}, {old}, {new}) END"


class Extreme(_Fn):
    """min(a, b, ...) / max(a, b, ...) of values: NULL when any is NULL."""

    inherit_cache = True
    _traverse_internals = _keyed('mode')
    name = "ordo_extreme"

    def __init__(self, mode: str, *args, type_=None) -> None:
        self.mode = mode
        super().__init__(*args)
        self.type = type_ if type_ is not None else sa.types.NullType()


@compiles(Extreme)
def _extreme_pg(el, compiler, **kw):
    args = ", ".join(compiler.process(c, **kw) for c in el.clauses)
    fn = "LEAST" if el.mode == "min" else "GREATEST"  # these skip NULLs: refuse any first
    return f"CASE WHEN num_nulls({args}) > 0 THEN NULL ELSE {fn}({args}) END"


@compiles(Extreme, "sqlite")
def _extreme_sqlite(el, compiler, **kw):
    args = ", ".join(compiler.process(c, **kw) for c in el.clauses)
    return f"{el.mode}({args})"  # SQLite's scalar min/max give NULL when an argument is NULL


class SqrtOrNull(_Fn):
    """sqrt(x), NULL when x < 0."""

    inherit_cache = True
    name = "ordo_sqrt"
    type = ExactDecimal(38, 10)


@compiles(SqrtOrNull)
def _sqrt_pg(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    return f"CASE WHEN CAST({x} AS NUMERIC) < 0 THEN NULL ELSE SQRT(CAST({x} AS NUMERIC)) END"


@compiles(SqrtOrNull, "sqlite")
def _sqrt_sqlite(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    return f"sqrt({x})"  # NULL for a negative number

