"""Allocation strategies: pure planning over ranked candidates (no database here).

Every line comes with its candidates sorted best first. A strategy returns a
:class:`Plan`: which candidate gives how much to which line, what is left
unfilled, and a reason for every candidate (for ``--explain``). Quantities
available at a supply row are shared by all lines of the demand.

* ``per_line``: each line takes the best-ranked location that can fill it.
* ``single_source``: one location fills every line; among those that can,
  the best by summed rank keys.
* ``fewest_splits``: the fewest locations that together fill the lines (exact
  search over location sets, bounded; greedy set cover beyond the bound), then
  the best by summed rank keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import combinations
from typing import Any

Number = int | Decimal
MAX_COMBINATIONS = 50_000


@dataclass(eq=False)
class Candidate:
    supply_id: int
    supply_name: str
    location: Any
    location_label: str
    available: Number
    keys: tuple[Any, ...]
    order: tuple[Any, ...]  # sort key: best first
    take: Number = 0
    reason: str = ""
    row: dict[str, Any] | None = None  # the supply row as read (its stored fields), when known


@dataclass(eq=False)
class LineDemand:
    line_id: int
    idx: int
    item: Any
    item_label: str
    quantity: Number  # still to allocate
    candidates: list[Candidate]  # best first
    excluded: list[tuple[str, str, str]] = field(default_factory=list)  # (supply, location, why) for explain


@dataclass(eq=False)
class Pick:
    line: LineDemand
    cand: Candidate
    quantity: Number


@dataclass
class Plan:
    picks: list[Pick]
    backorder: dict[int, Number]  # line id -> quantity left unfilled
    ok: bool = True
    note: str = ""

    @property
    def locations(self) -> list[Any]:
        out: list[Any] = []
        for p in self.picks:
            if p.cand.location not in out:
                out.append(p.cand.location)
        return out


class _Desc:
    """Reverses ordering of one value (descending keys of any orderable type)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return self.v > other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v


def sort_key(keys: Sequence[Any], descending: Sequence[bool], supply_id: int) -> tuple[Any, ...]:
    """Rank keys in order, nulls last; ties broken by supply id (oldest supply record first)."""
    parts: list[Any] = []
    for v, desc in zip(keys, descending, strict=True):
        parts.append((1, 0) if v is None else (0, _Desc(v) if desc else v))
    return (*parts, supply_id)


# -- filling one line from a list of candidates, sharing what remains per supply row
Remaining = dict[int, Number]


