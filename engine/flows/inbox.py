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
from ..errors import UsageError
from . import ahead, store
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
PAGE = 500  # tasks read at a time when every pending task is asked for


_PENDING = _t.c.status == sa.literal_column("'pending'")  # literally, as the partial indexes say it (tables.PENDING)


def _mine(roles: int) -> tuple[Any, ...]:
    """Pending, assigned to ``:user`` or unassigned with a role among ``:role0 .. :role<roles-1>`` (one bound
    parameter per role: the statement is built once per number of roles, no expanding IN to render per call).
    Each way names the status in its own term, so each is searched in its partial index of pending tasks (see
    tables; SQLite: a MULTI-INDEX OR, PostgreSQL: a BitmapOr); a bound status would match neither index."""
    for_user = sa.and_(_PENDING, _t.c.assignee == sa.bindparam("user"))
    if not roles:
        return (for_user,)
    in_role = _t.c.assignee_role.in_([sa.bindparam(f"role{i}") for i in range(roles)])
    return (sa.or_(for_user, sa.and_(_PENDING, _t.c.assignee.is_(None), in_role)),)


@functools.lru_cache(maxsize=64)
def _inbox(roles: int) -> Any:
    return sa.select(_t).where(*_mine(roles)).order_by(*_ORDER).limit(sa.bindparam("limit")) \
        .offset(sa.bindparam("offset"))


@functools.lru_cache(maxsize=64)
def _count(roles: int) -> Any:
    return sa.select(sa.func.count()).select_from(_t).where(*_mine(roles))


@functools.lru_cache(maxsize=64)
def _one(roles: int) -> Any:
    return sa.select(_t).where(*_mine(roles), _t.c.id == sa.bindparam("id"))


def _params(user: str, roles: Any) -> dict[str, Any]:
    params = {"user": user}
    params.update(_role_params(roles))
    return params


@functools.lru_cache(maxsize=256)
def _role_params(roles: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The inbox's parameters of a set of roles (``role0`` ... in their order), named once per set."""
    return tuple((f"role{i}", r) for i, r in enumerate(sorted(roles)))


def _named(records: store.Records, filters: tuple[Any, ...], roles: int) -> Any:
    """The inbox with the names of the tasks' records in the same statement: each flow entity's table
    joined by id, on the condition of the rows the user may read (``filters``, None: all)."""
    frm: Any = _t
    cols = []
    for i, ((entity, table), readable) in enumerate(zip(records, filters, strict=True)):
        on = sa.and_(_t.c.entity == entity, table.c.id == _t.c.record_id)
        frm = frm.outerjoin(table, on if readable is None else sa.and_(on, readable))
        cols.append(table.c.name.label(f"ordo_name_{i}"))
    return sa.select(_t, *cols).select_from(frm).where(*_mine(roles)).order_by(*_ORDER) \
        .limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))


@functools.lru_cache(maxsize=64)
def _name_labels(records: store.Records) -> tuple[tuple[str, str], ...]:
    """(label of the record name's column in :func:`_named`, entity) of each entity of ``records``."""
    return tuple((f"ordo_name_{i}", entity) for i, (entity, _) in enumerate(records))


_named_all = functools.lru_cache(maxsize=64)(_named)  # nobody's reads filtered: built once per number of roles


