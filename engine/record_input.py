"""From caller data to a complete record: coercion, child rows, link names, defaults,
computed fields and state-dependent editability. Used by every write of the store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import audit
from .coerce import CoercionError, coerce, coerce_name
from .compiled import CompiledEntity, CompiledField
from .errors import FieldError, UsageError
from .i18n import is_placeholder

if TYPE_CHECKING:
    from .records import Record, Transaction

SYSTEM_COLUMNS = ("id", "name", "created_at", "created_by", "updated_at", "updated_by", "version")


def read_input(tx: Transaction, ce: CompiledEntity, data: Mapping[str, Any], errors: list[FieldError],
           creating: bool, prefix: str = "", current: Mapping[str, Any] | None = None) -> Record:
    """Coerce caller data to typed values; unknown and read-only fields are errors. A computed field
    given with the ``current`` record's value is ignored (a record as ``get`` returns it saves back)."""
    if not isinstance(data, Mapping):
        raise UsageError(f"record data for {ce.name} must be a mapping of field names to values")
    rec: Record = {}
    for key, value in data.items():
        cf = ce.fields.get(key)  # (its path, f"{prefix}{key}", is built only for an error or a table)
        if cf is None:
            if key == "name" and not prefix:
                try:
                    rec["name"] = None if value is None else coerce_name(value)
                except CoercionError as e:
                    errors.append(FieldError(f"{prefix}{key}", str(e)))
            elif key == "id" and prefix:
                rec["id"] = value  # a child row being updated
            elif key not in SYSTEM_COLUMNS and key not in ("idx", "parent_id"):
                errors.append(FieldError(f"{prefix}{key}", f"unknown field of {ce.name}"))
            # other system fields (as returned by get) are ignored: the store sets them
            continue
        if cf.computed is not None or cf.related_where is not None:
            if current is None or key not in current or not _same(cf, value, current[key]):
                errors.append(FieldError(f"{prefix}{key}", "is computed and cannot be set"))
            continue
        if cf.defn.read_only and not creating and not tx.user.is_admin:
            errors.append(FieldError(f"{prefix}{key}", "is read-only"))
            continue
        if cf.child is not None:
            rec[key] = input_rows(tx, cf, value, errors, f"{prefix}{key}", (current or {}).get(key))
            continue
        if current is not None and cf.defn.type == "link" and is_placeholder(value):
            continue  # shown as "(no access)" to this user: saved back, the link stays as it is
        try:
            rec[key] = cf.coerce(value)
        except CoercionError as e:
            errors.append(FieldError(f"{prefix}{key}", str(e)))
    return rec


def check_editable(tx: Transaction, ce: CompiledEntity, before: Record, after: Record, errors: list[FieldError]) -> None:
    """Fields with ``editable_if`` may change only while it holds on the record before the change."""
    for cf in ce.fields.values():
        if cf.editable_if is None or cf.name not in after or before.get(cf.name) is after[cf.name]:
            continue  # no rule, or the value as stored (the same object): unchanged
        changed = audit.diff(before, after, [cf.name]) if cf.child is None else (
            audit.diff({"r": _rows_view(before.get(cf.name))}, {"r": _rows_view(after.get(cf.name))}, ["r"]))
        if changed and cf.editable_if(before, tx.env) is not True:
            errors.append(FieldError(cf.name, f"cannot be changed now (only while {cf.defn.editable_if})"))


def input_rows(tx: Transaction, cf: CompiledField, value: Any, errors: list[FieldError], path: str,
               current: list[Record] | None = None) -> list[Record]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        errors.append(FieldError(path, "expected a list of rows"))
        return []
    assert cf.child is not None
    by_id = {r.get("id"): r for r in current or []}
    return [read_input(tx, cf.child, row, errors, creating=True, prefix=f"{path}[{i}].",
                       current=by_id.get(row.get("id")) if isinstance(row, Mapping) and row.get("id") is not None
                       else None)
            for i, row in enumerate(value)]


def _same(cf: CompiledField, given: Any, current: Any) -> bool:
    """Whether ``given`` is the computed field's ``current`` value (as get shows it)."""
    if given is None or current is None:
        return given is None and current is None
    try:
        return coerce(cf.defn, given, cf.kind) == current
    except (CoercionError, KeyError):
        return False


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


