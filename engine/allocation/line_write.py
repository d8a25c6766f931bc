"""Targeted writes of a few fields of a record's child rows (the allocation's line locations).

``write_rows(tx, entity, record_id, table, changes)`` changes the given fields of the given rows of one table
field, as ``tx.update(entity, record_id, {table: rows})`` would, without the rest of the update pipeline:

* checked as an update: the user may update the record (before and after the change) and set the table
  field (field rules), the values are coerced as any input, and the table's ``editable_if`` holds for a
  user's own write (not for a flow's or a job's);
* written with statements built once: one UPDATE of the record's ``version`` (optimistic lock: ``WHERE
  version = :v``, a :class:`Conflict` otherwise), ``updated_at`` and ``updated_by``, owed (``engine/owed.py``:
  taken over by the record's next write in the transaction, else run before anything could see it, at the
  latest before COMMIT); then one UPDATE per changed row (one executemany) of only the fields given;
  unchanged rows are not written;
* then as any update: the unit of work learns the record as written (aggregates reading its tables are
  stale), the change is audited, and write listeners (flows) see an ``update`` event.

What it does not do: compute the record's computed fields or run its validations and field checks. So it
is used only for fields that no computed field, validation or field check reads (:func:`targetable`, decided
once per rule); otherwise the caller writes with ``tx.update``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr import CompiledExpression, ast

from .. import audit, lean, unit_of_work
from ..compiled import CompiledEntity
from ..errors import Conflict
from ..owed import fold, owe
from ..record_input import check_editable, merge_rows, read_input
from ..records import WriteEvent
from ..stored_as_given import kept

if TYPE_CHECKING:
    from ..records import Record, Transaction

_SYSTEM = frozenset({"updated_at", "updated_by", "version"})  # what the write changes on the record itself
_KEY = "line_write"  # the statements of a (table field, fields) shape, kept in the entity's plan


def _reads(tree: ast.Node, names: frozenset[str], table: str | None, fields: frozenset[str]) -> bool:
    """Whether an expression over the record reads one of ``names`` of it, or ``fields`` of the rows of
    ``table`` (inside an aggregate over the table; the table read any other way counts as read)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Path):
            if node.root is None and node.parts and (node.parts[0] in names or node.parts[0] == table):
                return True
            continue
        if (isinstance(node, ast.Call) and node.child_entity is not None and node.args
                and isinstance(node.args[0], ast.Path) and node.args[0].root is None
                and node.args[0].parts == [table]):
            if any(_reads(arg, fields, None, frozenset()) for arg in node.args[1:]):
                return True
            stack.extend(node.args[1:])  # paths of the rows' own expressions, other tables they reach
            continue
        stack.extend(node.children())
    return False


def _expressions(ce: CompiledEntity) -> Iterable[CompiledExpression]:
    for cf in ce.fields.values():
        if cf.computed is not None:
            yield cf.computed
    for v in ce.validations:
        yield v.expr
        if v.when is not None:
            yield v.when


def targetable(ce: CompiledEntity, table: str, fields: Iterable[str]) -> bool:
    """Whether :func:`write_rows` may change ``fields`` of the rows of ``table`` of ``ce``: no computed
    field or validation of the record (nor of its rows) reads them, the record's ``updated_at`` /
    ``updated_by`` / ``version``, and no field check can refuse them."""
    cf = ce.fields.get(table)
    if cf is None or cf.child is None:
        return False
    child = cf.child
    wanted = frozenset(fields)
    if any(name not in child.fields or child.fields[name].constrained or child.fields[name].computed is not None
           or not child.fields[name].stored for name in wanted):
        return False
    for expr in _expressions(ce):
        tree = expr.tree
        if _reads(tree, _SYSTEM, None, frozenset()) or _reads_rows(tree, table, wanted):
            return False
    return not any(_reads(expr.tree, wanted, None, frozenset()) for expr in _expressions(child))


