"""Assignments and round-robin cursors in the database.

``ordo_assignment`` records who was assigned to which record by which rule
entry, and whether that assignment is still open (load balancing counts open
ones). ``ordo_assignment_cursor`` holds the last user each round-robin entry
picked; it is read with ``SELECT ... FOR UPDATE`` so concurrent assignments
take turns (SQLite serializes writers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from ..tables import SYSTEM_METADATA, id_column

assignment_table = sa.Table(
    "ordo_assignment",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("rule", sa.String(140), nullable=False),
    sa.Column("entry", sa.String(140), nullable=False),
    sa.Column("entity", sa.String(140), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("user_name", sa.String(140), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("assigned_at", sa.DateTime, nullable=False),
    sa.Column("assigned_by", sa.String(140), nullable=False),
    sa.Column("ended_at", sa.DateTime),
    sa.Index("ix_ordo_assignment_record", "rule", "entity", "record_id"),
    sa.Index("ix_ordo_assignment_load", "rule", "active", "user_name"),
)

cursor_table = sa.Table(
    "ordo_assignment_cursor",
    SYSTEM_METADATA,
    sa.Column("rule", sa.String(140), primary_key=True),
    sa.Column("entry", sa.String(140), primary_key=True),
    sa.Column("last_user", sa.String(140)),
    sa.Column("turns", sa.BigInteger, nullable=False, default=0),
)


@dataclass(frozen=True)
class Assignment:
    id: int
    rule: str
    entry: str
    user: str
    active: bool
    assigned_at: dt.datetime


def active(conn: sa.Connection, rule: str, entity: str, record_id: int) -> list[Assignment]:
    t = assignment_table
    q = sa.select(t).where(t.c.rule == rule, t.c.entity == entity, t.c.record_id == record_id,
                           t.c.active.is_(True)).order_by(t.c.id)
    return [Assignment(r.id, r.rule, r.entry, r.user_name, r.active, r.assigned_at) for r in conn.execute(q)]


def add(conn: sa.Connection, rule: str, entry: str, entity: str, record_id: int, users: list[str],
        at: dt.datetime, by: str) -> None:
    if users:
        conn.execute(sa.insert(assignment_table), [
            {"rule": rule, "entry": entry, "entity": entity, "record_id": record_id, "user_name": u,
             "active": True, "assigned_at": at, "assigned_by": by} for u in users])


def end(conn: sa.Connection, ids: list[int], at: dt.datetime) -> None:
    if ids:
        t = assignment_table
        conn.execute(sa.update(t).where(t.c.id.in_(ids)).values(active=False, ended_at=at))


def open_counts(conn: sa.Connection, rule: str, users: list[str]) -> dict[str, int]:
    """Open assignments per user under ``rule``."""
    t = assignment_table
    q = (sa.select(t.c.user_name, sa.func.count()).where(t.c.rule == rule, t.c.active.is_(True),
                                                         t.c.user_name.in_(users)).group_by(t.c.user_name))
    counts = {u: 0 for u in users}
    counts.update({name: int(n) for name, n in conn.execute(q)})
    return counts


def lock_cursor(conn: sa.Connection, rule: str, entry: str) -> str | None:
    """The entry's last picked user, with its cursor row locked until the transaction ends."""
    t = cursor_table
    q = sa.select(t.c.last_user).where(t.c.rule == rule, t.c.entry == entry)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(t).values(rule=rule, entry=entry, last_user=None, turns=0))
        except sa.exc.IntegrityError:  # created meanwhile by another transaction: lock that row
            pass
        row = conn.execute(q).first()
    return row.last_user if row is not None else None


def move_cursor(conn: sa.Connection, rule: str, entry: str, last_user: str, turns: int) -> None:
    t = cursor_table
    conn.execute(sa.update(t).where(t.c.rule == rule, t.c.entry == entry).values(
        last_user=last_user, turns=t.c.turns + turns))
