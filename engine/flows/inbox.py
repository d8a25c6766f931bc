"""Reading flow state: a user's task inbox, a record's flow status and its timeline."""

from __future__ import annotations

import datetime as dt
import functools
import json
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import lean, unit_of_work
from . import store
from .tables import history_table, instance_table, task_table

if TYPE_CHECKING:
    from ..records import Transaction


@dataclass(frozen=True)
class InboxTask:
    id: int
    flow: str
    node: str
    entity: str
    record_id: int
    record_name: str | None
    assignee: str | None
    role: str | None
    created_at: dt.datetime
    due_at: dt.datetime | None
    overdue: bool
    instance_id: int


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    user: str
    action: str
    node: str | None
    comment: str | None
    task_id: int | None
    instance_id: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowStatus:
    instance_id: int
    flow: str
    status: str
    outcome: str | None
    current: list[str]
    started_by: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    tasks: list[dict[str, Any]]


_NAMES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # table -> SELECT id, name, built once


def _names(tx: Transaction, entity: str, ids: set[int]) -> dict[int, str]:
    """Names of the records the acting user may read (others stay unnamed)."""
    table = tx.app.compiled.entity(entity).table
    if table is None or not ids:
        return {}
    q = _NAMES.get(table)
    if q is None:
        q = _NAMES[table] = sa.select(table.c.id, table.c.name).where(
            table.c.id.in_(sa.bindparam("ids", expanding=True)))
    readable = tx.row_filter(entity)
    rows = tx.conn.execute(q if readable is None else q.where(readable), {"ids": sorted(ids)})
    return {r.id: r.name for r in rows}


_t = task_table
_ORDER = (_t.c.due_at.is_(None), _t.c.due_at, _t.c.id)


def _mine(roles: int) -> tuple[Any, ...]:
    """Pending, assigned to ``:user`` or unassigned with a role among ``:role0 .. :role<roles-1>`` (one bound
    parameter per role: the statement is built once per number of roles, no expanding IN to render per call)."""
    in_role = _t.c.assignee_role.in_([sa.bindparam(f"role{i}") for i in range(roles)]) if roles else sa.false()
    return (_t.c.status == "pending", sa.or_(_t.c.assignee == sa.bindparam("user"),
                                             sa.and_(_t.c.assignee.is_(None), in_role)))


@functools.lru_cache(maxsize=64)
def _inbox(roles: int) -> Any:
    return sa.select(_t).where(*_mine(roles)).order_by(*_ORDER).limit(sa.bindparam("limit"))


def _named(records: store.Records, filters: tuple[Any, ...], roles: int) -> Any:
    """The inbox with the names of the tasks' records in the same statement: each flow entity's table
    joined by id, on the condition of the rows the user may read (``filters``, None: all)."""
    frm: Any = _t
    cols = []
    for i, ((entity, table), readable) in enumerate(zip(records, filters, strict=True)):
        on = sa.and_(_t.c.entity == entity, table.c.id == _t.c.record_id)
        frm = frm.outerjoin(table, on if readable is None else sa.and_(on, readable))
        cols.append(table.c.name.label(f"ordo_name_{i}"))
    return sa.select(_t, *cols).select_from(frm).where(*_mine(roles)).order_by(*_ORDER).limit(
        sa.bindparam("limit"))


_named_all = functools.lru_cache(maxsize=64)(_named)  # nobody's reads filtered: built once per number of roles


def inbox(tx: Transaction, user: str | None = None, limit: int = 500,
          records: store.Records = ()) -> list[InboxTask]:
    """Pending tasks of the acting user (or, for an admin, of ``user``): assigned to them or to their roles.
    The names of their records (the ones the acting user may read) are read in the same statement for the
    entities of ``records`` (the flows' entities), with one more statement per other entity."""
    me = tx.user
    if user is not None and user != me.name:
        if not me.is_admin:
            from ..errors import PermissionDenied

            raise PermissionDenied(f"{me.name} may not read the inbox of {user}")
        roles = tx.users.actor(user).roles
    else:
        user, roles = me.name, me.roles
    params: dict[str, Any] = {"user": user, "limit": limit, **{f"role{i}": r for i, r in enumerate(sorted(roles))}}
    names: dict[str, dict[int, str]] = {e: {} for e, _ in records}
    if records:
        filters = tuple(tx.row_filter(e) for e, _ in records)
        if all(f is None for f in filters):  # built once: run lean
            result = lean.execute(tx.conn, _named_all(records, filters, len(roles)), params)
        else:  # built for this call (the user's row rules)
            result = tx.conn.execute(_named(records, filters, len(roles)), params)
        rows = []
        for r in result:
            m = dict(r._mapping)
            for i, (entity, _) in enumerate(records):
                name = m.pop(f"ordo_name_{i}")
                if name is not None and entity == m["entity"]:
                    names[entity][m["record_id"]] = name
            rows.append(m)
    else:
        rows = [dict(r._mapping) for r in lean.execute(tx.conn, _inbox(len(roles)), params)]
    by_entity: dict[str, set[int]] = {}
    for r in rows:
        if r["entity"] not in names:  # not an entity a flow runs on now (an instance of a removed flow)
            by_entity.setdefault(r["entity"], set()).add(r["record_id"])
    names.update({e: _names(tx, e, ids) for e, ids in by_entity.items()})
    now = tx.now
    return [InboxTask(r["id"], r["flow"], r["node"], r["entity"], r["record_id"],
                      names[r["entity"]].get(r["record_id"]), r["assignee"], r["assignee_role"], r["created_at"],
                      r["due_at"], r["due_at"] is not None and r["due_at"] < now, r["instance_id"]) for r in rows]


def instance_tasks(conn: sa.Connection, instance_id: int, status: str | None = "pending") -> list[dict[str, Any]]:
    t = task_table
    q = sa.select(t).where(t.c.instance_id == instance_id).order_by(t.c.id)
    if status:
        q = q.where(t.c.status == status)
    return [dict(r._mapping) for r in conn.execute(q)]


def status(tx: Transaction, entity: str, record_id: int) -> FlowStatus | None:
    t = instance_table
    row = tx.conn.execute(sa.select(t).where(t.c.entity == entity, t.c.record_id == record_id)
                          .order_by(t.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    inst = store.Instance.from_row(row)
    return FlowStatus(inst.id, inst.flow, inst.status, inst.outcome,
                      [s for s in inst.current.split(", ") if s], inst.started_by, inst.started_at, inst.ended_at,
                      instance_tasks(tx.conn, inst.id, "pending"))


def timeline(tx: Transaction, entity: str, record_id: int) -> list[Event]:
    h = history_table
    unit_of_work.flush(tx.conn)  # entries of this transaction still buffered
    rows = tx.conn.execute(sa.select(h).where(h.c.entity == entity, h.c.record_id == record_id).order_by(h.c.id))
    return [Event(r.at, r.user, r.action, r.node, r.comment, r.task_id, r.instance_id, json.loads(r.detail or "{}"))
            for r in rows]
