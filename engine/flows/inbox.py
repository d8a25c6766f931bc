"""Reading flow state: a user's task inbox, a record's flow status and its timeline."""

from __future__ import annotations

import datetime as dt
import json
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

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
_INBOX = sa.select(_t).where(_t.c.status == "pending", sa.or_(
    _t.c.assignee == sa.bindparam("user"),
    sa.and_(_t.c.assignee.is_(None), _t.c.assignee_role.in_(sa.bindparam("roles", expanding=True))),
)).order_by(_t.c.due_at.is_(None), _t.c.due_at, _t.c.id).limit(sa.bindparam("limit"))


def inbox(tx: Transaction, user: str | None = None, limit: int = 500) -> list[InboxTask]:
    """Pending tasks of the acting user (or, for an admin, of ``user``): assigned to them or to their roles."""
    me = tx.user
    if user is not None and user != me.name:
        if not me.is_admin:
            from ..errors import PermissionDenied

            raise PermissionDenied(f"{me.name} may not read the inbox of {user}")
        roles = tx.users.actor(user).roles
    else:
        user, roles = me.name, me.roles
    rows = [dict(r._mapping) for r in tx.conn.execute(
        _INBOX, {"user": user, "roles": sorted(roles), "limit": limit})]
    by_entity: dict[str, set[int]] = {}
    for r in rows:
        by_entity.setdefault(r["entity"], set()).add(r["record_id"])
    names = {e: _names(tx, e, ids) for e, ids in by_entity.items()}
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
    rows = tx.conn.execute(sa.select(h).where(h.c.entity == entity, h.c.record_id == record_id).order_by(h.c.id))
    return [Event(r.at, r.user, r.action, r.node, r.comment, r.task_id, r.instance_id, json.loads(r.detail or "{}"))
            for r in rows]
