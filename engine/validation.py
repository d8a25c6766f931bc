"""Record validation: required, ranges, lengths, patterns, uniqueness and entity rules.

Runs on every write after coercion, defaults and computed fields; collects every
problem so the caller sees them all at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

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


def _rules(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any], path: str, errors: list[FieldError]) -> None:
    for expr, message, field in ce.validations:
        if expr(rec, tx.env) is not True:
            errors.append(FieldError(f"{path}{field}" if field else path.rstrip("."), message))


def _unique(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any], record_id: int | None,
            errors: list[FieldError]) -> None:
    t = ce.table
    assert t is not None
    groups = [((name,), cf.label) for name, cf in ce.fields.items() if cf.defn.unique]
    groups += [(tuple(i.fields), ", ".join(i.fields)) for i in ce.defn.index_list() if i.unique]
    readable = tx.row_filter(ce.name)  # the other record is named only to a user who may read it
    name = t.c.name if readable is None else sa.case((readable, t.c.name), else_=sa.null())
    for columns, label in groups:
        values = [rec.get(c) for c in columns]
        if any(v is None for v in values):
            continue
        q = sa.select(name.label("name")).where(*[t.c[c] == v for c, v in zip(columns, values, strict=True)])
        if record_id is not None:
            q = q.where(t.c.id != record_id)
        found = tx.conn.execute(q.limit(1)).first()
        if found is not None:
            shown = values[0] if len(values) == 1 else tuple(values)
            by = f" by {found.name}" if found.name is not None else ""
            errors.append(FieldError(columns[0] if len(columns) == 1 else "", f"{label} {shown!r} is already used{by}"))


def validate_record(tx: Transaction, ce: CompiledEntity, rec: dict[str, Any], errors: list[FieldError],
                    record_id: int | None) -> None:
    """Append every problem of ``rec`` (a full record with child rows) to ``errors``.

    Field checks always run; entity rules and uniqueness only on otherwise valid data.
    """
    rules = not errors
    bad = {e.field for e in errors}
    for cf in ce.fields.values():
        if cf.child is not None:
            rows = rec.get(cf.name) or []
            if cf.defn.required and not rows:
                errors.append(FieldError(cf.name, "needs at least one row"))
            for i, row in enumerate(rows):
                prefix = f"{cf.name}[{i}]."
                for ccf in cf.child.fields.values():
                    if prefix + ccf.name not in bad:
                        check_field(ccf, row.get(ccf.name), prefix + ccf.name, errors)
                if rules:
                    _rules(tx, cf.child, row, prefix, errors)
        elif cf.name not in bad:
            check_field(cf, rec.get(cf.name), cf.name, errors)
    if rules:
        _rules(tx, ce, rec, "", errors)
        _unique(tx, ce, rec, record_id, errors)
