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

from .. import lean
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


_NAMES = "allocation names"  # the statements reading linked records for their names, kept in their plan


def sized(n: int) -> int:
    """How many bound values a statement for ``n`` values takes: ``n`` up to 8, then the next multiple of 8
    (the values are padded by repeating the last), so a few statement texts serve every size."""
    return n if n <= 8 else -(-n // 8) * 8


def bind_values(prefix: str, values: list[Any]) -> dict[str, Any]:
    """``{prefix0: v0, prefix1: v1, ...}`` padded to :func:`sized` with the last value."""
    padded = values + [values[-1]] * (sized(len(values)) - len(values))
    return {f"{prefix}{i}": v for i, v in enumerate(padded)}


def _names_statement(tx: Transaction, entity: str, size: int, whole: bool) -> Any:
    plan = tx.plan(entity)
    key = (_NAMES, size)
    q = plan.shaped.get(key)
    if q is None:
        t = plan.table
        q = sa.select(t) if whole else sa.select(t.c.id, t.c.name)
        q = plan.shaped[key] = q.where(sa.or_(*(t.c.id == sa.bindparam(f"i{i}", type_=t.c.id.type)
                                                for i in range(size))))
    return q


def _names(tx: Transaction, entity: str | None, values: set[Any]) -> dict[Any, str]:
    """Readable names for field values: the linked records' names (from the unit of work, else one query),
    else the values. The records read (whole, when they have no child rows) are learnt by the unit of work:
    the allocation records written next link them without reading them again."""
    values.discard(None)
    out = {v: str(v) for v in values}
    if entity is not None and values:
        uow = tx.uow
        known = uow.records
        missing = []
        for v in values:
            rec = known.get((entity, v))
            if rec is None:
                missing.append(v)
            else:
                out[v] = str(rec["name"])
        if not missing:
            return out
        whole = not tx.app.compiled.entity(entity).table_fields
        q = _names_statement(tx, entity, sized(len(missing)), whole)
        for row in lean.execute(tx.conn, q, bind_values("i", missing)):
            out[row.id] = str(row.name)
            if whole and (entity, row.id) not in known:
                uow.put(entity, dict(row._mapping), tables=())
    return out


def _candidate_rows(tx: Transaction, rule: CompiledAllocation, dparams: dict[str, Any],
                    wanted: list[tuple[dict[str, Any], Number]]) -> list[list[dict[str, Any]]]:
    """The candidate rows of each wanted line: one statement for every line's item, unless the statement
    binds line fields (then one per line)."""
    item_field = rule.defn.demand.item
    if rule.by_line:
        out = []
        for line, _ in wanted:
            params = {**dparams, **rule.line_params.params(line), "_item": line.get(item_field)}
            out.append([dict(r._mapping) for r in lean.execute(tx.conn, rule.candidates_sql, params)])
        return out
    wanted_items = [line.get(item_field) for line, _ in wanted]
    items = list(dict.fromkeys(wanted_items))
    stmt = rule.candidates_of(sized(len(items)))
    by_item: dict[Any, list[dict[str, Any]]] = {}
    item_key = rule.defn.supply.item
    for r in lean.execute(tx.conn, stmt, {**dparams, **bind_values("_item", items)}):
        row = dict(r._mapping)
        by_item.setdefault(row[item_key], []).append(row)
    if len(items) == len(wanted_items):  # each row goes to one line (which pops its computed columns)
        return [by_item.get(item, []) for item in wanted_items]
    return [[dict(row) for row in by_item.get(item, ())] for item in wanted_items]


def load_lines(tx: Transaction, rule: CompiledAllocation, demand: dict[str, Any],
               outstanding: dict[int, Number], explain: bool) -> list[LineDemand]:
    d = rule.defn
    item_entity = rule.demand.fields[d.demand.lines].child.fields[d.demand.item].defn.entity  # type: ignore[union-attr]
    loc_entity = rule.supply.fields[d.supply.location].defn.entity
    desc = [k.descending for k in rule.rank]
    demand_id = demand["id"]
    wanted = []
    for row in demand.get(d.demand.lines) or []:
        qty = outstanding.get(row["id"], 0)
        if qty > 0:
            wanted.append(({**row, "parent_id": demand_id}, qty))
    if not wanted:
        return []
    dparams = rule.demand_params.params(demand)
    fetched = []
    for (line, qty), rows in zip(wanted, _candidate_rows(tx, rule, dparams, wanted), strict=True):
        if rule.where_py is not None:
            rows = [r for r in rows if rule.where_py(r, tx.env, demand, line) is True]
        excluded = []
        if explain:
            params = {**dparams, **rule.line_params.params(line), "_item": line.get(d.demand.item)}
            excluded = _excluded(tx, rule, params, {r["id"] for r in rows})
        fetched.append((line, qty, rows, excluded))
    loc_field = d.supply.location
    locs = _names(tx, loc_entity, {r.get(loc_field) for _, _, rows, ex in fetched
                                   for r in [*rows, *(m for m, _ in ex)]})
    items = _names(tx, item_entity, {line.get(d.demand.item) for line, _, _, _ in fetched})
    out: list[LineDemand] = []
    rank = rule.rank
    env = tx.env
    for line, qty, rows, excluded in fetched:
        cands = []
        for r in rows:
            available = num(r.pop(AVAILABLE))
            keys = tuple(r.pop(k.column) if k.column else k.expr(r, env, demand, line) for k in rank)
            loc = r.get(loc_field)
            rid = r["id"]
            cands.append(Candidate(rid, str(r.get("name") or rid), loc, locs.get(loc, "-"),
                                   available, keys, sort_key(keys, desc, rid), row=r))
        cands.sort(key=lambda c: c.order)
        item = line.get(d.demand.item)
        ld = LineDemand(line["id"], line.get("idx") or 0, item, items.get(item, "-"), qty, cands)
        ld.excluded = [(str(m.get("name") or m["id"]), locs.get(m.get(loc_field), "-"), why)
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
