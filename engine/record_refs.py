"""Two write-path steps of :class:`~ordo.engine.records.Transaction` kept apart from it: what a delete does
to the records linking to the deleted one (its links' ``on_delete``), and ``update_many``'s paging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import lean
from .compiled import CompiledEntity
from .errors import Conflict, FieldError, NotFound, ValidationFailed

if TYPE_CHECKING:
    from .records import Transaction

Record = dict[str, Any]


def handle_references(tx: Transaction, ce: CompiledEntity, current: Record) -> None:
    """Before ``current`` (of ``ce``) is deleted: refuse (``restrict``), clear (``set_null``, child rows) or
    delete (``cascade``) the records linking to it, with the statements of its write plan."""
    refs = tx.plan(ce.name).refs
    for (_table, column, owner, parent), (select, set_null) in zip(ce.links_in, refs, strict=True):
        field = tx.app.compiled.entities[owner].fields[column].defn
        ids = [r.id for r in lean.execute(tx.conn, select, {"_target": current["id"]})]
        if not ids:
            continue
        if field.on_delete == "restrict":
            where = parent or owner
            # a restricted user is not told how many records (some may be hidden from them)
            count = f"{len(ids)}{'+' if len(ids) == 1000 else ''} " if tx.guard is None else ""
            raise Conflict(f"cannot delete {ce.name} {current['name']}: still used by {count}{where} "
                           f"record(s) (field {column})")
        if field.on_delete == "set_null" or parent is not None:
            lean.execute(tx.conn, set_null, {"_target": current["id"]})
            tx.forget(parent or owner)
        else:
            for rid in ids:
                try:
                    tx.delete(owner, rid)
                except NotFound:  # a dependent record the user may not read: not named
                    raise Conflict(f"cannot delete {ce.name} {current['name']}: {owner} records that depend "
                                   f"on it (field {column}) cannot be deleted by {tx.user.name}") from None


def update_many(tx: Transaction, entity: str, where: str | None, data: Mapping[str, Any],
                params: Mapping[str, Any] | None, limit: int | None, page_size: int) -> list[Record]:
    """``Transaction.update_many``: the matching records read in pages of ``page_size`` by id, each updated
    through the full pipeline; one refused record refuses the batch (its errors name the record)."""
    updated: list[Record] = []
    after_key = "ordo_after_id"
    while after_key in (params or {}):
        after_key += "_"
    page_where, page_params = where, dict(params or {})  # the first page: the caller's filter as given
    while limit is None or len(updated) < limit:
        size = page_size if limit is None else min(page_size, limit - len(updated))
        page = tx.query(entity, page_where, page_params, order_by="id", limit=size)
        _load_page(tx, entity, [rec["id"] for rec in page])
        for rec in page:
            try:
                updated.append(tx.update(entity, rec["id"], data))
            except ValidationFailed as e:
                raise ValidationFailed(entity, [FieldError(f"{rec['name']}.{err.field}".rstrip("."),
                                                           err.message) for err in e.errors]) from None
        if len(page) < size:
            break
        page_where = f"id > :{after_key}" if where is None else f"({where}) and id > :{after_key}"
        page_params = {**(params or {}), after_key: page[-1]["id"]}
    return updated


def _load_page(tx: Transaction, entity: str, ids: list[int]) -> None:
    """The whole records of an ``update_many`` page into the unit of work, locked (PostgreSQL: ``FOR
    UPDATE``): one SELECT per page (and per table field) instead of one per record. Not for a user with
    row rules on ``entity``: each record is read with them (see ``Transaction.load``)."""
    uow = tx.uow
    lock = tx.conn.dialect.name == "postgresql"
    ids = [i for i in ids if (entity, i) not in uow.records or (lock and (entity, i) not in uow.locked)]
    if not ids or tx.app.permissions.rules(tx.user, entity, "read") is not None:
        return
    ce = tx.app.compiled.entity(entity)
    plan = tx.plan(entity)
    q = plan.shaped.get(("update_many page", lock))
    if q is None:
        t = plan.table
        q = sa.select(t).where(t.c.id.in_(sa.bindparam("ids", expanding=True))).order_by(t.c.id)
        q = plan.shaped[("update_many page", lock)] = q.with_for_update() if lock else q
    recs = [dict(row._mapping) for row in tx.conn.execute(q, {"ids": ids})]
    tx._attach_children(ce, recs)
    for rec in recs:
        uow.put(entity, rec, locked=lock)
