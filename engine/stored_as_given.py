"""Whether the database gives back a value exactly as it was bound, so a row just written need not be read.

``kept(table, dialect)`` is, per column of ``table``, a test of a value (built once per table and dialect):
true when reading the column back would return an equal value of the same type, as SQLAlchemy's
processors return it. Only plain cases pass: None; text in a text column; an int (64-bit) in an integer
column; a bool in a boolean column; a date in a date column; a naive datetime in a datetime column; a float
in a float column; a Decimal already at the column's scale (``ExactDecimal``), or for a column keeping
computed values (``trim``) at most at that scale and without trailing zeros (as ``trim_zeros`` gives it);
on SQLite at most 15 significant digits, which its REAL storage keeps exactly. Anything else (JSON, a value of another type, a
column of another kind) is read back.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ordo.dsl.expr.sqltypes import ExactDecimal, trim_zeros

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
Test = Callable[[Any], bool]
# table -> dialect -> the tests of its columns (weak: the tables of an app closed go with it)
_CACHE: weakref.WeakKeyDictionary[sa.Table, dict[str, dict[str, Test]]] = weakref.WeakKeyDictionary()


def _never(value: Any) -> bool:
    return value is None


def _test(column: sa.Column, dialect: str) -> Test:
    t = column.type
    if isinstance(t, ExactDecimal):
        if t._quantum is None:
            return _never
        exponent = t._quantum.as_tuple().exponent
        digits = 15 if dialect == "sqlite" else 38
        trim = t.trim

        def decimal(v: Any) -> bool:
            if v is None:
                return True
            if type(v) is not Decimal or not v.is_finite():
                return False
            parts = v.as_tuple()
            if len(parts.digits) > digits:
                return False
            if not trim:
                return parts.exponent == exponent
            return isinstance(parts.exponent, int) and parts.exponent >= exponent and trim_zeros(v).as_tuple() == parts

        return decimal
    if isinstance(t, sa.Boolean):
        return lambda v: v is None or v is True or v is False
    if isinstance(t, sa.Integer):
        return lambda v: v is None or (type(v) is int and _INT_MIN <= v <= _INT_MAX)
    if isinstance(t, sa.DateTime):
        return lambda v: v is None or (type(v) is dt.datetime and v.tzinfo is None)
    if isinstance(t, sa.Date):
        return lambda v: v is None or type(v) is dt.date
    if isinstance(t, sa.Float) and not t.asdecimal:
        return lambda v: v is None or type(v) is float
    if isinstance(t, sa.String) and not isinstance(t, (sa.Enum, sa.JSON)):
        return lambda v: v is None or type(v) is str
    return _never


def kept(table: sa.Table, dialect: str) -> dict[str, Test]:
    """Column name -> whether a value bound to it comes back as it is (see the module doc)."""
    by_dialect = _CACHE.get(table)
    if by_dialect is None:
        by_dialect = _CACHE[table] = {}
    found = by_dialect.get(dialect)
    if found is None:
        found = by_dialect[dialect] = {c.name: _test(c, dialect) for c in table.c}
    return found


def given_back(table: sa.Table, dialect: str, values: dict[str, Any]) -> bool:
    """Whether every value of ``values`` bound to its column of ``table`` comes back as it is (keys starting
    with ``_`` are not columns: a statement's own parameters)."""
    tests = kept(table, dialect)
    if values.keys() <= tests.keys():  # (the common case: columns only)
        for name, value in values.items():
            if value is not None and not tests[name](value):  # (every column gives None back)
                return False
        return True
    for name, value in values.items():
        if value is None:
            if name not in tests and name[0] != "_":
                return False
            continue
        test = tests.get(name)
        if test is None:
            if name[0] != "_":
                return False
        elif not test(value):
            return False
    return True
