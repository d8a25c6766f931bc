"""Record validation: required, ranges, lengths, patterns, uniqueness and entity rules.

Runs on every write after coercion, defaults and computed fields; collects every
problem so the caller sees them all at once. Field checks always run; an entity rule
runs on the writes its scope names (``on``, ``when``), and an automated write (a flow's
or a job's, ``tx.automated``) is held only to the rules that read a field it changes:
a rule about what people enter does not block a flow moving the record on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import lean
from .compiled import CompiledEntity, CompiledField
from .errors import FieldError

if TYPE_CHECKING:
    from .records import Transaction


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or value == []


def check_field(cf: CompiledField, value: Any, path: str, errors: list[FieldError]) -> None:
    d = cf.defn
    if _blank(value):
        if d.required:
            errors.append(FieldError(path, "is required"))
        return
    if cf.min_value is not None and value < cf.min_value:
        errors.append(FieldError(path, f"must be at least {d.min}"))
    if cf.max_value is not None and value > cf.max_value:
        errors.append(FieldError(path, f"must be at most {d.max}"))
    if isinstance(value, str):
        if d.min_length is not None and len(value) < d.min_length:
            errors.append(FieldError(path, f"must be at least {d.min_length} characters"))
        if d.max_length is not None and len(value) > d.max_length:
            errors.append(FieldError(path, f"must be at most {d.max_length} characters"))
        if cf.pattern is not None and not cf.pattern.fullmatch(value):
            errors.append(FieldError(path, f"does not match the pattern {d.pattern}"))


def changed_fields(ce: CompiledEntity, before: dict[str, Any] | None, after: dict[str, Any]) -> frozenset[str]:
    """The fields a write changes: every field on create (``before`` None), else those whose value differs."""
    if before is None:
        return frozenset(ce.fields)
    return frozenset(name for name, cf in ce.fields.items() if _changed(cf, name, before, after))


def _any_changed(ce: CompiledEntity, before: dict[str, Any], after: dict[str, Any], names: frozenset[str]) -> bool:
    """Whether the write changes one of ``names`` (as :func:`changed_fields` decides, for those fields only)."""
    fields = ce.fields
    return any(_changed(cf, name, before, after) for name in names if (cf := fields.get(name)) is not None)


def _changed(cf: CompiledField, name: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the write changes field ``name`` (given in ``after`` with another value than ``before``'s)."""
    if name not in after:
        return False
    old, new = before.get(name), after.get(name)
    if old is new:  # the value as stored (the same object)
        return False
    if cf.child is not None:
        old, new = _rows_view(old), _rows_view(new)
    return old != new


def _rows_view(rows: Any) -> list:
    return [{k: v for k, v in row.items() if k != "idx"} for row in rows or []]


def _rules(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any], before: dict[str, Any] | None, path: str,
           errors: list[FieldError]) -> None:
    if not ce.validations:
        return
    action = "create" if before is None else "update"
    changes = None  # worked out for the first rule that needs it (an automated write's, a `when`'s)
    when_env = None
    for v in ce.validations:
        if action not in v.on:
            continue
        if tx.automated:
            if changes is None and before is not None:  # only the fields this rule reads are compared
                if not _any_changed(ce, before, rec, v.reads):
                    continue
            else:
                changes = changed_fields(ce, before, rec) if changes is None else changes
                if not v.reads & changes:
                    continue
        if v.when is not None:
            changes = changed_fields(ce, before, rec) if changes is None else changes
            when_env = when_env or dataclasses.replace(tx.env, changes=changes)
            if v.when.fn(rec, when_env) is not True:
                continue
        if v.expr.fn(rec, tx.env) is not True:
            errors.append(FieldError(f"{path}{v.field}" if v.field else path.rstrip("."), v.message))


# uow.facts[(FREE, entity)]: unique values a caller has just found unused in this transaction, for the create
# it makes next (the intake's duplicate check): not looked up again (see :func:`unused`)
FREE = "unique values unused"


def unused(tx: Transaction, entity: str, values: dict[str, Any]) -> _Unused:
    """Inside the block, a create of ``entity`` does not look up again whether the unique group ``values``
    (column -> value as stored) is used: the caller has just found it unused in this transaction. A
    concurrent writer is still refused by the database's unique index."""
    return _Unused(tx, entity, values)


class _Unused:
    """The block of :func:`unused` (a plain context manager: an intake runs one or two per document)."""

    __slots__ = ("entity", "facts", "tx", "values")

    def __init__(self, tx: Transaction, entity: str, values: dict[str, Any]) -> None:
        self.tx, self.entity, self.values = tx, entity, values
        self.facts: dict[Any, Any] = {}

    def __enter__(self) -> None:
        self.facts = self.tx.uow.facts
        self.facts[(FREE, self.entity)] = dict(self.values)

    def __exit__(self, *exc: object) -> None:
        self.facts.pop((FREE, self.entity), None)