def inbox(tx: Transaction, user: str | None = None, limit: int | None = None,
          records: store.Records = (), offset: int = 0) -> list[InboxTask]:
    """Pending tasks of the acting user (or, for an admin, of ``user``): assigned to them or to their roles,
    due first. ``limit``: at most that many, after the first ``offset`` (a page: the API and pages ask one
    more to know whether there are more); None: every pending task (read ``PAGE`` at a time), never a
    silent cut. The names of their records (the ones the acting user may read) are read in the same
    statement for the entities of ``records`` (the flows' entities), with one more statement per other
    entity."""
    user, roles = _whose(tx, user)
    store.flush(tx.conn)  # tasks of this transaction still buffered
    for what, n in (("limit", limit), ("offset", offset)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > 2**62):
            raise UsageError(f"inbox {what} must be a whole number from 0, got {n!r}")
    names: dict[str, dict[int, str]] = {e: {} for e, _ in records}
    if records:
        filters = tuple(tx.row_filter(e) for e, _ in records)
        once = all(f is None for f in filters)
        # built once: run lean; else built for this call (the user's row rules)
        q = _named_all(records, filters, len(roles)) if once else _named(records, filters, len(roles))
    else:
        q, once = _inbox(len(roles)), True
    params = {**_params(user, roles), "limit": PAGE if limit is None else limit, "offset": offset}
    rows: list[dict[str, Any]] = []
    while True:
        result = lean.execute(tx.conn, q, params) if once else tx.conn.execute(q, params)
        # a lean row's _mapping is a dict of its own already; SQLAlchemy's is copied
        page = [r._mapping for r in result] if type(result) is lean.Result else [dict(r._mapping) for r in result]
        for m in page:
            for label, entity in _name_labels(records):
                name = m.pop(label)
                if name is not None and entity == m["entity"]:
                    names[entity][m["record_id"]] = name
        rows += page
        if limit is not None or len(page) < PAGE:
            break
        params["offset"] += PAGE
    by_entity: dict[str, set[int]] = {}
    for r in rows:
        if r["entity"] not in names:  # not an entity a flow runs on now (an instance of a removed flow)
            by_entity.setdefault(r["entity"], set()).add(r["record_id"])
    names.update({e: _names(tx, e, ids) for e, ids in by_entity.items()})
    ahead.expect(tx.conn, [(r["id"], r["instance_id"]) for r in rows])  # the instances acted on next, read together
    return [_task(tx, r, names[r["entity"]].get(r["record_id"])) for r in rows]


def inbox_count(tx: Transaction, user: str | None = None) -> int:
    """How many tasks :func:`inbox` holds for the acting user (an admin: for ``user``): one statement."""
    user, roles = _whose(tx, user)
    store.flush(tx.conn)
    return int(lean.execute(tx.conn, _count(len(roles)), _params(user, roles)).scalar_one())


def inbox_task(tx: Transaction, task_id: int, user: str | None = None) -> InboxTask | None:
    """Task ``task_id`` if it is in the inbox of the acting user (an admin: of ``user``), read directly by
    its id on the inbox's own condition (pending, assigned to them or to one of their roles); else None."""
    user, roles = _whose(tx, user)
    store.flush(tx.conn)
    row = lean.execute(tx.conn, _one(len(roles)), {**_params(user, roles), "id": task_id}).first()
    if row is None:
        return None
    r = dict(row._mapping)
    return _task(tx, r, _names(tx, r["entity"], {r["record_id"]}).get(r["record_id"])
                 if r["entity"] in tx.app.compiled.entities else None)


def _whose(tx: Transaction, user: str | None) -> tuple[str, Any]:
    """(user, roles) of the inbox asked for: the acting user's, or (admins only) ``user``'s."""
    me = tx.user
    if user is not None and user != me.name:
        if not me.is_admin:
            from ..errors import PermissionDenied

            raise PermissionDenied(f"{me.name} may not read the inbox of {user}")
        return user, tx.users.actor(user).roles
    return me.name, me.roles


def _task(tx: Transaction, r: dict[str, Any], name: str | None) -> InboxTask:
    return InboxTask(r["id"], r["flow"], r["node"], r["entity"], r["record_id"], name, r["assignee"],
                     r["assignee_role"], r["created_at"], r["due_at"],
                     r["due_at"] is not None and r["due_at"] < tx.now, r["instance_id"])


def instance_tasks(conn: sa.Connection, instance_id: int, status: str | None = "pending") -> list[dict[str, Any]]:
    t = task_table
    store.flush(conn)
    q = sa.select(t).where(t.c.instance_id == instance_id).order_by(t.c.id)
    if status:
        q = q.where(t.c.status == status)
    return [dict(r._mapping) for r in conn.execute(q)]


def status(tx: Transaction, entity: str, record_id: int) -> FlowStatus | None:
    t = instance_table
    store.flush(tx.conn)
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
