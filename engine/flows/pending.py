"""Field sets of a flow run on its own record, kept and written as ONE record update.

An ``action`` node's ``set`` (and the state mirror, see :mod:`.mirror`) used to be a full record
update each. A run now keeps the values it sets on its own record and writes them together, with
the state field, in one update when the run rests (``Run.sync_state``), or earlier when something
outside the run may look at the record: before any other write the run makes (``Run.authority``:
its listeners may read the record), before an ``update``/``create``/``allocate`` effect, before a
``decision`` node. Meanwhile the run's expressions read the record with the values set
(``Run.record``), coerced as the update will store them.

Only what the run can show exactly without the pipeline is kept: plain stored fields (text,
numbers, dates, booleans, enums) that no computed field and no related field's filter of the
entity reads. Anything else (a link, a table, a value that does not coerce) writes what is kept
together with it at once, through the whole update pipeline, as before. The one update is
validated, audited and seen by the write listeners like any other; listeners see the record go
from its state before the run to its state after it (not the steps in between).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..coerce import CoercionError
from ..compiled import CompiledEntity
from . import kept_write

if TYPE_CHECKING:
    from .runner import Run

PLAIN = frozenset({"string", "text", "integer", "decimal", "money", "boolean", "date", "datetime", "enum"})


def computed_readers(ce: CompiledEntity, field: str) -> set[str]:
    """The computed fields whose value depends on ``field`` (directly or through other computed fields)."""
    reads = {name: {p.parts[0] for p in cf.computed.paths() if p.root is None}
             for name, cf in ce.fields.items() if cf.computed is not None}
    found: set[str] = set()
    frontier = {field}
    while frontier:
        new = {name for name, r in reads.items() if r & frontier} - found
        found |= new
        frontier = new
    return found


def _deferrable(ce: CompiledEntity) -> frozenset[str]:
    """The fields of ``ce`` a run may keep (see the module doc)."""
    related_reads: set[str] = set()
    for cf in ce.fields.values():
        if cf.related_where is not None:
            for p in cf.related_where.paths():  # the filter's ``parent.<field>``: this record's fields it reads
                if p.root == "parent" and p.parts:
                    related_reads.add(p.parts[0])
                elif len(p.parts) > 1 and p.parts[0] == "parent":
                    related_reads.add(p.parts[1])
    return frozenset(name for name, cf in ce.fields.items()
                     if cf.defn.type in PLAIN and cf.stored and cf.computed is None and name not in related_reads
                     and not computed_readers(ce, name))


def deferrable(run: Run) -> frozenset[str]:
    cache: dict[str, tuple[CompiledEntity, frozenset[str]]] = run.rt.deferrable
    ce = run.tx.app.compiled.entity(run.inst.entity)
    found = cache.get(ce.name)
    if found is None or found[0] is not ce:
        found = cache[ce.name] = (ce, _deferrable(ce))
    return found[1]


def set_fields(run: Run, values: dict[str, Any]) -> None:
    """Set ``values`` on the run's record: kept when every field may be (see the module doc), else written
    at once together with what is kept."""
    if not values:
        return
    ce = run.tx.app.compiled.entity(run.inst.entity)
    allowed = deferrable(run)
    kept: dict[str, Any] = {}
    try:
        for f, v in values.items():
            if f not in allowed:
                raise CoercionError(f)
            kept[f] = ce.fields[f].coerce(v)
    except CoercionError:  # the pipeline decides (and names the field in its error)
        write(run, values)
        return
    run._pending.update(kept)
    if run._record is not None:
        run._record = {**run._record, **kept}


def write(run: Run, extra: dict[str, Any] | None = None) -> None:
    """Write what the run keeps (and ``extra``) as one update of its record, now."""
    kept, run._pending = run._pending, {}
    values = {**kept, **(extra or {})}
    if not values:
        return
    if not kept_write.write(run, kept, extra or {}):  # the pipeline only where it has work to do
        with run.authority() as w:
            w.update(run.inst.entity, run.inst.record_id, values)
    run._record = None