def prepare(tx: Transaction, ce: CompiledEntity, rec: Record, errors: list[FieldError], creating: bool,
            links: bool = True, before: Record | None = None) -> None:
    """Resolve link names (unless ``links`` is false; links unchanged from ``before``, the stored record, are
    not looked up again), apply defaults (on create) and compute computed fields."""
    if links:
        resolve_links(tx, ce, rec, errors, "", before)
    for cf in ce.table_fields:
        assert cf.child is not None
        old = {r.get("id"): r for r in (before or {}).get(cf.name) or []}
        for i, row in enumerate(rec.get(cf.name) or []):
            if links:
                resolve_links(tx, cf.child, row, errors, f"{cf.name}[{i}].",
                              old.get(row["id"]) if row.get("id") is not None else None)
            if row.get("id") is None:
                apply_defaults(tx, cf.child, row)
            compute(tx, cf.child, row, errors, f"{cf.name}[{i}].")
    if creating:
        apply_defaults(tx, ce, rec)
    compute(tx, ce, rec, errors, "")


def dry_record(tx: Transaction, ce: CompiledEntity, data: Mapping[str, Any], links: bool = True,
               before: Record | None = None) -> Record:
    """The record a create of ``data`` (or, given ``before``, an update of that record) would make: coercion,
    link names, defaults, computed fields; neither validated nor written. What a dry run such as a flow
    simulation works on. A link may be given as the linked record itself (a nested mapping); with ``links``
    false, link names are not looked up."""
    if not isinstance(data, Mapping):
        raise UsageError(f"record data for {ce.name} must be a mapping of field names to values")
    plain, nested = _split_nested(ce, data)
    errors: list[FieldError] = []
    rec = read_input(tx, ce, plain, errors, creating=before is None)
    for key, value in nested.items():
        if isinstance(value, list):
            for row, given in zip(rec.get(key) or [], value, strict=False):
                row.update(given)
        else:
            rec[key] = value
    if before is not None:
        rec = {**before, **rec}
    prepare(tx, ce, rec, errors, creating=before is None, links=links, before=before)  # as an update: links kept
    if errors:
        raise UsageError(f"{ce.name} record: " + "; ".join(str(e) for e in errors))
    for name in ce.fields:
        rec.setdefault(name, None)
    if before is None:
        rec.update(id=data.get("id"), name=data.get("name"))
    return rec


def _split_nested(ce: CompiledEntity, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Caller data without linked records given whole (link -> mapping), and those records by field
    (for a table field: one mapping of them per row)."""
    plain: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key, value in data.items():
        cf = ce.fields.get(key)
        if cf is not None and cf.defn.type == "link" and isinstance(value, Mapping):
            nested[key] = dict(value)
        elif cf is not None and cf.child is not None and isinstance(value, list):
            parts = [_split_nested(cf.child, row) if isinstance(row, Mapping) else (row, {}) for row in value]
            plain[key] = [p for p, _ in parts]
            if any(n for _, n in parts):
                nested[key] = [n for _, n in parts]
        else:
            plain[key] = value
    return plain, nested


def resolve_links(tx: Transaction, ce: CompiledEntity, rec: Record, errors: list[FieldError], prefix: str,
                  before: Mapping[str, Any] | None = None) -> None:
    links = ce.links  # link field -> the entity it links to (built once)
    if not links:
        return
    for name, value in list(rec.items()):
        target = links.get(name)
        if target is None or value is None or isinstance(value, Mapping):
            continue  # a mapping: a linked record given whole (a dry run), see dry_record
        if before is not None and isinstance(value, int) and before.get(name) == value:
            continue  # the stored link, unchanged: nothing to look up
        row = tx.link_target(target, value)  # a record the user may not read is refused as missing
        if row is None:
            errors.append(FieldError(f"{prefix}{name}", f"no {target} {value!r}"))
        else:
            rec[name] = row.id


def apply_defaults(tx: Transaction, ce: CompiledEntity, rec: Record) -> None:
    for cf in ce.defaulted:
        if cf.name in rec:
            continue
        if cf.default_expr is not None:
            value = cf.default_expr(rec, tx.env)
            rec[cf.name] = cf.coerce(value) if cf.defn.type == "link" else cf.coerce_result(value)
        elif cf.default_value is not None:
            rec[cf.name] = cf.default_value
        elif cf.child is not None:
            rec[cf.name] = []


def compute(tx: Transaction, ce: CompiledEntity, rec: Record, errors: list[FieldError], prefix: str) -> None:
    """Every computed field of ``rec``, in one pass over the steps compiled once per entity (dependency order,
    each expression's function and result coercion chosen at first use)."""
    env = tx.env
    for name, fn, coerce_result in ce.compute_steps:
        try:
            rec[name] = coerce_result(fn(rec, env))
        except CoercionError as e:
            errors.append(FieldError(f"{prefix}{name}", f"computed value {e}"))

# -- SQL helpers


def _rows_view(rows: Any) -> list:
    """Child rows without their position, to tell whether a table's content changed."""
    return [{k: v for k, v in row.items() if k != "idx"} for row in rows or []]
