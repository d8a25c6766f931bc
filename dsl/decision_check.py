"""Static checks of a decision table: rules that overlap, input combinations no rule covers.

Each input cell becomes the set of (non-null) values it accepts, when that set is known:
a finite domain (an enum's options, booleans, an input's ``values``) is enumerated by running
the compiled cell on every value; numbers and dates become unions of intervals from the cells'
comparisons and ranges; other strings become finite sets (or their complements). A cell that
reads other fields, or an expression the check cannot reason about, is unknown: it never
produces a reported overlap, and it turns the gap check off for the table (no false reports).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .decision_values import literal_value

MAX_GAPS = 5
MAX_STEPS = 50_000  # nodes of the gap search, so a wide table cannot take long to check


@dataclass(frozen=True)
class Interval:
    lo: Any  # None: unbounded
    lo_closed: bool
    hi: Any
    hi_closed: bool


@dataclass
class ValueSet:
    """Values one cell accepts: ``intervals`` (ordered inputs) or ``values`` (``negated``: all but them)."""

    intervals: list[Interval] | None = None
    values: frozenset | None = None
    negated: bool = False


@dataclass
class Column:
    """What the check knows of one input: ``domain`` (finite values), ``ordered`` ('integer', 'decimal',
    'date', 'datetime'), or neither (strings without a list of values: no gap check)."""

    name: str
    domain: tuple | None = None
    ordered: str | None = None


Cell = ValueSet | None | str  # None: any value; "?": unknown


def _step(kind: str | None) -> Any:
    return {"integer": 1, "date": dt.timedelta(days=1)}.get(kind or "")


def _nonempty(lo: Any, lo_c: bool, hi: Any, hi_c: bool, kind: str | None) -> bool:
    if lo is None or hi is None:
        return True
    if lo > hi:
        return False
    if lo == hi:
        return lo_c and hi_c
    step = _step(kind)
    if step is not None and not lo_c and not hi_c and hi - lo <= step:
        return False
    return True


def _meet(a: Interval, b: Interval) -> Interval:
    if a.lo is None or (b.lo is not None and (b.lo > a.lo or (b.lo == a.lo and not b.lo_closed))):
        lo, lo_c = b.lo, b.lo_closed
    else:
        lo, lo_c = a.lo, a.lo_closed
    if a.hi is None or (b.hi is not None and (b.hi < a.hi or (b.hi == a.hi and not b.hi_closed))):
        hi, hi_c = b.hi, b.hi_closed
    else:
        hi, hi_c = a.hi, a.hi_closed
    return Interval(lo, lo_c, hi, hi_c)


def intersects(a: Cell, b: Cell, col: Column) -> bool | None:
    """Whether two cells share a value (None: cannot tell)."""
    if a == "?" or b == "?":
        return None
    if a is None or b is None:
        return True
    assert isinstance(a, ValueSet) and isinstance(b, ValueSet)
    if a.intervals is not None and b.intervals is not None:
        return any(_nonempty(m.lo, m.lo_closed, m.hi, m.hi_closed, col.ordered)
                   for x in a.intervals for y in b.intervals for m in [_meet(x, y)])
    if a.values is not None and b.values is not None:
        if not a.negated and not b.negated:
            return bool(a.values & b.values)
        if a.negated and b.negated:
            return True
        pos, neg = (a, b) if not a.negated else (b, a)
        return bool(pos.values - neg.values)  # type: ignore[operator]
    return None


def contains(cell: Cell, atom: Any) -> bool:
    """Whether a cell accepts an atom of the gap search (a value or an open interval's middle)."""
    if cell is None:
        return True
    assert isinstance(cell, ValueSet)
    if cell.intervals is not None:
        return any(_inside(atom, i) for i in cell.intervals)
    assert cell.values is not None
    return (atom in cell.values) != cell.negated


def _inside(v: Any, i: Interval) -> bool:
    if i.lo is not None and (v < i.lo or (v == i.lo and not i.lo_closed)):
        return False
    return not (i.hi is not None and (v > i.hi or (v == i.hi and not i.hi_closed)))


def overlaps(rules: list[list[Cell]], cols: list[Column]) -> list[tuple[int, int]]:
    """Pairs of rules that certainly match a common input. Rules are swept along an ordered column whose
    cells are single intervals (sorted by lower end, a rule is only compared with those starting before
    it ends), so a long table of ranges costs about n log n, not n squared."""
    out = []
    for i, j in _candidates(rules, cols):
        if all(intersects(a, b, c) is True for a, b, c in zip(rules[i], rules[j], cols, strict=True)):
            out.append((min(i, j), max(i, j)))
    return sorted(out)


def _candidates(rules: list[list[Cell]], cols: list[Column]):
    n = len(rules)
    for c, col in enumerate(cols):
        if col.ordered is None:
            continue
        spans = []
        for k, r in enumerate(rules):
            cell = r[c]
            if cell is None:
                spans.append((None, False, None, False, k))
            elif isinstance(cell, ValueSet) and cell.intervals is not None and len(cell.intervals) == 1:
                iv = cell.intervals[0]
                spans.append((iv.lo, iv.lo_closed, iv.hi, iv.hi_closed, k))
            else:
                break
        else:
            spans.sort(key=lambda s: (s[0] is not None, s[0] if s[0] is not None else 0, not s[1]))
            for a in range(n):
                lo, lo_c, hi, hi_c, i = spans[a]
                for b in range(a + 1, n):
                    lo2, lo2_c, _, _, j = spans[b]
                    if hi is not None and lo2 is not None and (lo2 > hi or (lo2 == hi and not (hi_c and lo2_c))):
                        break
                    yield i, j
            return
    for i in range(n):
        for j in range(i + 1, n):
            yield i, j


def gaps(rules: list[list[Cell]], cols: list[Column]) -> list[list[str]] | None:
    """Up to MAX_GAPS input combinations no rule covers, each as one description per input
    (None when the check cannot tell: an input of unknown domain or a cell it cannot read)."""
    if any(c.domain is None and c.ordered is None for c in cols):
        return None
    if any(cell == "?" for r in rules for cell in r):
        return None
    found: list[list[str]] = []
    steps = [0]

    def walk(live: list[int], col: int, prefix: list[str]) -> bool:
        steps[0] += 1
        if steps[0] > MAX_STEPS:
            return False
        if not live:
            found.append(prefix + ["any"] * (len(cols) - col))
            return len(found) < MAX_GAPS
        if col == len(cols):
            return True
        for atom, text in _atoms(cols[col], [rules[r][col] for r in live]):
            if not walk([r for r in live if contains(rules[r][col], atom)], col + 1, prefix + [text]):
                return False
        return True

    complete = walk(list(range(len(rules))), 0, [])
    return found if complete or found else None


def _atoms(col: Column, cells: list[Cell]) -> list[tuple[Any, str]]:
    if col.domain is not None:
        return [(v, show(v)) for v in col.domain]
    points = sorted({p for c in cells if isinstance(c, ValueSet) and c.intervals
                     for i in c.intervals for p in (i.lo, i.hi) if p is not None})
    if not points:
        return [(_zero(col.ordered), "any")]
    out: list[tuple[Any, str]] = [(_below(points[0], col.ordered), f"< {show(points[0])}")]
    for k, p in enumerate(points):
        out.append((p, show(p)))
        if k + 1 < len(points):
            q = points[k + 1]
            if _nonempty(p, False, q, False, col.ordered):
                out.append((_between(p, q, col.ordered), f"({show(p)}..{show(q)})"))
    out.append((_above(points[-1], col.ordered), f"> {show(points[-1])}"))
    return out


def _zero(kind: str | None) -> Any:
    return dt.date(2000, 1, 1) if kind == "date" else dt.datetime(2000, 1, 1) if kind == "datetime" else 0


def _below(p: Any, kind: str | None) -> Any:
    return p - (_step(kind) or (dt.timedelta(seconds=1) if isinstance(p, dt.datetime) else 1))


def _above(p: Any, kind: str | None) -> Any:
    return p + (_step(kind) or (dt.timedelta(seconds=1) if isinstance(p, dt.datetime) else 1))


def _between(p: Any, q: Any, kind: str | None) -> Any:
    step = _step(kind)
    if step is not None:
        return p + step
    if isinstance(p, dt.datetime):
        return p + (q - p) / 2
    return (Decimal(p) + Decimal(q)) / 2


def show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, dt.date):
        return "@" + v.isoformat()
    return str(v)


