"""Candidates of each demand line: supply rows filtered in SQL, ranked in Python.

One compiled statement per rule returns the supply rows of the line's item that
pass the filter and have something available, with the available quantity
computed by the database. Rank keys are evaluated on those few rows with the
compiled expressions (links such as ``location.priority`` come from the
transaction's link cache).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .compile import AVAILABLE, CompiledAllocation
from .strategies import Candidate, LineDemand, Number, sort_key

if TYPE_CHECKING:
    from ..records import Transaction


def num(x: Any) -> Number:
    """A quantity as int when whole, else Decimal (never float)."""
    if x is None:
        return 0
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return x
    d = x if isinstance(x, Decimal) else Decimal(str(x))
    return int(d) if d == d.to_integral_value() else d


def _label(tx: Transaction, entity: str | None, value: Any) -> str:
    """A readable name for a field value: the linked record's name, else the value."""
    if value is None:
        return "-"
    if entity is not None:
        rec = tx.env.link(entity, value)
        if rec is not None:
            return str(rec.get("name") or value)
    return str(value)


def load_lines(tx: Transaction, rule: CompiledAllocation, demand: dict[str, Any],
               outstanding: dict[int, Number], explain: bool) -> list[LineDemand]:
    d = rule.defn
    item_entity = rule.demand.fields[d.demand.lines].child.fields[d.demand.item].defn.entity  # type: ignore[union-attr]
    loc_entity = rule.supply.fields[d.supply.location].defn.entity
    desc = [k.descending for k in rule.rank]
    dparams = rule.demand_params.params(demand)
    out: list[LineDemand] = []
    for row in demand.get(d.demand.lines) or []:
        qty = outstanding.get(row["id"], 0)
        if qty <= 0:
            continue
        line = {**row, "parent_id": demand["id"]}
        item = line.get(d.demand.item)
        params = {**dparams, **rule.line_params.params(line), "_item": item}
        rows = [dict(r._mapping) for r in tx.conn.execute(rule.candidates_sql, params)]
        if rule.where_py is not None:
            rows = [r for r in rows if rule.where_py(r, tx.env, demand, line) is True]
        cands = []
        for r in rows:
            available = num(r.pop(AVAILABLE))
            keys = tuple(k.expr(r, tx.env, demand, line) for k in rule.rank)
            loc = r.get(d.supply.location)
            cands.append(Candidate(r["id"], str(r.get("name") or r["id"]), loc, _label(tx, loc_entity, loc),
                                   available, keys, sort_key(keys, desc, r["id"])))
        cands.sort(key=lambda c: c.order)
        ld = LineDemand(row["id"], row.get("idx") or 0, item, _label(tx, item_entity, item), qty, cands)
        if explain:
            ld.excluded = _excluded(tx, rule, params, {c.supply_id for c in cands}, loc_entity)
        out.append(ld)
    return out


def _excluded(tx: Transaction, rule: CompiledAllocation, params: dict[str, Any], kept: set[int],
              loc_entity: str | None) -> list[tuple[str, str, str]]:
    """Supply rows of the item that are not candidates, with the reason (explanations only)."""
    out = []
    for r in tx.conn.execute(rule.all_rows_sql, params):
        m = dict(r._mapping)
        if m["id"] in kept:
            continue
        available = num(m.pop(AVAILABLE))
        why = f"nothing available ({available})" if available <= 0 else "excluded by the filter"
        loc = _label(tx, loc_entity, m.get(rule.defn.supply.location))
        out.append((str(m.get("name") or m["id"]), loc, why))
    return out
