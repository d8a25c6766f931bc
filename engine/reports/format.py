"""How report values are shown: bucket labels, option labels, percentages, money, nulls; and how
they are exported (plain exact numbers at the column's scale)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..i18n import word
from ..scales import at_scale
from .buckets import bucket_label


def number(value: Any, decimals: int | None) -> Decimal | int:
    """``value`` rounded half-up to ``decimals`` places (None: as is)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(value)
    if decimals is None:
        return value if isinstance(value, (int, Decimal)) else Decimal(repr(value))
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _label(column: Any, value: Any, total: bool, lang: str) -> str | None:
    """The text of a non-numeric cell, or None for a number."""
    if value is None:
        return word("none", lang) if column.role == "dimension" and not total else ""
    if column.options:
        for v, label in column.options:
            if v == value:
                return label
    if column.bucket and isinstance(value, dt.date):
        return bucket_label(column.bucket, value)
    if isinstance(value, bool):
        return word("yes" if value else "no", lang)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        return None
    return str(value)


def display(column: Any, value: Any, total: bool = False, lang: str = "en") -> str:
    """The text of one cell (tables, charts): numbers formatted, money with thousands separators."""
    text = _label(column, value, total, lang)
    if text is not None:
        return text
    if column.role == "measure":
        fmt = column.format
        if fmt == "percent":
            return f"{number(Decimal(str(value)) * 100, 1 if column.decimals is None else column.decimals)}%"
        if fmt == "money":
            return f"{number(value, 2 if column.decimals is None else column.decimals):,}"
        if fmt == "integer":
            return f"{number(value, 0):,}"
    return format(export_number(column, value), "f") if not isinstance(value, int) else str(value)


def export_number(column: Any, value: Any) -> Decimal | int:
    """A number as exported: exact, at the column's scale (binary floats read through their text)."""
    return at_scale(value, getattr(column, "scale", None))


def export_value(column: Any, value: Any, total: bool = False, lang: str = "en") -> Any:
    """One cell of a CSV export: text for labels and dates, plain exact numbers (``26875.50``)."""
    text = _label(column, value, total, lang)
    return export_number(column, value) if text is None else text
