"""The acting user's field rules applied to write input: hidden fields refused as unknown, read-only
fields refused unless given with their current value (a record as ``get`` returns it saves back)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .coerce import CoercionError, coerce
from .compiled import CompiledEntity, CompiledField
from .errors import FieldError

if TYPE_CHECKING:
    from .records import Record, Transaction


def settable(tx: Transaction, ce: CompiledEntity, action: str, data: Mapping[str, Any], errors: list[FieldError],
             current: Record | None = None) -> Mapping[str, Any]:
    """``data`` without what the acting user's field rules forbid: a hidden field is refused as an
    unknown one; a read-only field is refused naming it, unless given with its ``current`` value
    (a record as ``get`` returns it saves back)."""
    perms = tx.app.permissions
    hidden = perms.hidden(tx.user, ce.name)
    read_only = perms.read_only(tx.user, ce.name, action)
    if not (hidden or read_only) or not isinstance(data, Mapping) or tx._carrying:
        return data
    out = {}
    for key, value in data.items():
        if key in hidden:
            errors.append(FieldError(key, f"unknown field of {ce.name}"))
        elif key in read_only:
            if current is None or not same_value(tx, ce.fields[key], value, current.get(key)):
                errors.append(FieldError(key, "is read-only"))
        else:
            out[key] = value
    return out


def same_value(tx: Transaction, cf: CompiledField, given: Any, current: Any) -> bool:
    """Whether ``given`` (caller input) is the field's ``current`` stored value."""
    if cf.defn.type == "link" and isinstance(given, str) and current is not None:
        row = tx.link_target(cf.defn.entity or "", given)
        return row is not None and row.id == current
    if cf.child is not None:
        return False
    try:
        return given is None and current is None or (given is not None and coerce(cf.defn, given) == current)
    except (CoercionError, KeyError):
        return False
