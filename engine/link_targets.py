"""What a link value written by the acting user names: the target row, looked up once per transaction.

A record the user may not read is refused like a missing one (a link cannot be used to learn that a record
exists), unless the link is already on a record read in this transaction: keeping a stored value is not
learning anything (the links on records read are kept by :func:`keep`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .compiled import CompiledEntity

if TYPE_CHECKING:
    from .records import Transaction

Record = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """A link target known to the unit of work (what ``link_target`` callers read of a row)."""

    id: int
    name: str | None


def find(tx: Transaction, entity: str, key: int | str) -> Any:
    """The row (``.id``, ``.name``) of ``entity`` that the link value ``key`` names for ``tx``'s user, or None."""
    ce = tx.app.compiled.entities[entity]
    filtered = tx.app.permissions.rules(tx.user, entity, "read") is not None
    uow = tx.uow
    cache_key = (entity, key)
    if not filtered and cache_key in uow.targets:  # each link value is looked up once per transaction
        return uow.targets[cache_key]
    known = None if filtered else uow.get(entity, key)
    if known is not None:
        row: Any = Target(known["id"], known.get("name"))
    else:
        row = tx._row(ce, key, readable=filtered)
        if row is None and tx._kept_links:
            row = tx._row(ce, key)
            if row is not None and (entity, row.id) not in tx._kept_links:
                row = None
        if row is not None and not ce.table_fields:  # the whole record: rules reading it need no SELECT
            uow.put(entity, dict(row._mapping))
    if row is not None and not filtered:  # a missing one may be created later in the transaction
        uow.targets[cache_key] = row
    return row


def keep(kept: set[tuple[str, int]], ce: CompiledEntity, rec: Record) -> None:
    """Remember the links on ``rec`` (of ``ce``, its child rows included), read in this transaction."""
    for cf in ce.fields.values():
        if cf.defn.type == "link" and rec.get(cf.name) is not None:
            kept.add((cf.defn.entity or "", rec[cf.name]))
        elif cf.child is not None:
            for row in rec.get(cf.name) or []:
                keep(kept, cf.child, row)
