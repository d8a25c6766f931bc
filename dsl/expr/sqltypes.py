"""SQLAlchemy column types for expression values, shared by tables and compiled SQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from .types import Type


class ExactDecimal(TypeDecorator):
    """Decimal values: NUMERIC(p, s) on PostgreSQL (exact).

    SQLite has no decimal type; values are stored as REAL (15 significant digits)
    and come back as ``Decimal`` rounded to the declared scale, so they round-trip
    exactly at that scale. Arithmetic inside SQLite is binary floating point.
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int | None = 18, scale: int | None = 6, trim: bool = False) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.scale = scale
        self.trim = trim  # drop trailing fractional zeros (computed values have no declared scale)
        self._quantum = None if scale is None else Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Float(asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(self.impl.precision, self.impl.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return float(value)
        return value if isinstance(value, Decimal) else Decimal(str(value))

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        """SQLite: one plain function per value (``process_bind_param`` then the REAL column's ``float``, which
        leaves a float as it is, without the decorator's generic wrapping)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: Any) -> Any:
            return None if value is None else float(value)

        return process

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        """SQLite: one plain function per value (what ``process_result_value`` does, without the
        decorator's generic wrapping: list pages read thousands of these)."""
        if dialect.name != "sqlite" or self.load_dialect_impl(dialect).result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)
        quantum, trim = self._quantum, self.trim

        def process(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, float):
                d = Decimal(repr(value))
                if quantum is not None:
                    d = d.quantize(quantum)
            else:
                return self.process_result_value(value, dialect)
            return trim_zeros(d) if trim else d

        return process

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, Decimal):
            d = value
        else:
            d = Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)
            if self._quantum is not None:
                d = d.quantize(self._quantum)
        return trim_zeros(d) if self.trim else d


_ONE = Decimal(1)


def trim_zeros(d: Decimal) -> Decimal:
    """18.5000 -> 18.5, 7.00 -> 7 (never exponent notation)."""
    if d == d.to_integral_value():
        return d.quantize(_ONE)
    return d.normalize()


def sa_type(t: Type | None) -> sa.types.TypeEngine:
    """SQLAlchemy type for an expression result of type ``t``."""
    kind = t.kind if t is not None else "any"
    if kind == "string":
        return sa.String()
    if kind in ("integer", "record"):
        return sa.BigInteger()
    if kind == "decimal":
        return ExactDecimal(38, 10, trim=True)
    if kind == "boolean":
        return sa.Boolean()
    if kind == "date":
        return sa.Date()
    if kind == "datetime":
        return sa.DateTime()
    if kind == "json":
        return sa.JSON()
    return sa.types.NullType()
