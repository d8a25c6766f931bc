"""The fields a run kept on its own record (see :mod:`.pending`), and its state, written without the pipeline.

What a run keeps is, by construction, what the update pipeline would store unchanged: plain stored fields
(coerced when they were set) that no computed field and no related field's filter reads. The state field
joins them when no computed field reads it (as :mod:`.mirror` writes it alone). Writing those needs none
of the pipeline's other steps: no link to look up, no default, no computed field to compute again (on an
order with many lines, most of the update's cost). Everything a write means still happens: the record is
read for update as the pipeline reads it, validated (field checks of the fields it writes: the others are as
stored; the entity rules a flow's write meets, uniqueness), written by the entity's own UPDATE (only the fields that change, ``version`` checked and
raised, ``updated_at``/``updated_by`` set, the row returned as stored), learnt by the unit of work,
audited, and the write listeners see an ``update`` event. Anything else goes through the full update.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import audit
from ..coerce import CoercionError
from ..errors import Conflict, FieldError, ValidationFailed
from ..records import WriteEvent
from ..validation import validate_record
from . import mirror, pending

if TYPE_CHECKING:
    from .runner import Run


def write(run: Run, kept: dict[str, Any], extra: dict[str, Any]) -> bool:
    """Write ``kept`` (the fields the run kept, coerced) and ``extra`` (the state field) on the run's record
    without the pipeline; False (nothing done) when a field needs it, or the record is gone."""
    ce = run.tx.app.compiled.entity(run.inst.entity)
    plain = pending.deferrable(run)
    state = run.flow.defn.state_field
    if any(f not in plain for f in kept):
        return False
    values = dict(kept)
    for f, v in extra.items():
        if f != state or mirror.plan(run, f).stmt is None:  # a computed field reads it
            return False
        try:
            values[f] = ce.fields[f].coerce(v)
        except CoercionError:
            return False  # the pipeline names the field
    with run.authority() as tx:
        current = tx._fetch(ce.name, run.inst.record_id, for_update=True)
        if current is None:
            return False
        rec = {**current, **values}
        errors: list[FieldError] = []
        validate_record(tx, ce, rec, errors, record_id=current["id"], before=current, fields=values)
        if errors:
            raise ValidationFailed(ce.name, errors)
        now = tx.now
        p = tx.plan(ce.name)
        names = tuple([n for n in ce.stored_names if n in values])  # (rec: current + values: only these differ)
        sets = p.update_values(names, current, rec)  # the changed fields only
        sets.update(updated_at=now, updated_by=tx.user.name, version=current["version"] + 1, _id=current["id"],
                    _version=current["version"])
        stored = tx._update_row(p, sets, ce.name, current)
        if stored is None:
            raise Conflict(f"{ce.name} {current['name']} was changed by someone else; reload and retry")
        for cf in ce.table_fields:
            stored[cf.name] = current[cf.name]
        tx._stored(ce, stored)
        tx._written(ce.name, current["id"], stored["version"])
        delta = audit.diff(current, stored, list(values))  # (no other field changes: see the module doc)
        if delta:
            audit.write(tx.conn, at=now, user=tx.user.name, entity=ce.name, record_id=current["id"],
                        record_name=current["name"], action="update", changes=delta)
        tx._emit(WriteEvent(ce.name, "update", current, stored))
    return True
