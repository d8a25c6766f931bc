"""Atomic changes to supply quantities.

Reserving is one conditional statement::

    UPDATE supply SET reserved = reserved + :q, version = version + 1, ...
    WHERE id = :id AND <available expression> >= :q

so two transactions can never reserve the same units: on PostgreSQL the second
waits for the first's row lock and re-checks the condition on the committed
row; SQLite serializes writers. Release and consume are guarded the same way.

Every path (allocate, release, consume) changes supply rows in one global order,
:func:`lock_order` (supply table, then id), so two transactions never wait for
each other's rows in opposite orders.
The write is audited, computed fields of the supply are refreshed, and write
listeners see it like any other update, all inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..audit import diff, write
from ..coerce import coerce
from ..records import WriteEvent
from .compile import CompiledAllocation
from .strategies import Number

if TYPE_CHECKING:
    from ..records import Transaction


def lock_order(rule: CompiledAllocation, supply_id: int) -> tuple[str, int]:
    """The sort key of a supply row in the one order all allocation paths lock rows in."""
    return rule.supply_table.name, supply_id


def adjust(tx: Transaction, rule: CompiledAllocation, supply_id: int, deltas: Mapping[str, Number],
           guard: Any) -> dict[str, Any] | None:
    """Add ``deltas`` (field -> amount) to one supply row if ``guard`` holds; the row after, or None."""
    t = rule.supply_table
    now = tx.now
    values: dict[str, Any] = {
        name: t.c[name] + sa.bindparam(f"d_{name}", delta, type_=t.c[name].type) for name, delta in deltas.items()
    }
    values.update(version=t.c.version + 1, updated_at=now, updated_by=tx.user.name)
    stmt = sa.update(t).where(t.c.id == supply_id, guard).values(values).returning(*t.c)
    row = tx.conn.execute(stmt).first()
    if row is None:
        return None
    tx.forget(rule.supply.name, supply_id)  # written here, not through tx.update (the row is learnt below)
    after = dict(row._mapping)
    before = {**after, "version": after["version"] - 1}
    for name, delta in deltas.items():
        before[name] = after[name] - delta
    ce = rule.supply
    if ce.computed_order:
        _compute(tx, rule, before)
        changed = _compute(tx, rule, after)
        tx.conn.execute(sa.update(t).where(t.c.id == supply_id).values(changed))
    if not ce.table_fields:  # the whole row as stored now, locked by this UPDATE: later reads need not load it
        tx.uow.put(ce.name, after, locked=True)
    write(tx.conn, at=now, user=tx.user.name, entity=ce.name, record_id=supply_id, record_name=after.get("name"),
          action="update", changes=diff(before, after, ["name", *ce.fields]))
    event = WriteEvent(ce.name, "update", before, after)
    for listener in tx.app.listeners:
        listener(tx, event)
    return after


def _compute(tx: Transaction, rule: CompiledAllocation, rec: dict[str, Any]) -> dict[str, Any]:
    ce = rule.supply
    changed = {}
    for name in ce.computed_order:
        cf = ce.fields[name]
        assert cf.computed is not None
        rec[name] = changed[name] = coerce(cf.defn, cf.computed(rec, tx.env), cf.kind)
    return changed


def reserve(tx: Transaction, rule: CompiledAllocation, supply_id: int, qty: Number) -> dict[str, Any] | None:
    """Reserve ``qty`` if that much is still available (else None: someone was faster)."""
    reserved = rule.defn.supply.reserved
    guard = rule.available_sql >= sa.bindparam("q", qty, type_=rule.supply_table.c[reserved].type)
    return adjust(tx, rule, supply_id, {reserved: qty}, guard)


def unreserve(tx: Transaction, rule: CompiledAllocation, supply_id: int, qty: Number,
              consume: bool) -> dict[str, Any] | None:
    """Give back (release) or use up (consume: also from on hand) a reserved quantity."""
    s = rule.defn.supply
    t = rule.supply_table
    deltas: dict[str, Number] = {s.reserved: -qty}
    guard = t.c[s.reserved] >= sa.bindparam("q", qty, type_=t.c[s.reserved].type)
    if consume and s.on_hand is not None:
        deltas[s.on_hand] = -qty
        guard = sa.and_(guard, t.c[s.on_hand] >= sa.bindparam("q2", qty, type_=t.c[s.on_hand].type))
    return adjust(tx, rule, supply_id, deltas, guard)
