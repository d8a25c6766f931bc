"""Median and percentiles (``agg: median``, ``agg: percentile, p: 0.9``) on every dialect.

PostgreSQL has them: ``percentile_cont(p) WITHIN GROUP (ORDER BY x)``. SQLite has none, so each
SQLite connection of an app with reports gets the aggregate ``ordo_percentile(x, p)`` (the same
continuous definition: linear interpolation between the two nearest values; nulls ignored; no value:
null), registered when the connection opens.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal


class Percentile(FunctionElement):
    name = "ordo_percentile"
    inherit_cache = True
    # part of the statement cache key: without it SQLAlchemy reuses the SQL compiled for another percentile
    _traverse_internals = [*FunctionElement._traverse_internals, ("p", InternalTraversal.dp_plain_obj)]
    type = sa.Float()

    def __init__(self, p: float, value: Any) -> None:
        self.p = p
        super().__init__(value)


@compiles(Percentile)
def _percentile_pg(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    return f"percentile_cont({float(el.p)!r}) WITHIN GROUP (ORDER BY {x})"


@compiles(Percentile, "sqlite")
def _percentile_sqlite(el, compiler, **kw):
    (x,) = (compiler.process(c, **kw) for c in el.clauses)
    return f"ordo_percentile({x}, {float(el.p)!r})"


def percentile_cont(values: list[float], p: float) -> float | None:
    """The continuous percentile of ``values`` (as PostgreSQL's ``percentile_cont``)."""
    if not values:
        return None
    values.sort()
    at = p * (len(values) - 1)
    lo, hi = math.floor(at), math.ceil(at)
    return values[lo] + (values[hi] - values[lo]) * (at - lo)


class _Aggregate:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.p = 0.5

    def step(self, value: Any, p: float) -> None:
        self.p = p
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        return percentile_cont(self.values, self.p)


def _register(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_aggregate("ordo_percentile", 2, _Aggregate)


def install_sqlite_functions(engine: sa.Engine) -> None:
    """Give every SQLite connection of ``engine`` the ``ordo_percentile`` aggregate."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _register):
        event.listen(engine, "connect", _register)
