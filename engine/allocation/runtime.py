"""The allocation service: allocate, release and consume, each inside the caller's transaction.

``allocate`` locks the demand record, works out what is still outstanding per
line (earlier reservations count; old backorder records are replaced), ranks
the candidates, plans with the rule's strategy, reserves every pick with one
conditional UPDATE (in the global supply lock order, as release and consume do,
so concurrent allocations and releases cannot deadlock on supply rows) and writes
the allocation records. On PostgreSQL, if another transaction took the
supply between reading and reserving, the work since the savepoint is undone
and the allocation is planned again on fresh data. A SQLite write transaction
holds the database's write lock, so nothing can change between reading and
reserving: it takes no savepoint. An error anywhere fails the operation (the
caller's transaction rolls back): no partial reservation survives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import lean
from ..db import lost_race, retrying_savepoint
from ..errors import Conflict, NotFound, PermissionDenied, UsageError
from .candidates import load_lines, num
from .compile import CompiledAllocation, compile_rule
from .line_write import write_rows
from .reservation import lock_order, reserve, unreserve
from .result import Allocated, AllocationResult, LineResult, explain_candidates
from .strategies import STRATEGIES, LineDemand, Number, Plan, explain_reasons

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction

MAX_ATTEMPTS = 25
ACTIVE = ("reserved", "consumed")


class _SupplyTaken(Exception):
    """A reservation lost a race; plan again."""


class Allocator:
    """``app.features["allocation"]``: every allocation rule of the app, compiled."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.rules: dict[str, CompiledAllocation] = {
            d.name: compile_rule(app, d) for d in app.definition.all("allocation")}

    def rule(self, name: str) -> CompiledAllocation:
        r = self.rules.get(name)
        if r is None:
            known = ", ".join(sorted(self.rules)) or "none"
            raise NotFound(f"unknown allocation rule '{name}' (known: {known})")
        return r

    # -- reading
    def records(self, tx: Transaction, rule_name: str, record_id: int | str) -> list[dict[str, Any]]:
        """The allocation records of a demand (every status), oldest first."""
        rule = self.rule(rule_name)
        demand = tx.load(rule.defn.demand.entity, record_id)
        return self._records(tx, rule, demand["id"])

    def _records(self, tx: Transaction, rule: CompiledAllocation, demand_id: int) -> list[dict[str, Any]]:
        """Read once per transaction while nobody writes the result table (the unit of work keeps them)."""
        key = _key(rule, demand_id)
        rows = tx.uow.known_rows(key)
        if rows is not None:
            return rows

        def build() -> sa.Select:
            t = rule.result_table
            return sa.select(t).where(t.c[rule.defn.result.demand] == sa.bindparam("demand")).order_by(t.c.id)

        q = rule.statement("records", build)
        rows = [dict(r._mapping) for r in lean.execute(tx.conn, q, {"demand": demand_id})]
        tx.uow.remember_rows(rule.result_table.name, key, [r.copy() for r in rows])
        return rows

    # -- allocate
    def allocate(self, tx: Transaction, rule_name: str, record_id: int | str, *,
                 explain: bool = False) -> AllocationResult:
        """Reserve supply for the outstanding quantities of a demand and write allocation records."""
        rule = self.rule(rule_name)
        d = rule.defn
        if getattr(tx.app, "confined", False):
            _whole_reads(tx, d.name, (d.demand.entity, d.supply.entity))
        demand = tx.load(d.demand.entity, record_id, for_update=True)
        existing = self._records(tx, rule, demand["id"])
        outstanding = self._outstanding(rule, demand, existing)
        backorders = [r for r in existing if r[d.result.status] == "backorder"]
        result = AllocationResult(d.name, d.demand.entity, demand["id"], demand["name"], d.strategy, "allocated",
                                  rank_labels=[k.label for k in rule.rank])
        if tx.uow.locks_all:  # a SQLite write transaction: nobody else writes until it ends, no race to retry
            result.attempts = 1
            try:
                return self._attempt(tx, rule, demand, outstanding, backorders, result, explain)
            except _SupplyTaken:  # only a write of this transaction in between could do that
                raise Conflict(f"allocation {d.name} for {d.demand.entity} {demand['name']}: the supply changed "
                               f"while allocating; nothing was reserved") from None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result.attempts = attempt
            try:
                with tx.conn.begin_nested():
                    return self._attempt(tx, rule, demand, outstanding, backorders, result, explain)
            except _SupplyTaken:
                result.lines = []
            except sa.exc.DBAPIError as e:  # the savepoint is rolled back; plan again on fresh data
                if lost_race(e) is None:
                    raise
                result.lines = []
        raise Conflict(f"allocation {d.name} for {d.demand.entity} {demand['name']}: the supply kept changing "
                       f"while allocating ({MAX_ATTEMPTS} attempts); try again")

    def _attempt(self, tx: Transaction, rule: CompiledAllocation, demand: dict[str, Any],
                 outstanding: dict[int, Number], backorders: list[dict[str, Any]], result: AllocationResult,
                 explain: bool) -> AllocationResult:
        """Plan on the supply as it is now, reserve every pick (raise _SupplyTaken when one is gone), write the
        allocation records."""
        d = rule.defn
        lines = load_lines(tx, rule, demand, outstanding, explain)
        plan = STRATEGIES[d.strategy](lines, [k.descending for k in rule.rank], partial=d.partial,
                                      split=d.split_lines)
        if explain:
            explain_reasons(lines, plan, d.strategy)
        self._outcome(result, lines, plan, explain)
        if not lines or not plan.ok:
            return result
        known: dict[int, Any] = {}  # supply id -> the row as read, then as written by a pick
        for pick in sorted(plan.picks, key=lambda p: lock_order(rule, p.cand.supply_id)):
            sid = pick.cand.supply_id
            after = reserve(tx, rule, sid, pick.quantity, known.get(sid, pick.cand.row))
            if after is None:
                raise _SupplyTaken
            known[sid] = after
        for old in backorders:
            tx.delete(d.result.entity, old["id"])
        self._write(tx, rule, demand, result)
        return result

    def _outstanding(self, rule: CompiledAllocation, demand: dict[str, Any],
                     existing: list[dict[str, Any]]) -> dict[int, Number]:
        d = rule.defn
        lines = demand.get(d.demand.lines) or []
        active = [r for r in existing if r[d.result.status] in ACTIVE]
        if active and d.result.line is None:
            raise Conflict(f"{d.demand.entity} {demand['name']} is already allocated by {d.name}; release it "
                           f"first (declare result.line to allocate backorders later)")
        done: dict[int, Number] = {}
        for r in active:
            lid = r[d.result.line] if d.result.line else None
            if lid is not None:
                done[lid] = done.get(lid, 0) + num(r[d.result.quantity])
        return {ln["id"]: num(ln.get(d.demand.quantity)) - done.get(ln["id"], 0) for ln in lines}

    def _outcome(self, result: AllocationResult, lines: list[LineDemand], plan: Plan, explain: bool) -> None:
        by_line = {ln.line_id: LineResult(ln.line_id, ln.idx, ln.item_label, ln.quantity) for ln in lines}
        for p in plan.picks:
            by_line[p.line.line_id].allocated.append(
                Allocated(p.line.line_id, p.cand.supply_id, p.cand.supply_name, p.cand.location_label, p.quantity,
                          location_value=p.cand.location))
        for lid, qty in plan.backorder.items():
            by_line[lid].backorder = qty
        if explain:
            for ln in lines:
                by_line[ln.line_id].candidates = explain_candidates(ln)
        result.lines = list(by_line.values())
        result.message = plan.note
        if not lines:
            result.status, result.message = "nothing_to_do", "every line is already allocated"
        elif not plan.ok:
            result.status = "unallocated"
        elif plan.backorder:
            result.status = "partial"
        else:
            result.status = "allocated"

    def _write(self, tx: Transaction, rule: CompiledAllocation, demand: dict[str, Any],
               result: AllocationResult) -> None:
        r = rule.defn.result
        lines = {ln["id"]: ln for ln in demand.get(rule.defn.demand.lines) or []}
        values, picks = [], []
        for line in result.lines:
            item = lines[line.line_id].get(rule.defn.demand.item)
            for a in line.allocated:
                values.append(self._values(rule, demand, line.line_id, item, a.supply_id, a.location_value,
                                           a.quantity, "reserved"))
                picks.append(a)
            if line.backorder:
                values.append(self._values(rule, demand, line.line_id, item, None, None, line.backorder, "backorder"))
                picks.append(None)
        uow = tx.uow
        key = _key(rule, demand["id"])
        known, writes = uow.known_rows(key), uow.writes  # the demand's records, if nobody wrote any since read
        for a, rec in zip(picks, tx.create_many(r.entity, values), strict=True):  # in order, one INSERT
            if a is not None:
                a.record_id = rec["id"]
            result.records.append(rec)
        if known is not None and uow.writes - writes == len(values):  # the creates only: the rows are known
            made = [uow.get(r.entity, rec["id"]) for rec in result.records]
            if all(m is not None for m in made):
                rows = sorted(known + made, key=lambda row: row["id"])  # type: ignore[operator]
                uow.remember_rows(rule.result_table.name, key, rows)
        self._write_line_locations(tx, rule, demand, result)

    def _write_line_locations(self, tx: Transaction, rule: CompiledAllocation, demand: dict[str, Any],
                              result: AllocationResult) -> None:
        """Copy each line's location (the largest share) onto the line, when the rule asks for it."""
        d = rule.defn.demand
        if not d.location:
            return
        chosen = {line.line_id: max(line.allocated, key=lambda a: a.quantity).location_value
                  for line in result.lines if line.allocated}
        if not chosen:
            return
        if rule.lines_targeted:  # no computed field or rule reads it: only the changed rows' field is written
            write_rows(tx, d.entity, demand["id"], d.lines, {lid: {d.location: loc} for lid, loc in chosen.items()})
        else:  # every line is named (rows left out would be removed), in their order
            rows = [{"id": ln["id"], **({d.location: chosen[ln["id"]]} if ln["id"] in chosen else {})}
                    for ln in demand.get(d.lines) or []]
            tx.update(d.entity, demand["id"], {d.lines: rows})

    def _values(self, rule: CompiledAllocation, demand: dict[str, Any], line_id: int, item: Any,
                supply_id: int | None, location: Any, qty: Number, status: str) -> dict[str, Any]:
        r = rule.defn.result
        values: dict[str, Any] = {r.demand: demand["id"], r.supply: supply_id, r.quantity: qty, r.status: status}
        if r.line:
            values[r.line] = line_id
        if r.item:
            values[r.item] = item
        if r.location and supply_id is not None:
            values[r.location] = location
        return values

    # -- release / consume
    def release(self, tx: Transaction, rule_name: str, record_id: int | str) -> AllocationResult:
        """Give back every reservation of a demand (e.g. on cancel); backorders are released too."""
        return self._finish(tx, rule_name, record_id, consume=False, only=None)

    def consume(self, tx: Transaction, rule_name: str, record_id: int | str, *,
                records: Iterable[int] | None = None) -> AllocationResult:
        """Use up reservations on fulfilment: reserved (and on hand, when declared) go down.
        ``records``: ids of the allocation records to consume (default: every reserved one)."""
        return self._finish(tx, rule_name, record_id, consume=True, only=None if records is None else set(records))

    def _finish(self, tx: Transaction, rule_name: str, record_id: int | str, *, consume: bool,
                only: set[int] | None) -> AllocationResult:
        """Release or consume in a savepoint, run again when it loses a deadlock or serialization race
        (PostgreSQL; a SQLite write transaction holds the database's write lock: no race, no savepoint)."""
        if tx.uow.locks_all:
            return self._finish_once(tx, rule_name, record_id, consume, only)
        what = f"{'consuming' if consume else 'releasing'} allocation {rule_name} of {record_id}"
        return retrying_savepoint(tx.conn, lambda: self._finish_once(tx, rule_name, record_id, consume, only), what)

    def _finish_once(self, tx: Transaction, rule_name: str, record_id: int | str, consume: bool,
                     only: set[int] | None) -> AllocationResult:
        rule = self.rule(rule_name)
        d = rule.defn
        r = d.result
        demand = tx.load(d.demand.entity, record_id, for_update=True)
        status = "consumed" if consume else "released"
        result = AllocationResult(d.name, d.demand.entity, demand["id"], demand["name"], d.strategy, status)
        rows = self._records(tx, rule, demand["id"])
        if only is not None:
            unknown = only - {row["id"] for row in rows if row[r.status] == "reserved"}
            if unknown:
                raise UsageError(f"records {sorted(unknown)} are not reserved allocations of {demand['name']}")
        rows.sort(key=lambda row: (lock_order(rule, row[r.supply] or 0), row["id"]))  # the global lock order
        for row in rows:
            state = row[r.status]
            if only is not None and row["id"] not in only:
                continue
            if state == "reserved":
                qty = num(row[r.quantity])
                if unreserve(tx, rule, row[r.supply], qty, consume) is None:
                    raise Conflict(f"supply {row[r.supply]} no longer holds the {qty} reserved by allocation "
                                   f"{row['name']} (changed outside allocation?); nothing was {status}")
                result.records.append(tx.update(r.entity, row["id"], {r.status: status}))
            elif state == "backorder" and not consume:
                result.records.append(tx.update(r.entity, row["id"], {r.status: "released"}))
        if not result.records:
            result.message = f"nothing to {'consume' if consume else 'release'}"
        return result


def _key(rule: CompiledAllocation, demand_id: int) -> tuple[str, str, Any]:
    """The unit of work's key of a demand's allocation records (``UnitOfWork.remember_rows``)."""
    return (rule.defn.result.entity, rule.defn.result.demand, demand_id)


def _whole_reads(tx: Transaction, rule: str, entities: Iterable[str]) -> None:
    """An App running unpublished definitions (``App(authority=...)``) plans an allocation only for a user who
    may read every row and field of its demand and supply entities: the rule's candidate statements read
    supply rows as the definition's authority, and its explain shows them."""
    perms = tx.app.permissions
    for entity in entities:
        if perms.rules(tx.user, entity, "read") is not None or perms.hidden(tx.user, entity):
            raise PermissionDenied(f"{tx.user.name} may not run allocation {rule} of unpublished definitions: "
                                   f"it reads {entity} records they may read only in part")
