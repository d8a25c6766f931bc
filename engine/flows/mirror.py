"""The flow's state shown on its record (``state_field``): one targeted ``UPDATE``.

Mirroring the state is a write like any other for everyone who looks: the record's ``version``
goes up (optimistic locking sees it), ``updated_at``/``updated_by`` are set, the change is
audited, the record is validated as a flow's write is (field checks, the entity rules that
read the state field, uniqueness) and the write listeners see an ``update`` event. What it does
not do is run the whole update pipeline for one field: the record in hand (the flow's) is the
``before``, the statement is compiled once per (entity, field) and sets four columns, and
nothing is read back. The whole pipeline still runs where it is needed: a computed field that
reads the state field, or a record that changed since the flow read it (the targeted write
finds another ``version``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import audit, held_inserts, lean, unit_of_work
from ..coerce import CoercionError, coerce
from ..compiled import CompiledEntity
from ..errors import FieldError, ValidationFailed
from ..records import WriteEvent
from ..validation import validate_record
from . import pending

if TYPE_CHECKING:
    from ..records import Transaction
    from .runner import Run

P = sa.bindparam


class MirrorPlan:
    """How the state field of one entity is written: the compiled statement, or None for the full update."""

    def __init__(self, ce: CompiledEntity, field: str) -> None:
        self.ce, self.field = ce, field
        self.stmt: Any = None
        if pending.computed_readers(ce, field):
            return  # a computed field follows the state: the update pipeline computes it
        t = ce.table
        assert t is not None
        self.stmt = sa.update(t).where(t.c.id == P("k_id"), t.c.version == P("k_version")).values(
            {field: P("v_state"), "updated_at": P("v_at"), "updated_by": P("v_by"), "version": P("v_version")})


def plan(run: Run, field: str) -> MirrorPlan:
    plans: dict[tuple[str, str], MirrorPlan] = run.rt.mirror_plans
    key = (run.inst.entity, field)
    found = plans.get(key)
    if found is None:
        found = plans[key] = MirrorPlan(run.tx.app.compiled.entity(run.inst.entity), field)
    return found


def mirror(run: Run, field: str, value: Any) -> None:
    """Set the state field of the flow's record to ``value`` (nothing is written when it has it already)."""
    if run._pending:  # fields the run set: one update with them and the state (see pending.py)
        if run.record.get(field) != value:
            pending.write(run, {field: value})
        return
    rec = run._record if run._record is not None else run.tx._fetch(run.inst.entity, run.inst.record_id)
    if rec is None or rec.get(field) == value:  # gone (deleted in this transaction), or showing it already
        return
    run._record = rec
    p = plan(run, field)
    with run.authority() as tx:
        if p.stmt is None or not _targeted(tx, p, rec, value):
            tx.update(run.inst.entity, run.inst.record_id, {field: value})
            run._record = None


def _targeted(tx: Transaction, p: MirrorPlan, rec: dict[str, Any], value: Any) -> bool:
    """The targeted write; False when the record changed meanwhile (the full update runs instead)."""
    ce = p.ce
    cf = ce.fields[p.field]
    try:
        value = coerce(cf.defn, value)
    except CoercionError as e:
        raise ValidationFailed(ce.name, [FieldError(p.field, str(e))]) from None
    now = tx.now
    before = dict(rec)
    after = {**rec, p.field: value, "updated_at": now, "updated_by": tx.user.name, "version": rec["version"] + 1}
    errors: list[FieldError] = []
    validate_record(tx, ce, after, errors, record_id=rec["id"], before=before, fields=(p.field,))
    if errors:
        raise ValidationFailed(ce.name, errors)
    params = {"k_id": rec["id"], "k_version": rec["version"], "v_state": value, "v_at": now, "v_by": tx.user.name,
              "v_version": after["version"]}
    written = {p.field: value, "updated_at": now, "updated_by": tx.user.name, "version": after["version"]}
    uow = unit_of_work.holds(tx.conn)
    known = None if uow is None else uow.records.get((ce.name, rec["id"]))
    mine = tx.uow
    if mine.inserts.rows and held_inserts.fold(mine, ce.table.name, rec["id"], rec["version"], dict(written)):
        pass  # the record's INSERT is held back by its create: it carries the state (see held_inserts)
    elif known is not None and known["version"] == rec["version"]:  # SQLite: as the transaction holds it, locked
        unit_of_work.hold(uow, tx.conn, (ce.name, rec["id"]), p.stmt, params, ce.table.name,
                          f"{ce.name} {rec.get('name')}")
    elif lean.execute(tx.conn, p.stmt, params).rowcount != 1:
        return False
    rec.update(after)  # the flow's record is the committed one now (also for the write that started the flow)
    tx.uow.patch(ce.name, rec["id"], written)  # reads later in the transaction see it
    tx.uow.changed((ce.table.name,), (ce.name, rec["id"]))  # aggregates over the entity are stale
    tx._written(ce.name, rec["id"], rec["version"])
    audit.write(tx.conn, at=now, user=tx.user.name, entity=ce.name, record_id=rec["id"], record_name=rec.get("name"),
                action="update", changes=audit.diff(before, rec, ["name", *ce.fields]))
    event = WriteEvent(ce.name, "update", before, dict(rec))
    for listener in tx.app.listeners:
        listener(tx, event)
    return True