def _by_location(cands: list[Candidate]) -> list[list[Candidate]]:
    groups: dict[Any, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(c.location, []).append(c)
    return list(groups.values())


def _take(line: LineDemand, cands: list[Candidate], remaining: Remaining, want: Number) -> list[Pick]:
    picks = []
    for c in cands:
        if want <= 0:
            break
        q = min(remaining[c.supply_id], want)
        if q > 0:
            remaining[c.supply_id] -= q
            want -= q
            picks.append(Pick(line, c, q))
    return picks


def serve(line: LineDemand, cands: list[Candidate], remaining: Remaining, *, split: bool,
          partial: bool) -> tuple[list[Pick], Number]:
    """Fill ``line`` from ``cands`` (best first): wholly from one location if one can; else across
    locations (``split``); else what the fullest location has (``partial``). Returns picks and the rest."""
    groups = _by_location(cands)
    for g in groups:
        if sum(remaining[c.supply_id] for c in g) >= line.quantity:
            return _take(line, g, remaining, line.quantity), 0
    if split:
        picks = _take(line, cands, remaining, line.quantity)
        return picks, line.quantity - sum(p.quantity for p in picks)
    if partial and groups:
        fullest = max(groups, key=lambda g: sum(remaining[c.supply_id] for c in g))  # first on ties: best rank
        picks = _take(line, fullest, remaining, line.quantity)
        return picks, line.quantity - sum(p.quantity for p in picks)
    return [], line.quantity


def score(picks: list[Pick], descending: Sequence[bool]) -> tuple[Any, ...]:
    """Plan comparison: per rank key (number of nulls, sum over picks), then supply ids."""
    parts = []
    for i, desc in enumerate(descending):
        nulls, total = 0, 0  # exact: ints (bools) added as they are, anything else as Decimal(str(v))
        for p in picks:
            v = p.cand.keys[i]
            if v is None:
                nulls += 1
            elif type(v) is int or type(v) is bool:
                total += v
            else:
                total += v if isinstance(v, Decimal) else Decimal(str(v))
        parts.append((nulls, -total if desc else total))
    return (*parts, tuple(sorted(p.cand.supply_id for p in picks)))


def _initial(lines: list[LineDemand]) -> Remaining:
    return {c.supply_id: c.available for line in lines for c in line.candidates}


def _finish(lines: list[LineDemand], picks: list[Pick], partial: bool, note: str = "") -> Plan:
    got: dict[int, Number] = {}
    for p in picks:
        got[p.line.line_id] = got.get(p.line.line_id, 0) + p.quantity
    backorder = {ln.line_id: ln.quantity - got.get(ln.line_id, 0) for ln in lines
                 if ln.quantity - got.get(ln.line_id, 0) > 0}
    if backorder and not partial:
        return Plan([], backorder, False, note or "not everything can be allocated and partial allocation is off")
    return Plan(picks, backorder, True, note)


# -- strategies
def per_line(lines: list[LineDemand], descending: Sequence[bool], *, partial: bool, split: bool) -> Plan:
    remaining = _initial(lines)
    picks: list[Pick] = []
    for line in lines:
        picks.extend(serve(line, line.candidates, remaining, split=split, partial=partial)[0])
    return _finish(lines, picks, partial)


def _locations(lines: list[LineDemand]) -> list[Any]:
    """Every candidate location, the best-ranked appearance first."""
    seen: dict[Any, tuple] = {}
    for line in lines:
        for c in line.candidates:
            if c.location not in seen or c.order < seen[c.location]:
                seen[c.location] = c.order
    return sorted(seen, key=lambda loc: seen[loc])


def single_source(lines: list[LineDemand], descending: Sequence[bool], *, partial: bool, split: bool) -> Plan:
    best: tuple[Any, list[Pick]] | None = None
    fallback: tuple[Any, list[Pick]] | None = None
    for loc in _locations(lines):
        remaining = _initial(lines)
        picks: list[Pick] = []
        full = True
        for line in lines:
            got, left = serve(line, [c for c in line.candidates if c.location == loc], remaining,
                              split=True, partial=True)
            picks.extend(got)
            full = full and left == 0
        if full:
            rank = score(picks, descending)
            if best is None or rank < best[0]:
                best = (rank, picks)
        elif partial:
            filled = sum(p.quantity for p in picks)
            lines_full = len(_full_lines(picks, lines))
            rank = (-filled, -lines_full, score(picks, descending))
            if fallback is None or rank < fallback[0]:
                fallback = (rank, picks)
    if best is not None:
        return _finish(lines, best[1], partial)
    if fallback is not None:
        return _finish(lines, fallback[1], partial, "no single location can fill every line; "
                                                    "the location filling the most was chosen")
    return _finish(lines, [], partial, "no single location can fill every line")


def _full_lines(picks: list[Pick], lines: list[LineDemand]) -> set[int]:
    got: dict[int, Number] = {}
    for p in picks:
        got[p.line.line_id] = got.get(p.line.line_id, 0) + p.quantity
    return {ln.line_id for ln in lines if got.get(ln.line_id, 0) >= ln.quantity}


def fewest_splits(lines: list[LineDemand], descending: Sequence[bool], *, partial: bool, split: bool) -> Plan:
    locs = _locations(lines)
    base = _initial(lines)
    masks: dict[Any, int] = {}
    for loc in locs:  # lines a location can fill alone
        m = 0
        for i, line in enumerate(lines):
            if sum(c.available for c in line.candidates if c.location == loc) >= line.quantity:
                m |= 1 << i
        if m:
            masks[loc] = m
    target = 0
    for m in masks.values():
        target |= m
    useful = [loc for loc in locs if loc in masks]
    coverable = [ln for i, ln in enumerate(lines) if target >> i & 1]
    chosen, note = _search(coverable, lines, useful, masks, target, base, descending)
    remaining = dict(base)
    picks: list[Pick] = []
    for line in coverable:
        got, _ = serve(line, [c for c in line.candidates if c.location in chosen], remaining, split=False,
                       partial=False)
        picks.extend(got)
    served = {p.line.line_id for p in picks}
    for line in lines:  # lines no chosen location fills alone: prefer the chosen locations
        if line.line_id in served:
            continue
        ordered = sorted(line.candidates, key=lambda c: (c.location not in chosen, c.order))
        picks.extend(serve(line, ordered, remaining, split=split, partial=partial)[0])
    return _finish(lines, picks, partial, note)


def _search(coverable: list[LineDemand], lines: list[LineDemand], useful: list[Any], masks: dict[Any, int],
            target: int, base: Remaining, descending: Sequence[bool]) -> tuple[set[Any], str]:
    """The smallest set of locations filling every coverable line, best by score."""
    tried = 0
    for k in range(1, len(useful) + 1):
        best: tuple[Any, set[Any]] | None = None
        for combo in combinations(useful, k):
            tried += 1
            if tried > MAX_COMBINATIONS:
                return _greedy(useful, masks, target), (
                    f"more than {MAX_COMBINATIONS} location sets: greedy set cover used")
            m = 0
            for loc in combo:
                m |= masks[loc]
            if m != target:
                continue
            chosen = set(combo)
            remaining = dict(base)
            picks: list[Pick] = []
            for line in coverable:
                got, left = serve(line, [c for c in line.candidates if c.location in chosen], remaining,
                                  split=False, partial=False)
                if left:
                    break
                picks.extend(got)
            else:
                rank = score(picks, descending)
                if best is None or rank < best[0]:
                    best = (rank, chosen)
        if best is not None:
            return best[1], ""
    return _greedy(useful, masks, target), ""


def _greedy(useful: list[Any], masks: dict[Any, int], target: int) -> set[Any]:
    chosen: set[Any] = set()
    covered = 0
    while covered != target:
        loc = max(useful, key=lambda x: bin(masks[x] & ~covered).count("1"))  # first on ties: best rank
        if not masks[loc] & ~covered:
            break
        chosen.add(loc)
        covered |= masks[loc]
    return chosen


STRATEGIES: dict[str, Callable[..., Plan]] = {
    "per_line": per_line,
    "single_source": single_source,
    "fewest_splits": fewest_splits,
}


def explain_reasons(lines: list[LineDemand], plan: Plan, strategy: str) -> None:
    """Say for every candidate why it was or was not used."""
    taken: dict[int, Number] = {}
    for p in plan.picks:
        taken[id(p.cand)] = taken.get(id(p.cand), 0) + p.quantity
    used = plan.locations
    used_labels = ", ".join(_label_of(lines, loc) for loc in used) or "none"
    for line in lines:
        chosen = [c for c in line.candidates if id(c) in taken]
        for c in line.candidates:
            c.take = taken.get(id(c), 0)
            if c.take:
                c.reason = f"chosen: {c.take} of {c.available} available"
            elif not plan.ok:
                c.reason = f"not used: {plan.note}"
            elif c.available < line.quantity:
                c.reason = f"not enough: {c.available} available, {line.quantity} needed"
            elif strategy != "per_line" and c.location not in used:
                c.reason = f"not used: location {c.location_label} is not among the chosen ({used_labels})"
            elif chosen and any(c.keys == x.keys for x in chosen):
                c.reason = "tie on every rank key with the chosen candidate; the older supply record wins"
            elif chosen:
                c.reason = "ranked below the chosen candidate"
            else:
                c.reason = f"not used: {plan.note or 'taken by other lines'}"


def _label_of(lines: list[LineDemand], loc: Any) -> str:
    for line in lines:
        for c in line.candidates:
            if c.location == loc:
                return c.location_label
    return str(loc)
