"""What an allocation call returns, and its explanation as text / plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..coerce import to_jsonable
from .strategies import LineDemand, Number


@dataclass
class Allocated:
    """Quantity of one line reserved at one supply record."""

    line_id: int
    supply_id: int
    supply: str
    location: str
    quantity: Number
    record_id: int | None = None  # the written allocation record
    location_value: Any = None  # the supply's location field value (an id for a link)


@dataclass
class LineResult:
    line_id: int
    idx: int
    item: str
    quantity: Number  # what was still to allocate when the call started
    allocated: list[Allocated] = field(default_factory=list)
    backorder: Number = 0
    candidates: list[dict[str, Any]] = field(default_factory=list)  # with explain: every candidate and why

    @property
    def filled(self) -> Number:
        return sum((a.quantity for a in self.allocated), 0)


@dataclass
class AllocationResult:
    """Outcome of ``allocate`` / ``release`` / ``consume``.

    ``status``: ``allocated`` (everything), ``partial`` (some backordered),
    ``unallocated`` (nothing reserved; see ``message``), ``nothing_to_do``,
    ``released`` or ``consumed``.
    """

    rule: str
    demand_entity: str
    demand_id: int
    demand_name: str
    strategy: str
    status: str
    lines: list[LineResult] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # allocation records written or changed
    message: str = ""
    attempts: int = 1
    rank_labels: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("allocated", "partial", "nothing_to_do", "released", "consumed")

    @property
    def locations(self) -> list[str]:
        out: list[str] = []
        for line in self.lines:
            for a in line.allocated:
                if a.location not in out:
                    out.append(a.location)
        return out

    @property
    def backorder(self) -> dict[int, Number]:
        return {ln.line_id: ln.backorder for ln in self.lines if ln.backorder}

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "rule": self.rule, "demand": {"entity": self.demand_entity, "id": self.demand_id,
                                          "name": self.demand_name},
            "strategy": self.strategy, "status": self.status, "message": self.message,
            "locations": self.locations, "attempts": self.attempts,
            "lines": [{"line": ln.line_id, "idx": ln.idx, "item": ln.item, "quantity": ln.quantity,
                       "backorder": ln.backorder,
                       "allocated": [{"supply": a.supply, "location": a.location, "quantity": a.quantity,
                                      "record": a.record_id} for a in ln.allocated],
                       **({"candidates": ln.candidates} if ln.candidates else {})} for ln in self.lines],
            "records": self.records,
        })

    def explain_text(self) -> str:
        """Per line: the candidates considered, their rank keys, and why each was chosen or not."""
        out = [f"{self.rule} for {self.demand_entity} {self.demand_name}: {self.status} "
               f"(strategy {self.strategy}; locations: {', '.join(self.locations) or 'none'})"]
        if self.message:
            out.append(f"  {self.message}")
        keys = ", ".join(self.rank_labels) or "none"
        for ln in self.lines:
            out.append(f"  line {ln.idx} {ln.item} x {ln.quantity}: filled {ln.filled}, backorder {ln.backorder}")
            out.append(f"    rank keys: {keys}")
            if not ln.candidates:
                out.append("    no supply of this item")
            for c in ln.candidates:
                mark = "*" if c.get("take") else "-"
                ranks = "" if "keys" not in c else f" keys={c['keys']}"
                out.append(f"    {mark} {c['supply']} @ {c['location']} available={c['available']}{ranks}: "
                           f"{c['reason']}")
        return "\n".join(out)


def explain_candidates(line: LineDemand) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"supply": c.supply_name, "location": c.location_label, "available": c.available,
         "keys": list(c.keys), "take": c.take, "reason": c.reason}
        for c in line.candidates
    ]
    rows += [{"supply": s, "location": loc, "available": "-", "take": 0, "reason": why}
             for s, loc, why in line.excluded]
    return to_jsonable(rows)
