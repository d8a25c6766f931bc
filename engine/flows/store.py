"""Row-level reads and writes of the flow tables, all on the caller's connection."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..errors import Conflict, NotFound
from .tables import history_table, instance_table, task_table, token_table, version_table

OPEN_TASK = ("pending", "waiting")


@dataclass
class Instance:
    id: int
    flow: str
    version_id: int
    entity: str
    record_id: int
    status: str
    outcome: str | None
    current: str
    started_by: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    rev: int
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, r: Any) -> Instance:
        m = dict(r._mapping)
        m["data"] = json.loads(m["data"] or "{}")
        return cls(**m)


@dataclass
class Token:
    id: int | None
    node: str
    splits: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def lock_instance(conn: sa.Connection, instance_id: int) -> Instance:
    """Read the instance, locking its row (PostgreSQL) so actions on it are serialized."""
    q = sa.select(instance_table).where(instance_table.c.id == instance_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"flow instance {instance_id} not found")
    return Instance.from_row(row)


def insert_instance(conn: sa.Connection, **values: Any) -> int:
    values["data"] = json.dumps(values.get("data") or {})
    return int(conn.execute(sa.insert(instance_table).values(**values).returning(instance_table.c.id)).scalar_one())


def save_instance(conn: sa.Connection, inst: Instance) -> None:
    """Write the instance back, checking nobody else changed it meanwhile (``rev``)."""
    t = instance_table
    result = conn.execute(sa.update(t).where(t.c.id == inst.id, t.c.rev == inst.rev).values(
        status=inst.status, outcome=inst.outcome, current=inst.current[:500], ended_at=inst.ended_at,
        rev=inst.rev + 1, data=json.dumps(inst.data, default=str)))
    if result.rowcount != 1:
        raise Conflict(f"flow instance {inst.id} was changed by someone else; reload and retry")
    inst.rev += 1


def instances_of(conn: sa.Connection, entity: str, record_id: int, status: str | None = None) -> list[Instance]:
    t = instance_table
    q = sa.select(t).where(t.c.entity == entity, t.c.record_id == record_id).order_by(t.c.id)
    if status:
        q = q.where(t.c.status == status)
    return [Instance.from_row(r) for r in conn.execute(q)]


# -- tokens
def save_token(conn: sa.Connection, instance_id: int, tok: Token, now: dt.datetime) -> int:
    t = token_table
    values = dict(node=tok.node, status="active", splits=json.dumps(tok.splits), arrived_at=now,
                  data=json.dumps(tok.data))
    if tok.id is None:
        tok.id = int(conn.execute(sa.insert(t).values(instance_id=instance_id, **values).returning(t.c.id))
                     .scalar_one())
    else:
        conn.execute(sa.update(t).where(t.c.id == tok.id).values(**values))
    return tok.id


def finish_token(conn: sa.Connection, tok: Token, status: str = "done") -> None:
    if tok.id is not None:
        conn.execute(sa.update(token_table).where(token_table.c.id == tok.id).values(status=status))


def active_tokens(conn: sa.Connection, instance_id: int) -> list[Token]:
    t = token_table
    rows = conn.execute(sa.select(t).where(t.c.instance_id == instance_id, t.c.status == "active")
                        .order_by(t.c.id))
    return [Token(r.id, r.node, json.loads(r.splits), json.loads(r.data or "{}")) for r in rows]


def get_token(conn: sa.Connection, token_id: int) -> tuple[Token, str] | None:
    r = conn.execute(sa.select(token_table).where(token_table.c.id == token_id)).first()
    if r is None:
        return None
    return Token(r.id, r.node, json.loads(r.splits), json.loads(r.data or "{}")), r.status


# -- tasks
def insert_task(conn: sa.Connection, **values: Any) -> int:
    return int(conn.execute(sa.insert(task_table).values(**values).returning(task_table.c.id)).scalar_one())


def get_task(conn: sa.Connection, task_id: int) -> dict[str, Any]:
    r = conn.execute(sa.select(task_table).where(task_table.c.id == task_id)).first()
    if r is None:
        raise NotFound(f"task {task_id} not found")
    return dict(r._mapping)


def token_tasks(conn: sa.Connection, tok: Token) -> list[dict[str, Any]]:
    """The tasks of the token's current visit to its node (a node visited again starts afresh)."""
    t = task_table
    q = sa.select(t).where(t.c.token_id == tok.id, t.c.node == tok.node, t.c.visit == tok.data.get("visit", 1)) \
        .order_by(t.c.seq, t.c.id)
    return [dict(r._mapping) for r in conn.execute(q)]


def set_task(conn: sa.Connection, task_id: int, expect: str | tuple[str, ...], **values: Any) -> bool:
    """Change a task only if it still has status ``expect`` (the guard against double actions)."""
    t = task_table
    allowed = (expect,) if isinstance(expect, str) else expect
    result = conn.execute(sa.update(t).where(t.c.id == task_id, t.c.status.in_(allowed)).values(**values))
    return result.rowcount == 1


def close_tasks(conn: sa.Connection, *, now: dt.datetime, instance_id: int, token_id: int | None = None,
                reason: str | None = None) -> list[dict[str, Any]]:
    """Cancel the open tasks of an instance (or of one token), noting ``reason``; return them as they were."""
    t = task_table
    q = sa.select(t).where(t.c.instance_id == instance_id, t.c.status.in_(OPEN_TASK)).order_by(t.c.id)
    if token_id is not None:
        q = q.where(t.c.token_id == token_id)
    tasks = [dict(r._mapping) for r in conn.execute(q)]
    if tasks:
        conn.execute(sa.update(t).where(t.c.id.in_([x["id"] for x in tasks]), t.c.status.in_(OPEN_TASK))
                     .values(status="cancelled", acted_at=now, comment=reason))
    return tasks


def open_tasks(conn: sa.Connection, instance_id: int) -> list[dict[str, Any]]:
    t = task_table
    q = sa.select(t).where(t.c.instance_id == instance_id, t.c.status == "pending").order_by(t.c.id)
    return [dict(r._mapping) for r in conn.execute(q)]


# -- history
def add_history(conn: sa.Connection, inst: Instance, *, at: dt.datetime, user: str, action: str,
                node: str | None = None, task_id: int | None = None, comment: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
    conn.execute(sa.insert(history_table).values(
        instance_id=inst.id, entity=inst.entity, record_id=inst.record_id, at=at, user=user, action=action,
        node=node, task_id=task_id, comment=comment, detail=json.dumps(detail or {}, default=str,
                                                                        ensure_ascii=False)))


# -- versions
def version_row(conn: sa.Connection, flow: str, digest: str) -> int | None:
    t = version_table
    r = conn.execute(sa.select(t.c.id).where(t.c.flow == flow, t.c.hash == digest)).first()
    return None if r is None else int(r.id)


def ensure_version(conn: sa.Connection, flow: str, digest: str, declared: Any, definition: str,
                   now: dt.datetime) -> int:
    found = version_row(conn, flow, digest)
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(version_table).values(flow=flow, hash=digest, definition=definition,
                                                         declared=None if declared is None else str(declared),
                                                         created_at=now))
    except sa.exc.IntegrityError:  # another process registered it first
        pass
    found = version_row(conn, flow, digest)
    assert found is not None
    return found


def load_version(conn: sa.Connection, version_id: int) -> tuple[str, str, str] | None:
    t = version_table
    r = conn.execute(sa.select(t.c.flow, t.c.hash, t.c.definition).where(t.c.id == version_id)).first()
    return None if r is None else (r.flow, r.hash, r.definition)