_GROUPS = ("unique groups",)  # an entity's unique groups, kept next to its plan's statements
_READABLE = object()


def _unique_query(tx: Transaction, plan: Any, columns: tuple[str, ...], not_id: bool, readable: Any) -> Any:
    """The statement naming the record that uses a unique group's values: built once per entity and shape;
    for a user with row rules (whose condition names the other record only when readable) once per
    transaction and rule."""
    if readable is None:
        return plan.select_by("name", columns, not_id=not_id)
    key = (_READABLE, plan.table.name, columns, not_id)
    found = tx.uow.facts.get(key)
    if found is not None and found[0] is readable:
        return found[1]
    t = plan.table
    name = sa.case((readable, t.c.name), else_=sa.null())
    q = sa.select(name.label("name")).where(*[t.c[c] == sa.bindparam(f"w_{c}") for c in columns])
    if not_id:
        q = q.where(t.c.id != sa.bindparam("not_id"))
    tx.uow.facts[key] = (readable, q.limit(1))
    return tx.uow.facts[key][1]


def _unique(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any], record_id: int | None,
            errors: list[FieldError], before: dict[str, Any] | None = None) -> None:
    """Unique values not used by another record; on update only the groups whose values change are
    looked up (the database's unique index still guards the rest)."""
    plan = tx.plan(ce.name)
    groups = plan.shaped.get(_GROUPS)
    if groups is None:
        groups = [((name,), cf.label) for name, cf in ce.fields.items() if cf.defn.unique]
        groups += [(tuple(i.fields), ", ".join(i.fields)) for i in ce.defn.index_list() if i.unique]
        plan.shaped[_GROUPS] = groups
    if not groups:
        return
    readable = tx.row_filter(ce.name)  # the other record is named only to a user who may read it
    for columns, label in groups:
        values = [rec.get(c) for c in columns]
        if any(v is None for v in values):
            continue
        if before is not None and all(before.get(c) == v for c, v in zip(columns, values, strict=True)):
            continue
        if record_id is None and tx.uow.facts.get((FREE, ce.name)) == dict(zip(columns, values, strict=True)):
            continue  # the caller just looked these values up for this create (the unique index guards)
        q = _unique_query(tx, plan, columns, record_id is not None, readable)
        params = {f"w_{c}": v for c, v in zip(columns, values, strict=True)}
        if record_id is not None:
            params["not_id"] = record_id
        # built once per entity and shape: run lean; with the user's row rule (per transaction): by SQLAlchemy
        found = (lean.execute(tx.conn, q, params) if readable is None else tx.conn.execute(q, params)).first()
        if found is not None:
            shown = values[0] if len(values) == 1 else tuple(values)
            by = f" by {found.name}" if found.name is not None else ""
            errors.append(FieldError(columns[0] if len(columns) == 1 else "", f"{label} {shown!r} is already used{by}"))


def validate_record(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any], errors: list[FieldError],
                    record_id: int | None, before: dict[str, Any] | None = None,
                    fields: Collection[str] | None = None) -> None:
    """Append every problem of ``rec`` (a full record with child rows) to ``errors``.

    ``before``: the stored record on update (None on create). Field checks always run; entity
    rules (within their scope) and uniqueness only on otherwise valid data. A child row's rules
    see the row as created when it is new. ``fields``: an automated update's fields (a flow's kept write,
    its state mirror), whose other fields are ``before``'s as stored: only those are checked (its rules
    and uniqueness as above: those reading what changes).
    """
    rules = not errors
    bad = {e.field for e in errors} if errors else ()
    checked = ce.checked if fields is None or before is None else [cf for cf in ce.checked if cf.name in fields]
    for cf in checked:  # compiled once per entity: fields no check can refuse are not visited
        if cf.child is not None:
            rows = rec.get(cf.name) or []
            if cf.defn.required and not rows:
                errors.append(FieldError(cf.name, "needs at least one row"))
            old = {r.get("id"): r for r in (before or {}).get(cf.name) or []} if rules and before else {}
            checked = cf.child.checked
            for i, row in enumerate(rows):
                for ccf in checked:  # a value the checks accept needs no path (the common case)
                    value = row.get(ccf.name)
                    if not ccf.accepts(value):
                        path = f"{cf.name}[{i}].{ccf.name}"
                        if not bad or path not in bad:
                            check_field(ccf, value, path, errors)
                if rules:
                    prior = old.get(row["id"]) if row.get("id") is not None else None
                    _rules(tx, cf.child, row, prior, f"{cf.name}[{i}].", errors)
        elif (not bad or cf.name not in bad) and not cf.accepts(value := rec.get(cf.name)):
            check_field(cf, value, cf.name, errors)
    if rules:
        _rules(tx, ce, rec, before, "", errors)
        _unique(tx, ce, rec, record_id, errors, before)
