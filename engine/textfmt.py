"""Plain-text output for the terminal: tables, JSON and CSV of records.

Values arrive as presented (see :mod:`present`): these functions only lay them out. Numbers are
written plainly (``26875.50``: no thousands separators, exact decimals), dates as ISO text.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TextIO

from .coerce import to_jsonable


def text_width(s: str) -> int:
    """Columns a text takes on a terminal (wide characters count double)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def cell_text(v: Any) -> str:
    """The text of one value in a table or CSV cell."""
    if v is None:
        return ""
    if isinstance(v, list):
        return f"[{len(v)} rows]"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return format(Decimal(repr(v)), "f")
    if isinstance(v, Decimal):
        return format(v, "f")
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ", timespec="seconds") if hasattr(v, "hour") else v.isoformat()
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _clip(text: str, max_width: int) -> str:
    """One line of at most ``max_width`` columns (wide characters count double)."""
    text = " ".join(text.split("\n")) if "\n" in text else text
    if text_width(text) <= max_width:
        return text
    out, w = [], 0
    for ch in text:
        cw = text_width(ch)
        if w + cw > max_width - 1:
            break
        out.append(ch)
        w += cw
    return "".join(out) + "…"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, max_width: int = 40,
          headers: Sequence[str] | None = None) -> str:
    """An aligned text table (wide characters count double). ``headers``: the heading of each
    column (default: the column keys)."""
    if not rows:
        return "(no rows)"
    cols = list(columns or rows[0].keys())
    heads = list(headers) if headers is not None else cols
    cells = [[_clip(cell_text(r.get(c)), max_width) for c in cols] for r in rows]
    widths = [max(text_width(h), *(text_width(row[i]) for row in cells)) for i, h in enumerate(heads)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v + " " * (w - text_width(v)) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(heads), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def as_json(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, indent=2)


def as_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
           headers: Sequence[str] | None = None) -> str:
    buf = io.StringIO()
    cols = list(columns or (rows[0].keys() if rows else []))
    w = csv.writer(buf)
    w.writerow(list(headers) if headers is not None else cols)
    for r in rows:
        w.writerow([cell_text(r.get(c)) for c in cols])
    return buf.getvalue()


def record(pairs: Iterable[tuple[str, Any]], max_width: int = 100) -> str:
    """One record as aligned ``label  value`` lines."""
    items = [(k, _clip(cell_text(v), max_width)) for k, v in pairs]
    width = max((text_width(k) for k, _ in items), default=0)
    return "\n".join((k + " " * (width - text_width(k)) + "  " + v).rstrip() for k, v in items)


class CsvWriter:
    """CSV written as it comes (exports streamed page by page)."""

    def __init__(self, out: TextIO, columns: Sequence[str], headers: Sequence[str] | None = None) -> None:
        self.columns = list(columns)
        self.writer = csv.writer(out)
        self.writer.writerow(list(headers) if headers is not None else self.columns)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        self.writer.writerows([cell_text(r.get(c)) for c in self.columns] for r in rows)


class JsonArrayWriter:
    """A JSON array written item by item (exports streamed page by page); ``close()`` ends it."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0

    def write(self, items: Iterable[Any]) -> None:
        for item in items:
            text = json.dumps(to_jsonable(item), ensure_ascii=False, indent=2).replace("\n", "\n  ")
            self.out.write(("[\n  " if self.count == 0 else ",\n  ") + text)
            self.count += 1

    def close(self) -> None:
        self.out.write("[]\n" if self.count == 0 else "\n]\n")


def page_notice(first: int, shown: int, total: int, what: str = "rows") -> str | None:
    """``rows 1-50 of 1,234; next page: --offset 50`` when not every matching row is shown."""
    if shown == 0:
        return f"no {what} at --offset {first:,} ({total:,} match)" if total else None
    if first == 0 and shown >= total:
        return None
    last = first + shown
    text = f"{what} {first + 1:,}-{last:,} of {total:,}"
    return text + f"; next page: --offset {last}" if last < total else text
