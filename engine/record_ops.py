"""Splitting and merging records, as declared by an entity's ``split:`` and ``merge:``.

Split moves some child rows (or part of a row's quantity) of a record to a new
record with the same header; merge gathers the rows of records that agree on the
``match`` fields into the oldest of them, keeping the original names. Both run
through the ordinary create/update pipeline (validation, audit, listeners) in
the caller's transaction, so they succeed or fail as a whole.

A split is remembered (``ordo_split_lineage``: each record split from another joins
that record's split family), so ``merge --auto`` never merges records of one family
back together; a person may still merge them explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .compiled import CompiledEntity
from .errors import FieldError, UsageError, ValidationFailed
from .naming import next_number
from .tables import SYSTEM_METADATA

if TYPE_CHECKING:
    from .records import Record, Transaction, WriteEvent

# Records split from one another share a family number (from the ``ordo_series`` counter
# below, never reused even when ids are); a record never split has no row.
lineage_table = sa.Table(
    "ordo_split_lineage",
    SYSTEM_METADATA,
    sa.Column("entity", sa.String(140), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("family", sa.BigInteger, nullable=False),
    sa.Column("split_from", sa.BigInteger),  # the record it was split from (null for the first one)
    sa.Index("ix_ordo_split_lineage_family", "entity", "family"),
)
FAMILY_SERIES = "ordo:split-family"


def _spec(ce: CompiledEntity, op: str) -> Any:
    spec = getattr(ce.defn, op)
    if spec is None:
        raise UsageError(f"{ce.name} records cannot be {op}{'ed' if op == 'merge' else ''} "
                         f"(its definition has no '{op}:')")
    return spec


def _header(ce: CompiledEntity, rec: Mapping[str, Any], skip: set[str]) -> dict[str, Any]:
    return {f.name: rec.get(f.name) for f in ce.stored_fields
            if f.computed is None and f.name not in skip}


def _row_copy(row: Mapping[str, Any], ce: CompiledEntity) -> dict[str, Any]:
    return {f.name: row.get(f.name) for f in ce.stored_fields if f.computed is None}


def split(tx: Transaction, entity: str, key: int | str, parts: Sequence[int | Mapping[str, Any]]) -> tuple[Record, Record]:
    """Move rows to a new record; ``parts`` are row ids, or ``{"id": .., <quantity field>: n}`` to move part
    of a row. Returns (the original record, the new record)."""
    ce = tx.app.compiled.entity(entity)
    spec = _spec(ce, "split")
    when = tx.app.compiled.entity(entity).split_when
    rec = tx.load(entity, key, for_update=True)
    if when is not None and when(rec, tx.env) is not True:
        raise ValidationFailed(entity, [FieldError("", f"{rec['name']} cannot be split now (only while {spec.when})")])
    table = ce.fields[spec.table]
    assert table.child is not None
    rows = {r["id"]: dict(r) for r in rec[spec.table]}
    moved: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for i, part in enumerate(parts):
        part = {"id": part} if isinstance(part, int) else dict(part)
        row = rows.get(part.get("id"))
        if row is None:
            errors.append(FieldError(f"parts[{i}]", f"no row {part.get('id')!r} in {rec['name']}.{spec.table}"))
            continue
        qty = part.get(spec.quantity) if spec.quantity else None
        if qty is None or (spec.quantity and Decimal(str(qty)) == Decimal(str(row[spec.quantity]))):
            moved.append(_row_copy(row, table.child))
            del rows[row["id"]]
            continue
        qty = Decimal(str(qty))
        if qty <= 0 or qty > Decimal(str(row[spec.quantity])):
            errors.append(FieldError(f"parts[{i}].{spec.quantity}",
                                     f"must be more than 0 and at most {row[spec.quantity]}"))
            continue
        moved.append({**_row_copy(row, table.child), spec.quantity: qty})
        row[spec.quantity] = row[spec.quantity] - qty
    if not moved and not errors:
        errors.append(FieldError("parts", "name at least one row to split off"))
    if not rows and not errors:
        errors.append(FieldError("parts", "a split must leave at least one row on the original record"))
    if errors:
        raise ValidationFailed(entity, errors)
    origin: dict[str, Any] = {}
    if spec.origin_field:
        of = ce.fields[spec.origin_field]
        origin[spec.origin_field] = rec["id"] if of.defn.type == "link" else rec["name"]
    computed = {k: expr(rec, tx.env) for k, expr in ce.split_values.items()}
    with tx.carrying():  # the new record is a copy, also of fields the user may not see or set
        kept = tx.update(entity, rec["id"], {spec.table: [{"id": r["id"], **_row_copy(r, table.child)}
                                                          for r in rows.values()]})
        new = tx.create(entity, {**_header(ce, rec, {spec.table}), **origin, **computed, spec.table: moved})
    _remember_split(tx.conn, entity, rec["id"], new["id"])
    return kept, new


def _remember_split(conn: sa.Connection, entity: str, original: int, new: int) -> None:
    """Put ``new`` in the split family of ``original`` (starting one if it has none)."""
    t = lineage_table
    family = conn.execute(sa.select(t.c.family).where(t.c.entity == entity, t.c.record_id == original)).scalar()
    if family is None:
        family = next_number(conn, FAMILY_SERIES)
        conn.execute(sa.insert(t).values(entity=entity, record_id=original, family=family, split_from=None))
    conn.execute(sa.insert(t).values(entity=entity, record_id=new, family=family, split_from=original))


def split_families(conn: sa.Connection, entity: str, ids: Sequence[int]) -> dict[int, int]:
    """Record id -> split family, for those of ``ids`` that were split or split off."""
    t = lineage_table
    q = sa.select(t.c.record_id, t.c.family).where(t.c.entity == entity, t.c.record_id.in_(list(ids)))
    return {int(r[0]): int(r[1]) for r in conn.execute(q)}


def forget_deleted(tx: Transaction, event: WriteEvent) -> None:
    """Write listener: a deleted record leaves its split family (SQLite may reuse its id)."""
    if event.action == "delete" and event.before is not None and \
            tx.app.compiled.entity(event.entity).defn.split is not None:
        t = lineage_table
        tx.conn.execute(sa.delete(t).where(t.c.entity == event.entity, t.c.record_id == event.before["id"]))


def _apart(group: Sequence[int], families: Mapping[int, int]) -> list[list[int]]:
    """Split a group of mergeable ids (oldest first) so that no two records of one split family
    end up together: each record joins the first subgroup without its family."""
    subgroups: list[tuple[list[int], set[int]]] = []
    for rid in group:
        family = families.get(rid)
        target = next((sg for sg in subgroups if family is None or family not in sg[1]), None)
        if target is None:
            target = ([], set())
            subgroups.append(target)
        target[0].append(rid)
        if family is not None:
            target[1].add(family)
    return [ids for ids, _ in subgroups if len(ids) > 1]


def merge(tx: Transaction, entity: str, keys: Sequence[int | str]) -> Record:
    """Gather the rows of the given records into the oldest one; return it."""
    ce = tx.app.compiled.entity(entity)
    spec = _spec(ce, "merge")
    if len(keys) < 2:
        raise UsageError("name at least two records to merge")
    recs = sorted((tx.load(entity, k, for_update=True) for k in keys), key=lambda r: r["id"])
    errors: list[FieldError] = []
    when = ce.merge_when
    for r in recs:
        if when is not None and when(r, tx.env) is not True:
            errors.append(FieldError(r["name"], f"cannot be merged now (only while {spec.when})"))
    hidden = tx.app.permissions.hidden(tx.user, entity)
    for name in spec.match:
        values = {r["name"]: r.get(name) for r in recs}
        if len({repr(v) for v in values.values()}) > 1:  # values hidden from the user are not shown
            errors.append(FieldError("" if name in hidden else name, "the records differ" if name in hidden
                                     else f"differs between the records: {values}"))
    if errors:
        raise ValidationFailed(entity, errors)
    target, others = recs[0], recs[1:]
    table = ce.fields[spec.table]
    assert table.child is not None
    rows = [*({"id": row["id"], **_row_copy(row, table.child)} for row in target[spec.table]),
            *(_row_copy(row, table.child) for r in others for row in r[spec.table])]
    data: dict[str, Any] = {spec.table: rows}
    if spec.names_field:
        names: list[str] = []
        for r in recs:
            for n in [*(r.get(spec.names_field) or "").split(","), r["name"]]:
                if n.strip() and n.strip() not in names:
                    names.append(n.strip())
        data[spec.names_field] = ", ".join(names)
    with tx.carrying():  # the definition's values, whatever fields the user may set
        for r in others:
            if spec.mark:  # absorbed records keep their rows for reference and carry the mark
                tx.update(entity, r["id"], dict(spec.mark))
            else:
                tx.delete(entity, r["id"])
        return tx.update(entity, target["id"], data)


def merge_groups(tx: Transaction, entity: str, where: str | None = None,
                 params: Mapping[str, Any] | None = None) -> list[list[int]]:
    """Ids of records that could be merged, grouped (each group oldest first).

    Records split from one another (one split family) are never in the same group: a split
    made on purpose is not undone automatically."""
    ce = tx.app.compiled.entity(entity)
    spec = _spec(ce, "merge")
    t = ce.table
    assert t is not None
    cols = [t.c[m] for m in spec.match]
    q = sa.select(*cols, sa.func.count().label("n")).group_by(*cols).having(sa.func.count() > 1)
    conditions = []
    if spec.when:
        conditions.append(tx.app.filters.where(entity, spec.when, {})[1])
    if where:
        conditions.append(tx.where_clause(entity, where, dict(params or {})))  # the user's: guarded
    allowed = tx.row_filter(entity)
    if allowed is not None:
        conditions.append(allowed)
    q = q.where(*conditions, *[c.is_not(None) for c in cols])
    groups = []
    for row in tx.conn.execute(q, dict(params or {})).all():
        ids_q = sa.select(t.c.id).where(*conditions, *[c == v for c, v in zip(cols, row[:-1], strict=True)])
        ids = sorted(r[0] for r in tx.conn.execute(ids_q.order_by(t.c.id), dict(params or {})))
        groups.extend(_apart(ids, split_families(tx.conn, entity, ids)))
    return groups