def _reads_rows(tree: ast.Node, table: str, fields: frozenset[str]) -> bool:
    """Whether an expression of the record reads ``fields`` of the rows of ``table`` (``sum(lines, qty)``
    reads ``qty``; ``count(lines)`` none; the table read other than by an aggregate reads every field)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if (isinstance(node, ast.Call) and node.child_entity is not None and node.args
                and isinstance(node.args[0], ast.Path) and node.args[0].root is None
                and node.args[0].parts == [table]):
            if any(_reads(arg, fields, None, frozenset()) for arg in node.args[1:]):
                return True
            continue
        if isinstance(node, ast.Path):
            if node.root is None and node.parts and node.parts[0] == table:
                return True
            continue
        stack.extend(node.children())
    return False


def _statements(tx: Transaction, ce: CompiledEntity, table: str, fields: tuple[str, ...]) -> tuple[Any, Any, Any]:
    parent = ce.table
    child = ce.fields[table].child_table
    assert parent is not None and child is not None
    shaped = tx.plan(ce.name).shaped
    key = (_KEY, table, fields)
    found = shaped.get(key)
    if found is None:
        bump = sa.update(parent).where(parent.c.id == sa.bindparam("_id"),
                                       parent.c.version == sa.bindparam("_version")).values(
            version=sa.bindparam("version", type_=parent.c.version.type),
            updated_at=sa.bindparam("updated_at", type_=parent.c.updated_at.type),
            updated_by=sa.bindparam("updated_by", type_=parent.c.updated_by.type))
        rows = sa.update(child).where(child.c.id == sa.bindparam("_rid"), child.c.parent_id == sa.bindparam(
            "_parent")).values({f: sa.bindparam(f, type_=child.c[f].type) for f in fields})
        found = shaped[key] = (bump.returning(*parent.c), bump, rows)
    return found


def write_rows(tx: Transaction, entity: str, record_id: int, table: str,
               changes: Mapping[int, Mapping[str, Any]]) -> Record:
    """Set ``changes`` (row id -> field -> value) on the rows of table field ``table`` of a record; return
    the record as written (see the module's docstring for what is checked and what is not)."""
    ce = tx.app.compiled.entity(entity)
    current = tx.load(entity, record_id, for_update=True)
    tx._require(entity, "update", current)
    errors: list[Any] = []
    data = tx._settable(ce, "update", {table: [{"id": rid, **values} for rid, values in changes.items()]},
                        errors, current)
    given = len(errors)
    typed = read_input(tx, ce, data, errors, creating=False, current=current)
    old_rows = current[table] or []
    rows = merge_rows(ce.fields[table], old_rows, typed.get(table) or [], errors)
    by_id = {r["id"]: r for r in rows}
    new_rows = [by_id.get(r["id"], r) for r in old_rows]  # every row kept, in its order
    rec = {**current, table: new_rows}
    if not tx.automated:
        check_editable(tx, ce, current, rec, errors)
    if errors:
        raise tx._failed(ce, errors, given)
    tx._require(entity, "update", rec)
    fields = tuple(sorted({f for values in changes.values() for f in values}))
    updates = []
    for old, new in zip(old_rows, new_rows, strict=True):
        if new is not old and any(old.get(f) != new.get(f) for f in fields):
            updates.append({**{f: new.get(f) for f in fields}, "_rid": old["id"], "_parent": current["id"]})
    if not updates:
        return current
    returning, bump, write = _statements(tx, ce, table, fields)
    now = tx.now
    key = (entity, current["id"])
    owed = tx.uow.owed
    values = {"_id": current["id"], "_version": fold(owed, key, current["version"]) if owed else current["version"],
              "version": current["version"] + 1, "updated_at": now, "updated_by": tx.user.name}
    given = kept(ce.table, tx.conn.dialect.name)
    if all(given[c](values[c]) for c in _SYSTEM):  # the record as the bump leaves it is known: it may wait
        unit_of_work.settle_held(tx.conn)  # UPDATEs held back go first (never pending with an owed bump)
        owe(owed, key, bump, values, ce.table.name, f"{entity} {current['name']}")
        stored = {**current, "version": values["version"], "updated_at": now, "updated_by": tx.user.name}
    else:
        row = lean.execute(tx.conn, returning, values).first()
        if row is None:
            raise Conflict(f"{entity} {current['name']} was changed by someone else; reload and retry")
        stored = dict(row._mapping)
    lean.execute(tx.conn, write, updates)
    for cf in ce.table_fields:
        stored[cf.name] = new_rows if cf.name == table else current[cf.name]
    tx._stored(ce, stored)
    tx._written(entity, current["id"], stored["version"])
    delta = audit.diff(current, stored, [table])  # the one audited field written (the rest is as it was)
    if delta:
        audit.write(tx.conn, at=now, user=tx.user.name, entity=entity, record_id=current["id"],
                    record_name=current["name"], action="update", changes=delta)
    return tx._emit(WriteEvent(entity, "update", current, stored)) or stored
