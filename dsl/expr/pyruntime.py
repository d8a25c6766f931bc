"""Helpers that compiled Python expressions call, and the evaluation environment.

Generated code may reference only the names exported in :data:`HELPERS`, the
constants table ``_K`` and its own parameters; this is the whole sandbox.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from .limits import MAX_TEXT, ROUND_DIGITS

Record = dict[str, Any]


_EPOCH = dt.datetime(1970, 1, 1)


def _utcnow() -> dt.datetime:
    """Now, naive UTC: the epoch plus the system clock's seconds (what ``datetime.now(UTC).replace(tzinfo=None)``
    gives, to the microsecond, without ``replace``'s keyword parsing: a write asks for it several times)."""
    return _EPOCH + dt.timedelta(0, time.time())


@dataclass
class Clock:
    """Source of 'now'. Tests and simulations inject a fixed or advancing clock."""

    fixed: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.fixed if self.fixed is not None else _utcnow()

    def today(self) -> dt.date:
        return self.now().date()


@dataclass
class Env:
    """Evaluation environment of a compiled expression.

    ``link(entity, id)`` loads a linked record (or None); ``params`` are the
    values of ``:name`` parameters; ``clock`` answers today()/now().
    """

    link: Callable[[str, Any], Record | None] = lambda entity, id: None
    params: dict[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)
    related: Callable[[Any, Record], Any] | None = None  # (aggregate node, owner record) -> value, in SQL
    changes: frozenset[str] | None = None  # fields the write being checked changes (for changed())

    @property
    def today(self) -> dt.date:
        return self.clock.today()

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()


def weakly(method: Any) -> Callable[..., Any]:
    """A bound ``method`` called through a weak reference to its object: an :class:`Env` held by that object
    (a Transaction's ``link``/``related``) makes no reference cycle, so the object goes with its last reference."""
    ref, fn = weakref.ref(method.__self__), method.__func__

    def call(*args: Any) -> Any:
        return fn(ref(), *args)

    return call


def _lf(env: Env, entity: str, id: Any, name: str) -> Any:
    """Field ``name`` of the ``entity`` record with ``id`` (null-safe)."""
    if id is None:
        return None
    rec = id if isinstance(id, dict) else env.link(entity, id)
    return None if rec is None else rec.get(name)


def _lr(env: Env, entity: str, id: Any) -> Any:
    if id is None or isinstance(id, dict):
        return id
    return env.link(entity, id)


_EMPTY_AGGREGATE = {"sum": 0, "count": 0, "any": False, "all": True}


def _rel(env: Env, node: Any, owner: Any) -> Any:
    """An aggregate over related records: computed by the database the env is bound to."""
    if owner is None:
        return _EMPTY_AGGREGATE.get(node.name)
    if env.related is None:
        raise RuntimeError("aggregates over related records need a database (evaluate inside a transaction)")
    return env.related(node, owner)


