"""Write plans: the statements of the store, built once per entity when an app opens.

Each statement is a stable SQLAlchemy object whose values are bound at execution, so SQLAlchemy compiles
it once per dialect and parameter set (its compiled cache) and no statement is constructed on a hot path.
Inserts and updates return the whole row as stored (``RETURNING``; an update whose values the database gives
back as bound need not: ``update_known``), so a write never reads its record back;
child rows are inserted with one multi-row ``INSERT ... RETURNING`` (a statement per number of rows).

:class:`EntityPlan` holds an entity's statements (and those of its child tables); :class:`Plans` (``app.plans``)
those of every entity of an app, built when it opens. The system tables' statements (audit log, job queue, outbox, naming
counters) are built the same way, once, next to the table they write (``audit.INSERT``, ``jobs``' ...).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

IN_LIST_MAX = 512  # ids one ``IN (...)`` binds at most (callers go in chunks of this size)
INSERT_ROWS_MAX = 100  # child rows one multi-row INSERT writes at most (more: a statement per chunk)
MAX_PARAMETERS = 30_000  # bound values one statement may have (SQLite allows 32766, PostgreSQL 65535)


def in_size(n: int) -> int:
    """The size of the ``IN (...)`` list that binds ``n`` ids (1 <= n <= IN_LIST_MAX): the next power of two,
    padded by repeating the last id, so an IN-list statement exists for at most 10 sizes."""
    return 1 << (n - 1).bit_length()


def in_params(ids: list[Any]) -> dict[str, Any]:
    """The parameters ``i0``, ``i1``, ... of an IN-list statement for ``ids`` (padded to ``in_size``)."""
    size = in_size(len(ids))
    last = ids[-1]
    return {name: ids[k] if k < len(ids) else last for k, name in enumerate(_IN_NAMES[:size])}


_IN_NAMES = tuple(f"i{k}" for k in range(IN_LIST_MAX))


def _in_list(column: Any, size: int) -> Any:
    return column.in_([sa.bindparam(name) for name in _IN_NAMES[:size]])


@dataclass(frozen=True)
class ChildPlan:
    """The statements of one table field's child rows. Those binding a list of ids (an ``IN``) or of rows are
    built once per size (``in_size`` ids, up to ``INSERT_ROWS_MAX`` rows) and kept in ``sized``, so each is a
    statement :func:`ordo.engine.lean.execute` runs lean (never an expanding ``IN`` or an executemany with
    RETURNING, which SQLAlchemy must render per call)."""

    table: sa.Table
    columns: tuple[str, ...]  # what an INSERT writes: parent_id, idx and the child's stored fields
    update: Any  # executemany by ``_id``
    delete_parent: Any  # rows of parent ``_parent``
    sized: dict[Any, Any] = field(default_factory=dict)
    set_shapes: set[tuple[str, ...]] = field(default_factory=set)  # the column sets ``update`` was run with

    def update_shape(self, columns: tuple[str, ...]) -> tuple[str, ...] | None:
        """``columns`` if ``update`` may set just those (compiled once per set, lean), None when it sets every
        column (past MAX_SET_SHAPES sets for this table)."""
        return columns if _admitted(self.set_shapes, columns) else None

    def of_parents(self, size: int) -> Any:
        """The rows of ``size`` parents (``in_params``), in parent and position order."""
        key = ("of_parents", size)
        found = self.sized.get(key)
        if found is None:
            ct = self.table
            found = self.sized[key] = sa.select(ct).where(_in_list(ct.c.parent_id, size)).order_by(
                ct.c.parent_id, ct.c.idx)
        return found

    def by_ids(self, size: int) -> Any:
        """The rows with ``size`` ids (``in_params``)."""
        key = ("by_ids", size)
        found = self.sized.get(key)
        if found is None:
            ct = self.table
            found = self.sized[key] = sa.select(ct).where(_in_list(ct.c.id, size))
        return found

    def delete_ids(self, size: int) -> Any:
        """Delete the rows with ``size`` ids (``in_params``)."""
        key = ("delete_ids", size)
        found = self.sized.get(key)
        if found is None:
            ct = self.table
            found = self.sized[key] = sa.delete(ct).where(_in_list(ct.c.id, size))
        return found

    @property
    def rows_per_insert(self) -> int:
        """Rows one INSERT writes at most: INSERT_ROWS_MAX, fewer for a wide table (MAX_PARAMETERS)."""
        return max(1, min(INSERT_ROWS_MAX, MAX_PARAMETERS // len(self.columns)))

    def insert(self, size: int) -> tuple[Any, tuple[tuple[str, ...], ...]]:
        """``INSERT ... VALUES (...), (...) RETURNING`` the rows as stored, for ``size`` rows (at most
        ``rows_per_insert``), and per row the names of its parameters (in ``columns`` order)."""
        key = ("insert", size)
        found = self.sized.get(key)
        if found is None:
            ct = self.table
            names = tuple(tuple(f"r{k}_{j}" for j in range(len(self.columns))) for k in range(size))
            rows = [{c: sa.bindparam(n, type_=ct.c[c].type) for c, n in zip(self.columns, row, strict=True)}
                    for row in names]
            found = self.sized[key] = (sa.insert(ct).values(rows).returning(*ct.c), names)
        return found


@dataclass(frozen=True)
class EntityPlan:
    """The statements of one entity's table."""

    table: sa.Table
    by_id: Any  # ``key``
    by_name: Any  # ``key``
    by_id_locked: Any  # FOR UPDATE (PostgreSQL)
    by_name_locked: Any
    insert: Any  # RETURNING the row as stored
    update: Any  # by ``_id`` and ``_version`` (optimistic lock), RETURNING the row as stored; SET: the values
    # given (see update_values)
    delete: Any  # by ``_id``
    update_known: Any = None  # ``update`` without RETURNING (the row as stored known without it)
    columns: tuple[str, ...] = ()  # of the table, in order
    children: dict[str, ChildPlan] = field(default_factory=dict)
    # per ``links_in`` of the entity (links to it): (ids of up to 1000 rows linking to ``_target``, set them null)
    refs: list[tuple[Any, Any]] = field(default_factory=list)
    shaped: dict[Any, Any] = field(default_factory=dict)  # lookups by shape (``select_by``), built on first use
    set_shapes: set[tuple[str, ...]] = field(default_factory=set)  # the column sets ``update`` was run with

    def update_values(self, names: tuple[str, ...], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """The values an UPDATE of ``after`` (a record as it will be stored, ``names`` its stored fields) sets:
        only the fields whose value differs from ``before`` (the record as stored). ``update`` is compiled
        once per set of columns it sets (lean): after MAX_SET_SHAPES sets for this entity, every field."""
        values = {n: after.get(n) for n in names if differs(before.get(n), after.get(n))}
        if not _admitted(self.set_shapes, tuple(values)):
            return {n: after.get(n) for n in names}
        return values

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


MAX_SET_SHAPES = 64  # column sets an entity's UPDATE is compiled for (more: the whole row)
def _admitted(shapes: set[tuple[str, ...]], shape: tuple[str, ...]) -> bool:
    """Whether an UPDATE may set just the columns ``shape`` (each set compiled once, lean): a set already seen,
    or a new one while fewer than MAX_SET_SHAPES are (then it is noted)."""
    if shape not in shapes:
        if len(shapes) >= MAX_SET_SHAPES:
            return False
        shapes.add(shape)
    return True


_SAME_WHEN_EQUAL = frozenset({str, int, float, bool, dt.date, dt.datetime, type(None)})


def differs(old: Any, new: Any) -> bool:
    """Whether a column holding ``old`` must be written to hold ``new`` (when unsure: yes)."""
    if old is new:
        return False
    kind = type(old)
    if kind is not type(new):
        return True
    if kind in _SAME_WHEN_EQUAL:
        return old != new
    if kind is Decimal:  # 1.0 and 1.00 are equal but not the same text
        return str(old) != str(new)
    return True  # JSON data ...: written again


def _child_plan(cf: Any) -> ChildPlan:
    ct = cf.child_table
    return ChildPlan(
        table=ct,
        columns=("parent_id", "idx", *cf.child.stored_names),
        update=sa.update(ct).where(ct.c.id == sa.bindparam("_id")),
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
        update_known=sa.update(t).where(t.c.id == sa.bindparam("_id"), t.c.version == sa.bindparam("_version")),
        columns=tuple(t.c.keys()),
        children={cf.name: _child_plan(cf) for cf in ce.table_fields},
        refs=[_refs(table, column) for table, column, _owner, _parent in ce.links_in],
    )


def _refs(table: sa.Table, column: str) -> tuple[Any, Any]:
    col = table.c[column]
    target = sa.bindparam("_target")
    return (sa.select(table.c.id).where(col == target).limit(1000),
            sa.update(table).where(col == target).values({column: None}))


class Plans:
    """The plan of each entity of a compiled app (``app.plans``), built once, at the entity's first read or
    write in the process: opening an app (e.g. for one ``ordo get``) builds none of the others'."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.by_entity: dict[str, EntityPlan] = {}

    def __getitem__(self, entity: str) -> EntityPlan:
        found = self.by_entity.get(entity)
        if found is None:  # built once (two threads may both build it: the same plan, one kept)
            ce = self.compiled.entities.get(entity)
            found = self.by_entity[entity] = entity_plan(ce if ce is not None and ce.table is not None
                                                         else self.compiled.entity(entity))
        return found
