"""Creating several records of one entity at once: ``Transaction.create_many``.

Each record goes through the create pipeline (coercion, links, defaults, validation, permission check,
``before_insert`` hooks) in order; their names are taken in one statement (``naming.reserve``), they are
inserted by one multi-row ``INSERT ... RETURNING`` (a statement per number of rows, built once, up to
``INSERT_ROWS_MAX`` rows), then each is audited and its write listeners run, in order.

Only records that cannot depend on each other go together: an entity without child rows, computed fields,
entity rules or unique values (a record's computed value, rule or unique check could read the records before
it in the batch, which are not inserted yet when it is checked). Any other entity is created one record at a
time (the names still taken in one statement). The allocation writes its records this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import lean, naming
from .errors import FieldError, ValidationFailed, integrity_message
from .write_plan import INSERT_ROWS_MAX, MAX_PARAMETERS

if TYPE_CHECKING:
    from .compiled import CompiledEntity
    from .records import Transaction

Record = dict[str, Any]
_SYSTEM = ("name", "created_at", "created_by", "updated_at", "updated_by", "version")
_ROWS = "insert rows"  # plan.shaped[(_ROWS, n)]: (INSERT of n rows, per row the names of its parameters)


def independent(ce: CompiledEntity) -> bool:
    """Whether records of ``ce`` can be checked before the others of their batch are inserted."""
    if ce.table_fields or ce.computed_order or ce.validations:
        return False
    if any(cf.defn.unique for cf in ce.fields.values()):
        return False
    return not any(i.unique for i in ce.defn.index_list())


def create_many(tx: Transaction, entity: str, data: list[Mapping[str, Any]]) -> list[Record]:
    """Create the records ``data`` in order; return them as committed (see the module's docstring)."""
    ce = tx.app.compiled.entity(entity)
    if len(data) < 2:
        return [tx.create(entity, d) for d in data]
    if not independent(ce):  # one at a time, their names still taken in one statement
        naming.reserve(tx.conn, entity, ce.defn.naming, tx.app.clock.now().date(),  # the date create names by
                       sum(1 for d in data if d.get("name") is None))
        return [tx.create(entity, d) for d in data]
    made = [tx._new(ce, d) for d in data]
    now = tx.app.clock.now()
    naming.reserve(tx.conn, entity, ce.defn.naming, now.date(), sum(1 for _, name in made if name is None))
    values = [tx._insert_values(ce, rec, name or naming.make_name(tx.conn, entity, ce.defn.naming, rec, now.date()),
                                now) for rec, name in made]
    columns = (*_SYSTEM, *ce.stored_names)
    per = max(1, min(INSERT_ROWS_MAX, MAX_PARAMETERS // len(columns)))
    stored: dict[str, Record] = {}
    for start in range(0, len(values), per):
        chunk = values[start:start + per]
        stmt, names = _insert(tx, ce, columns, len(chunk))
        params: dict[str, Any] = {}
        for keys, row in zip(names, chunk, strict=True):
            params.update(zip(keys, [row[c] for c in columns], strict=True))
        try:
            found = lean.execute(tx.conn, stmt, params).all()
        except sa.exc.IntegrityError as e:
            raise ValidationFailed(entity, [FieldError("", integrity_message(e))]) from None
        for r in found:  # RETURNING gives no order: matched by their (unique) names
            row = dict(r._mapping)
            stored[row["name"]] = row
    return [tx._created(ce, rec, stored[v["name"]], now) for (rec, _), v in zip(made, values, strict=True)]


def _insert(tx: Transaction, ce: CompiledEntity, columns: tuple[str, ...], n: int) -> tuple[Any, Any]:
    """``INSERT ... VALUES (...), (...) RETURNING`` the rows as stored for ``n`` records, built once per size."""
    plan = tx.plan(ce.name)
    found = plan.shaped.get((_ROWS, n))
    if found is None:
        t = plan.table
        names = tuple(tuple(f"r{k}_{j}" for j in range(len(columns))) for k in range(n))
        rows = [{c: sa.bindparam(p, type_=t.c[c].type) for c, p in zip(columns, row, strict=True)} for row in names]
        found = plan.shaped[(_ROWS, n)] = (sa.insert(t).values(rows).returning(*t.c), names)
    return found