def _dec(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(x)


def _div(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    return _dec(a) / _dec(b)


def _mod(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def _date_sub(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(b, (int, Decimal, float)):
        return _date_add(a, -b)
    delta = a - b
    if isinstance(a, dt.datetime):
        return Decimal(delta.days) + Decimal(delta.seconds) / 86400 + Decimal(delta.microseconds) / 86400000000
    return delta.days


def _date_add(a: Any, n: Any) -> Any:
    """``a`` shifted by ``n`` days; null when the result is outside years 1..9999."""
    if a is None or n is None:
        return None
    try:
        return a + dt.timedelta(days=float(n) if isinstance(a, dt.datetime) else int(n))
    except (OverflowError, ValueError):
        return None


def _in(x: Any, items: Any) -> Any:
    if items is None:
        return None
    if len(items) == 0:
        return False
    if x is None:
        return None
    if x in items:
        return True
    return None if None in items else False


def _changed(env: Env, name: str) -> Any:
    """changed('field'): null outside the check of a write."""
    return None if env.changes is None else name in env.changes


def _not(x: Any) -> Any:
    return None if x is None else not x


def _minmax(pick: Callable, *args: Any) -> Any:
    if any(a is None for a in args):
        return None
    return pick(args)


def _round(x: Any, n: Any = 0) -> Any:
    """Half away from zero to ``n`` decimals; null when ``n`` is outside ROUND_DIGITS."""
    if x is None or n is None or not ROUND_DIGITS[0] <= n <= ROUND_DIGITS[1]:
        return None
    try:
        return _dec(x).quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP, context=_WIDE)
    except InvalidOperation:  # beyond any stored number
        return None


_WIDE = Context(prec=100)


def _sqrt(x: Any) -> Any:
    if x is None or x < 0:
        return None
    return _dec(x).sqrt()


def _floor(x: Any) -> Any:
    return None if x is None else int(_dec(x).to_integral_value(rounding=ROUND_FLOOR))


def _ceil(x: Any) -> Any:
    return None if x is None else int(_dec(x).to_integral_value(rounding=ROUND_CEILING))


def _nn(fn: Callable, *args: Any) -> Any:
    """Apply ``fn`` unless an argument is null."""
    for a in args:
        if a is None:
            return None
    return fn(*args)


def _substr(s: str, start: int, length: int | None = None) -> str:
    begin = max(start - 1, 0)
    return s[begin:] if length is None else s[begin : begin + max(length, 0)]


def _replace(s: str, old: str, new: str) -> str | None:
    """Every ``old`` replaced by ``new``; null (and never built) when longer than MAX_TEXT."""
    if old == "":
        return s
    if len(new) > len(old) and len(s) + s.count(old) * (len(new) - len(old)) > MAX_TEXT:
        return None
    return s.replace(old, new)


EARTH_RADIUS_KM = 6371.0088


def _distance(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle (haversine) distance in km, rounded to 3 decimals like the SQL version."""
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lon2) - float(lon1))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    km = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
    return Decimal(str(round(km, 3)))


def _concat(*args: Any) -> str | None:
    """concat(): null counts as ''; null when the result would be longer than MAX_TEXT."""
    parts = ["" if a is None else a for a in args]
    return None if sum(map(len, parts)) > MAX_TEXT else "".join(parts)


def _cat(*args: Any) -> str | None:
    """a + b + ... on strings: null when a part is null or the result would exceed MAX_TEXT."""
    if any(a is None for a in args) or sum(map(len, args)) > MAX_TEXT:
        return None
    return "".join(args)


def _date_part(part: str, d: Any) -> Any:
    return None if d is None else getattr(d, part)


def _to_date(d: Any) -> Any:
    if d is None:
        return None
    return d.date() if isinstance(d, dt.datetime) else d


# -- aggregates over child rows: ``fn(row, env)`` evaluates the child expression
def _rows(rows: Any) -> Any:
    return rows or ()


def _agg_sum(fn: Callable, rows: Any, env: Env) -> Any:
    total: Any = 0
    for row in _rows(rows):
        v = fn(row, env)
        if v is not None:
            total += v
    return total


def _agg_count(fn: Callable | None, rows: Any, env: Env) -> int:
    if fn is None:
        return len(_rows(rows))
    return sum(1 for row in _rows(rows) if fn(row, env) is True)


def _agg_values(fn: Callable, rows: Any, env: Env) -> list:
    return [v for v in (fn(row, env) for row in _rows(rows)) if v is not None]


def _agg_min(fn: Callable, rows: Any, env: Env) -> Any:
    vals = _agg_values(fn, rows, env)
    return min(vals) if vals else None


def _agg_max(fn: Callable, rows: Any, env: Env) -> Any:
    vals = _agg_values(fn, rows, env)
    return max(vals) if vals else None


def _agg_avg(fn: Callable, rows: Any, env: Env) -> Any:
    vals = _agg_values(fn, rows, env)
    return sum(_dec(v) for v in vals) / len(vals) if vals else None


def _agg_any(fn: Callable, rows: Any, env: Env) -> bool:
    return any(fn(row, env) is True for row in _rows(rows))


def _agg_all(fn: Callable, rows: Any, env: Env) -> bool:
    return all(fn(row, env) is True for row in _rows(rows))


HELPERS: dict[str, Any] = {
    name: obj
    for name, obj in dict(globals()).items()
    if name.startswith("_") and callable(obj) and not name.startswith("__") and name != "_utcnow"
}
HELPERS["_min"] = min
HELPERS["_max"] = max
HELPERS["_len"] = len
HELPERS["_abs"] = abs
