"""How report values are shown: bucket labels, percentages, money, nulls."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .buckets import bucket_label

NONE_LABEL = "(none)"


def number(value: Any, decimals: int | None) -> Decimal | int:
    """``value`` rounded half-up to ``decimals`` places (None: as is)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(value)
    if decimals is None:
        return value if isinstance(value, (int, Decimal)) else Decimal(repr(value))
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def display(column: Any, value: Any, total: bool = False) -> str:
    """The text of one cell."""
    if value is None:
        return NONE_LABEL if column.role == "dimension" and not total else ""
    if column.bucket and isinstance(value, dt.date):
        return bucket_label(column.bucket, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if column.role == "measure" and isinstance(value, (int, float, Decimal)):
        fmt = column.format
        if fmt == "percent":
            return f"{number(Decimal(str(value)) * 100, 1 if column.decimals is None else column.decimals)}%"
        if fmt == "money":
            return f"{number(value, 2 if column.decimals is None else column.decimals):,}"
        if fmt == "integer":
            return f"{number(value, 0):,}"
        if column.decimals is not None:
            return str(number(value, column.decimals))
        if isinstance(value, Decimal):
            return str(value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize())
    return str(value)
