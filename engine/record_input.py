"""From caller data to a complete record: coercion, child rows, link names, defaults,
computed fields and state-dependent editability. Used by every write of the store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import audit
from .coerce import CoercionError, coerce, coerce_name
from .compiled import CompiledEntity, CompiledField
from .errors import FieldError, UsageError

if TYPE_CHECKING:
    from .records import Record, Transaction

SYSTEM_COLUMNS = ("id", "name", "created_at", "created_by", "updated_at", "updated_by", "version")


def read_input(tx: Transaction, ce: CompiledEntity, data: Mapping[str, Any], errors: list[FieldError],
           creating: bool, prefix: str = "") -> Record:
    """Coerce caller data to typed values; unknown and read-only fields are errors."""
    if not isinstance(data, Mapping):
        raise UsageError(f"record data for {ce.name} must be a mapping of field names to values")
    rec: Record = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        cf = ce.fields.get(key)
        if cf is None:
            if key == "name" and not prefix:
                try:
                    rec["name"] = None if value is None else coerce_name(value)
                except CoercionError as e:
                    errors.append(FieldError(path, str(e)))
            elif key == "id" and prefix:
                rec["id"] = value  # a child row being updated
            elif key not in SYSTEM_COLUMNS and key not in ("idx", "parent_id"):
                errors.append(FieldError(path, f"unknown field of {ce.name}"))
            # other system fields (as returned by get) are ignored: the store sets them
            continue
        if cf.computed is not None or cf.related_where is not None:
            errors.append(FieldError(path, "is computed and cannot be set"))
            continue
        if cf.defn.read_only and not creating and not tx.user.is_admin:
            errors.append(FieldError(path, "is read-only"))
            continue
        if cf.child is not None:
            rec[key] = input_rows(tx, cf, value, errors, path)
            continue
        try:
            rec[key] = coerce(cf.defn, value)
        except CoercionError as e:
            errors.append(FieldError(path, str(e)))
    return rec


def check_editable(tx: Transaction, ce: CompiledEntity, before: Record, after: Record, errors: list[FieldError]) -> None:
    """Fields with ``editable_if`` may change only while it holds on the record before the change."""
    for cf in ce.fields.values():
        if cf.editable_if is None or cf.name not in after:
            continue
        changed = audit.diff(before, after, [cf.name]) if cf.child is None else (
            audit.diff({"r": _rows_view(before.get(cf.name))}, {"r": _rows_view(after.get(cf.name))}, ["r"]))
        if changed and cf.editable_if(before, tx.env) is not True:
            errors.append(FieldError(cf.name, f"cannot be changed now (only while {cf.defn.editable_if})"))


def input_rows(tx: Transaction, cf: CompiledField, value: Any, errors: list[FieldError], path: str) -> list[Record]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        errors.append(FieldError(path, "expected a list of rows"))
        return []
    assert cf.child is not None
    return [read_input(tx, cf.child, row, errors, creating=True, prefix=f"{path}[{i}].")
            for i, row in enumerate(value)]


def merge_rows(cf: CompiledField, old: list[Record], new: list[Record],
                errors: list[FieldError]) -> list[Record]:
    """Rows given with an ``id`` update that row; rows without insert; missing rows are removed."""
    by_id = {r["id"]: r for r in old}
    out = []
    for i, row in enumerate(new):
        rid = row.get("id")
        if rid is None:
            out.append(row)
        elif rid in by_id:
            out.append({**by_id[rid], **row})
        else:
            errors.append(FieldError(f"{cf.name}[{i}].id", f"no row {rid!r} in {cf.name}"))
    return out


def prepare(tx: Transaction, ce: CompiledEntity, rec: Record, errors: list[FieldError], creating: bool) -> None:
    """Resolve link names, apply defaults (on create) and compute computed fields."""
    resolve_links(tx, ce, rec, errors, "")
    for cf in ce.table_fields:
        assert cf.child is not None
        for i, row in enumerate(rec.get(cf.name) or []):
            resolve_links(tx, cf.child, row, errors, f"{cf.name}[{i}].")
            if row.get("id") is None:
                apply_defaults(tx, cf.child, row)
            compute(tx, cf.child, row, errors, f"{cf.name}[{i}].")
    if creating:
        apply_defaults(tx, ce, rec)
    compute(tx, ce, rec, errors, "")


def resolve_links(tx: Transaction, ce: CompiledEntity, rec: Record, errors: list[FieldError], prefix: str) -> None:
    for name, value in list(rec.items()):
        cf = ce.fields.get(name)
        if cf is None or cf.defn.type != "link" or value is None:
            continue
        target = cf.defn.entity or ""
        row = tx._row(tx.app.compiled.entities[target], value)
        if row is None:
            errors.append(FieldError(f"{prefix}{name}", f"no {target} {value!r}"))
        else:
            rec[name] = row.id


def apply_defaults(tx: Transaction, ce: CompiledEntity, rec: Record) -> None:
    for cf in ce.fields.values():
        if cf.name in rec:
            continue
        if cf.default_expr is not None:
            rec[cf.name] = coerce(cf.defn, cf.default_expr(rec, tx.env), cf.kind if cf.defn.type != "link"
                                  else None)
        elif cf.default_value is not None:
            rec[cf.name] = cf.default_value
        elif cf.child is not None:
            rec[cf.name] = []


def compute(tx: Transaction, ce: CompiledEntity, rec: Record, errors: list[FieldError], prefix: str) -> None:
    for name in ce.computed_order:
        cf = ce.fields[name]
        assert cf.computed is not None
        try:
            rec[name] = coerce(cf.defn, cf.computed(rec, tx.env), cf.kind)
        except CoercionError as e:
            errors.append(FieldError(f"{prefix}{name}", f"computed value {e}"))

# -- SQL helpers


def _rows_view(rows: Any) -> list:
    """Child rows without their position, to tell whether a table's content changed."""
    return [{k: v for k, v in row.items() if k != "idx"} for row in rows or []]