def test_set(t: Any, ordered: bool) -> ValueSet | None:
    """The values one test of a cell accepts (None: unknown)."""
    shape = t.shape
    kind = shape[0]
    if kind == "null":
        return ValueSet(intervals=[]) if ordered else ValueSet(values=frozenset())
    if kind == "eq":
        v = literal_value(shape[1])
        if v is None:
            return None
        return ValueSet(intervals=[Interval(v, True, v, True)]) if ordered else ValueSet(
            values=frozenset([v]))
    if not ordered:
        return None
    if kind == "cmp":
        op, v = shape[1], literal_value(shape[2])
        if v is None:
            return None
        if op == "!=":
            return ValueSet(intervals=[Interval(None, False, v, False), Interval(v, False, None, False)])
        lo = op in (">", ">=")
        return ValueSet(intervals=[Interval(v, op == ">=", None, False) if lo else
                                      Interval(None, False, v, op == "<=")])
    if kind == "range":
        lo, hi = literal_value(shape[1]), literal_value(shape[3])
        if lo is None or hi is None:
            return None
        return ValueSet(intervals=[Interval(lo, shape[2], hi, shape[4])])
    return None


def complement(s: ValueSet) -> ValueSet:
    ivs = sorted(s.intervals or [], key=lambda i: (i.lo is not None, i.lo))
    out: list[Interval] = []
    lo, lo_c = None, False
    for i in ivs:
        if i.lo is None:
            if i.hi is None:
                return ValueSet(intervals=[])
            lo, lo_c = i.hi, not i.hi_closed
            continue
        if lo is None or i.lo > lo or (i.lo == lo and not i.lo_closed and lo_c):
            out.append(Interval(lo, lo_c, i.lo, not i.lo_closed))
        if i.hi is None:
            return ValueSet(intervals=out)
        if lo is None or i.hi > lo:
            lo, lo_c = i.hi, not i.hi_closed
    out.append(Interval(lo, lo_c, None, False))
    return ValueSet(intervals=out)
