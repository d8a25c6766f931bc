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

import sqlalchemy as sa

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


_NAMES = ("allocation names",)  # the statement reading linked records for their names, kept in their plan


def _names(tx: Transaction, entity: str | None, values: set[Any]) -> dict[Any, str]:
    """Readable names for field values: the linked records' names (one query), else the values. The records
    read (whole, when they have no child rows) are learnt by the unit of work: the allocation records written
    next link them without reading them again."""
    values.discard(None)
    out = {v: str(v) for v in values}
    if entity is not None and values:
        ce = tx.app.compiled.entity(entity)
        whole = not ce.table_fields
        plan = tx.plan(entity)
        q = plan.shaped.get(_NAMES)
        if q is None:
            t = plan.table
            q = sa.select(t) if whole else sa.select(t.c.id, t.c.name)
            q = plan.shaped[_NAMES] = q.where(t.c.id.in_(sa.bindparam("ids", expanding=True)))
        uow = tx.uow
        for row in tx.conn.execute(q, {"ids": list(values)}):
            out[row.id] = str(row.name)
            if whole and uow.get(entity, row.id) is None:
                uow.put(entity, dict(row._mapping))
    return out


def load_lines(tx: Transaction, rule: CompiledAllocation, demand: dict[str, Any],
               outstanding: dict[int, Number], explain: bool) -> list[LineDemand]:
    d = rule.defn
    item_entity = rule.demand.fields[d.demand.lines].child.fields[d.demand.item].defn.entity  # type: ignore[union-attr]
    loc_entity = rule.supply.fields[d.supply.location].defn.entity
    desc = [k.descending for k in rule.rank]
    dparams = rule.demand_params.params(demand)
    fetched = []
    for row in demand.get(d.demand.lines) or []:
        qty = outstanding.get(row["id"], 0)
        if qty <= 0:
            continue
        line = {**row, "parent_id": demand["id"]}
        params = {**dparams, **rule.line_params.params(line), "_item": line.get(d.demand.item)}
        rows = [dict(r._mapping) for r in tx.conn.execute(rule.candidates_sql, params)]
        if rule.where_py is not None:
            rows = [r for r in rows if rule.where_py(r, tx.env, demand, line) is True]
        excluded = _excluded(tx, rule, params, {r["id"] for r in rows}) if explain else []
        fetched.append((line, qty, rows, excluded))
    locs = _names(tx, loc_entity, {r.get(d.supply.location) for _, _, rows, ex in fetched
                                   for r in [*rows, *(m for m, _ in ex)]})
    items = _names(tx, item_entity, {line.get(d.demand.item) for line, _, _, _ in fetched})
    out: list[LineDemand] = []
    for line, qty, rows, excluded in fetched:
        cands = []
        for r in rows:
            available = num(r.pop(AVAILABLE))
            keys = tuple(r.pop(k.column) if k.column else k.expr(r, tx.env, demand, line) for k in rule.rank)
            loc = r.get(d.supply.location)
            cands.append(Candidate(r["id"], str(r.get("name") or r["id"]), loc, locs.get(loc, "-"),
                                   available, keys, sort_key(keys, desc, r["id"])))
        cands.sort(key=lambda c: c.order)
        item = line.get(d.demand.item)
        ld = LineDemand(line["id"], line.get("idx") or 0, item, items.get(item, "-"), qty, cands)
        ld.excluded = [(str(m.get("name") or m["id"]), locs.get(m.get(d.supply.location), "-"), why)
                       for m, why in excluded]
        out.append(ld)
    return out


def _excluded(tx: Transaction, rule: CompiledAllocation, params: dict[str, Any],
              kept: set[int]) -> list[tuple[dict[str, Any], str]]:
    """Supply rows of the item that are not candidates, with the reason (explanations only)."""
    out = []
    for r in tx.conn.execute(rule.all_rows_sql, params):
        m = {k: v for k, v in r._mapping.items() if not k.startswith("_ordo_rank_")}
        if m["id"] in kept:
            continue
        available = num(m.pop(AVAILABLE))
        out.append((m, f"nothing available ({available})" if available <= 0 else "excluded by the filter"))
    return out
