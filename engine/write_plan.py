"""Write plans: the statements of the store, built once per entity when an app opens.

Each statement is a stable SQLAlchemy object whose values are bound at execution, so SQLAlchemy compiles
it once per dialect and parameter set (its compiled cache) and no statement is constructed on a hot path.
Inserts and updates return the whole row as stored (``RETURNING``), so a write never reads its record back;
child rows are inserted with one multi-row ``INSERT ... RETURNING``.

:class:`EntityPlan` holds an entity's statements (and those of its child tables); :class:`Plans` (``app.plans``)
those of every entity of an app, built when it opens. The system tables' statements (audit log, job queue, outbox, naming
counters) are built the same way, once, next to the table they write (``audit.INSERT``, ``jobs``' ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class ChildPlan:
    """The statements of one table field's child rows."""

    table: sa.Table
    select: Any  # rows of the parents ``ids`` (expanding), in parent and position order
    insert: Any  # executemany: RETURNING the rows as stored
    update: Any  # executemany by ``_id``
    by_ids: Any  # rows ``ids`` (expanding)
    delete_ids: Any  # rows ``ids`` (expanding)
    delete_parent: Any  # rows of parent ``_parent``


@dataclass(frozen=True)
class EntityPlan:
    """The statements of one entity's table."""

    table: sa.Table
    by_id: Any  # ``key``
    by_name: Any  # ``key``
    by_id_locked: Any  # FOR UPDATE (PostgreSQL)
    by_name_locked: Any
    insert: Any  # RETURNING the row as stored
    update: Any  # by ``_id`` and ``_version`` (optimistic lock), RETURNING the row as stored
    delete: Any  # by ``_id``
    children: dict[str, ChildPlan] = field(default_factory=dict)
    # per ``links_in`` of the entity (links to it): (ids of up to 1000 rows linking to ``_target``, set them null)
    refs: list[tuple[Any, Any]] = field(default_factory=list)
    shaped: dict[Any, Any] = field(default_factory=dict)  # lookups by shape (``select_by``), built on first use

    def select_by(self, what: str, columns: tuple[str, ...], *, not_id: bool = False, first: bool = False) -> Any:
        """``SELECT <what> WHERE <column> = :w_<column> AND ... [AND id != :not_id]`` (``first``: the lowest
        id only), built once per shape. Bind non-null values: ``= NULL`` matches nothing."""
        key = (what, columns, not_id, first)
        found = self.shaped.get(key)
        if found is None:
            t = self.table
            q = sa.select(t.c[what]).where(*[t.c[c] == sa.bindparam(f"w_{c}") for c in columns])
            if not_id:
                q = q.where(t.c.id != sa.bindparam("not_id"))
            if first:
                q = q.order_by(t.c.id)
            found = self.shaped[key] = q.limit(1)
        return found


def _child_plan(ct: sa.Table) -> ChildPlan:
    ids = sa.bindparam("ids", expanding=True)
    return ChildPlan(
        table=ct,
        select=sa.select(ct).where(ct.c.parent_id.in_(ids)).order_by(ct.c.parent_id, ct.c.idx),
        insert=sa.insert(ct).returning(*ct.c),
        update=sa.update(ct).where(ct.c.id == sa.bindparam("_id")),
        by_ids=sa.select(ct).where(ct.c.id.in_(sa.bindparam("ids", expanding=True))),
        delete_ids=sa.delete(ct).where(ct.c.id.in_(sa.bindparam("ids", expanding=True))),
        delete_parent=sa.delete(ct).where(ct.c.parent_id == sa.bindparam("_parent")),
    )


def entity_plan(ce: Any) -> EntityPlan:
    t = ce.table
    assert t is not None
    by_id = sa.select(t).where(t.c.id == sa.bindparam("key"))
    by_name = sa.select(t).where(t.c.name == sa.bindparam("key"))
    return EntityPlan(
        table=t,
        by_id=by_id,
        by_name=by_name,
        by_id_locked=by_id.with_for_update(),
        by_name_locked=by_name.with_for_update(),
        insert=sa.insert(t).returning(*t.c),
        update=sa.update(t).where(t.c.id == sa.bindparam("_id"), t.c.version == sa.bindparam("_version"))
        .returning(*t.c),
        delete=sa.delete(t).where(t.c.id == sa.bindparam("_id")),
        children={cf.name: _child_plan(cf.child_table) for cf in ce.table_fields},
        refs=[_refs(table, column) for table, column, _owner, _parent in ce.links_in],
    )


def _refs(table: sa.Table, column: str) -> tuple[Any, Any]:
    col = table.c[column]
    target = sa.bindparam("_target")
    return (sa.select(table.c.id).where(col == target).limit(1000),
            sa.update(table).where(col == target).values({column: None}))


class Plans:
    """The plan of every entity of a compiled app, built when the app opens (``app.plans``)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.by_entity = {name: entity_plan(ce) for name, ce in compiled.entities.items() if ce.table is not None}

    def __getitem__(self, entity: str) -> EntityPlan:
        found = self.by_entity.get(entity)
        if found is None:  # not an entity with a table: the same error as compiled.entity gives
            found = self.by_entity[entity] = entity_plan(self.compiled.entity(entity))
        return found
