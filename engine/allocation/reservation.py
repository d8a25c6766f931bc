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
The write is audited, computed fields of the supply are written (by the same
UPDATE when the row was read before, see :func:`adjust`), and write listeners
see it like any other update, all inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import lean
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


def _statement(rule: CompiledAllocation, names: tuple[str, ...], key: str, guard: Callable[[], Any],
               computed: tuple[str, ...] = ()) -> Any:
    """The guarded UPDATE adding ``d_<name>`` to each of ``names`` (``key`` names the guard) and setting the
    ``computed`` fields to ``c_<name>``, built once per rule and shape:
    ``UPDATE ... WHERE id = :_sid AND <guard> RETURNING *``."""
    found = rule.statements.get((key, names, computed))
    if found is None:
        t = rule.supply_table
        values: dict[str, Any] = {
            name: t.c[name] + sa.bindparam(f"d_{name}", type_=t.c[name].type) for name in names
        }
        values.update({name: sa.bindparam(f"c_{name}", type_=t.c[name].type) for name in computed})
        values.update(version=t.c.version + 1, updated_at=sa.bindparam("_now", type_=t.c.updated_at.type),
                      updated_by=sa.bindparam("_by", type_=t.c.updated_by.type))
        found = sa.update(t).where(t.c.id == sa.bindparam("_sid"), guard()).values(values).returning(*t.c)
        rule.statements[(key, names, computed)] = found
    return found


def adjust(tx: Transaction, rule: CompiledAllocation, supply_id: int, deltas: Mapping[str, Number],
           key: str, guard: Callable[[], Any], params: Mapping[str, Any],
           known: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Add ``deltas`` (field -> amount) to one supply row if the guard (built by ``guard`` once per ``key``,
    bound to ``params``) holds; the row after, or None.

    The supply's computed fields are written by the same UPDATE when the row is ``known`` (as read before):
    computed on that row with the deltas applied. Should the row returned differ from it (another
    transaction wrote it in between, PostgreSQL), they are computed again on the row returned and written
    by a second UPDATE."""
    ce = rule.supply
    now = tx.now
    bound = {**params, "_sid": supply_id, "_now": now, "_by": tx.user.name}
    for name, delta in deltas.items():
        bound[f"d_{name}"] = delta
    expected = None
    computed: tuple[str, ...] = ()
    if ce.computed_order and known is not None and all(known.get(name) is not None for name in deltas):
        expected = dict(known)
        for name, delta in deltas.items():
            expected[name] = expected[name] + delta
        for name, value in _compute(tx, rule, expected).items():
            bound[f"c_{name}"] = value
        computed = tuple(ce.computed_order)
    stmt = _statement(rule, tuple(deltas), key, guard, computed)
    row = lean.execute(tx.conn, stmt, bound).first()
    if row is None:
        return None
    tx.forget(rule.supply.name, supply_id)  # written here, not through tx.update (the row is learnt below)
    after = dict(row._mapping)
    if expected is not None and known is not None and _as_expected(after, expected):
        # nobody wrote the row in between: it was ``known`` before, its computed fields are those written
        before = {**known, "version": after["version"] - 1}
    else:
        before = _before(tx, rule, supply_id, after, deltas, computed)
    if not ce.table_fields:  # the whole row as stored now, locked by this UPDATE: later reads need not load it
        tx.uow.put(ce.name, after, locked=True, tables=())
    changed_fields = [*deltas, *ce.computed_order]  # before differs from after in these only (and version)
    write(tx.conn, at=now, user=tx.user.name, entity=ce.name, record_id=supply_id, record_name=after.get("name"),
          action="update", changes=diff(before, after, changed_fields))
    event = WriteEvent(ce.name, "update", before, after)
    for listener in tx.app.listeners:
        listener(tx, event)
    return after


_SYSTEM = frozenset({"version", "updated_at", "updated_by"})


def _as_expected(after: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """Whether the row returned is the row as read with the deltas and computed fields applied (system
    columns aside)."""
    return all(after.get(k) == v for k, v in expected.items() if k not in _SYSTEM)


def _before(tx: Transaction, rule: CompiledAllocation, supply_id: int, after: dict[str, Any],
            deltas: Mapping[str, Number], computed: tuple[str, ...]) -> dict[str, Any]:
    """The row before the UPDATE, worked out from the row after it (its computed fields computed again);
    the computed fields written again when they differ from what the UPDATE wrote."""
    ce = rule.supply
    t = rule.supply_table
    before = {**after, "version": after["version"] - 1}
    for name, delta in deltas.items():
        before[name] = after[name] - delta
    if ce.computed_order:
        _compute(tx, rule, before)
        written = {name: after[name] for name in computed}
        changed = _compute(tx, rule, after)
        if changed != written:  # not known, or changed by another transaction since it was read
            refresh = rule.statements.get("computed")
            if refresh is None:
                refresh = rule.statements["computed"] = sa.update(t).where(t.c.id == sa.bindparam("_sid"))
            lean.execute(tx.conn, refresh, {**changed, "_sid": supply_id})
    return before


def _compute(tx: Transaction, rule: CompiledAllocation, rec: dict[str, Any]) -> dict[str, Any]:
    ce = rule.supply
    changed = {}
    for name in ce.computed_order:
        cf = ce.fields[name]
        assert cf.computed is not None
        rec[name] = changed[name] = coerce(cf.defn, cf.computed(rec, tx.env), cf.kind)
    return changed


def reserve(tx: Transaction, rule: CompiledAllocation, supply_id: int, qty: Number,
            known: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Reserve ``qty`` if that much is still available (else None: someone was faster); ``known``: the row
    as read (see :func:`adjust`)."""
    reserved = rule.defn.supply.reserved
    return adjust(tx, rule, supply_id, {reserved: qty}, "reserve",
                  lambda: rule.available_sql >= sa.bindparam("q", type_=rule.supply_table.c[reserved].type),
                  {"q": qty}, known)


def unreserve(tx: Transaction, rule: CompiledAllocation, supply_id: int, qty: Number,
              consume: bool) -> dict[str, Any] | None:
    """Give back (release) or use up (consume: also from on hand) a reserved quantity."""
    s = rule.defn.supply
    t = rule.supply_table
    deltas: dict[str, Number] = {s.reserved: -qty}
    on_hand = consume and s.on_hand is not None
    if on_hand:
        deltas[s.on_hand] = -qty  # type: ignore[index]

    def guard() -> Any:
        held = t.c[s.reserved] >= sa.bindparam("q", type_=t.c[s.reserved].type)
        if on_hand:
            return sa.and_(held, t.c[s.on_hand] >= sa.bindparam("q2", type_=t.c[s.on_hand].type))
        return held

    params = {"q": qty, "q2": qty} if on_hand else {"q": qty}
    known = tx.uow.records.get((rule.supply.name, supply_id))  # written earlier in this transaction, say
    return adjust(tx, rule, supply_id, deltas, "take" if on_hand else "give", guard, params, known)
