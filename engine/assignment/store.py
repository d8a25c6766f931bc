"""Assignments and round-robin cursors in the database.

``ordo_assignment`` records who was assigned to which record by which rule
entry, and whether that assignment is still open (load balancing counts open
ones). ``ordo_assignment_cursor`` holds the last user each round-robin entry
picked; it is read with ``SELECT ... FOR UPDATE`` so concurrent assignments
take turns (SQLite serializes writers). Once a transaction has moved a cursor it
holds the row's lock (the write lock on SQLite), so it keeps the cursor's last
user in its unit of work and reads the row no more; its later moves are written
when it commits (buffered in the unit of work, one executemany). New assignments are
buffered too (written with one executemany when the transaction commits, or before
anything reads the table); a record created in the transaction has no assignments but
those it made, so asking for its open ones reads nothing.

Statements are built once and run lean (``engine/lean.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from .. import lean, unit_of_work
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


_a = assignment_table
_ACTIVE = (sa.select(_a.c.id, _a.c.rule, _a.c.entry, _a.c.user_name, _a.c.active, _a.c.assigned_at)
           .where(_a.c.rule == sa.bindparam("_rule"), _a.c.entity == sa.bindparam("_entity"),
                  _a.c.record_id == sa.bindparam("_record"), _a.c.active.is_(True)).order_by(_a.c.id))
_ADD = sa.insert(_a)  # every column but id given: executemany, run lean
_END = sa.update(_a).where(_a.c.id == sa.bindparam("_id")).values(active=False, ended_at=sa.bindparam("_at"))
_c = cursor_table
_CURSOR = sa.select(_c.c.last_user).where(_c.c.rule == sa.bindparam("_rule"), _c.c.entry == sa.bindparam("_entry"))
_CURSOR_LOCKED = _CURSOR.with_for_update()
_MOVE = (sa.update(_c).where(_c.c.rule == sa.bindparam("_rule"), _c.c.entry == sa.bindparam("_entry"))
         .values(last_user=sa.bindparam("_last"), turns=_c.c.turns + sa.bindparam("_turns", type_=sa.BigInteger)))


def active(conn: sa.Connection, rule: str, entity: str, record_id: int) -> list[Assignment]:
    """The open assignments of a record under ``rule``, oldest first."""
    uow = unit_of_work.of(conn)
    key = (rule, entity, record_id)
    added = _added(conn, uow)
    if key in added:  # its rows of this transaction are written first (with every other buffered row)
        unit_of_work.flush(conn)
        added.clear()
    elif (entity, record_id) in uow.created:  # a record of this transaction, nothing assigned to it yet
        return []
    rows = lean.execute(conn, _ACTIVE, {"_rule": rule, "_entity": entity, "_record": record_id})
    return [Assignment(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def add(conn: sa.Connection, rule: str, entry: str, entity: str, record_id: int, users: list[str],
        at: dt.datetime, by: str) -> None:
    """Assign ``users``: buffered, written when the transaction commits (or something reads them)."""
    if users:
        _added(conn, unit_of_work.of(conn)).add((rule, entity, record_id))
        for u in users:
            unit_of_work.buffer(conn, _ADD, {"rule": rule, "entry": entry, "entity": entity, "record_id": record_id,
                                             "user_name": u, "active": True, "assigned_at": at, "assigned_by": by,
                                             "ended_at": None})


_ADDED = "ordo_assignments_added"  # key in UnitOfWork.facts: (rule, entity, record id) given rows still buffered


def _added(conn: sa.Connection, uow: unit_of_work.UnitOfWork) -> set[tuple[str, str, int]]:
    """The records given assignments whose rows may still be buffered. Known from the first use in a
    transaction (or after a savepoint rolled back, which forgets it): the rows buffered before are written
    then."""
    found = uow.facts.get(_ADDED)
    if found is None:
        if uow.pending:
            unit_of_work.flush(conn)
        found = uow.facts[_ADDED] = set()
    return found


def end(conn: sa.Connection, ids: list[int], at: dt.datetime) -> None:
    if ids:
        lean.execute(conn, _END, [{"_id": i, "_at": at} for i in ids])


def open_counts(conn: sa.Connection, rule: str, users: list[str]) -> dict[str, int]:
    """Open assignments per user under ``rule``."""
    unit_of_work.flush(conn)  # those of this transaction still buffered
    t = assignment_table
    q = (sa.select(t.c.user_name, sa.func.count()).where(t.c.rule == rule, t.c.active.is_(True),
                                                         t.c.user_name.in_(users)).group_by(t.c.user_name))
    counts = {u: 0 for u in users}
    counts.update({name: int(n) for name, n in conn.execute(q)})
    return counts


def _moved(conn: sa.Connection) -> dict[tuple[str, str], str]:
    """The cursors this transaction moved (locked until it ends): (rule, entry) -> last user."""
    facts = unit_of_work.of(conn).facts
    found = facts.get(_MOVED)
    if found is None:
        found = facts[_MOVED] = {}
    return found


_MOVED = "ordo_assignment_cursors"  # key in UnitOfWork.facts (dropped with a savepoint rolled back)


def lock_cursor(conn: sa.Connection, rule: str, entry: str) -> str | None:
    """The entry's last picked user, with its cursor row locked until the transaction ends."""
    moved = _moved(conn).get((rule, entry))
    if moved is not None:  # moved by this transaction: locked and known
        return moved
    uow = unit_of_work.of(conn)
    if any(stmt is _MOVE for stmt, _ in uow.pending):  # moves kept from before a savepoint rolled back
        unit_of_work.flush(conn)
    q = _CURSOR_LOCKED if conn.dialect.name == "postgresql" else _CURSOR
    params = {"_rule": rule, "_entry": entry}
    row = lean.execute(conn, q, params).first()
    if row is None:
        t = cursor_table
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(t).values(rule=rule, entry=entry, last_user=None, turns=0))
        except sa.exc.IntegrityError:  # created meanwhile by another transaction: lock that row
            pass
        row = lean.execute(conn, q, params).first()
    return row.last_user if row is not None else None


def move_cursor(conn: sa.Connection, rule: str, entry: str, last_user: str, turns: int) -> None:
    """Move the entry's cursor: written now the first time in the transaction (which locks it), then kept
    and written when the transaction commits (one executemany for every later move, in order)."""
    moved = _moved(conn)
    params = {"_rule": rule, "_entry": entry, "_last": last_user, "_turns": turns}
    if (rule, entry) in moved:
        unit_of_work.buffer(conn, _MOVE, params)
    else:
        lean.execute(conn, _MOVE, params)
    moved[(rule, entry)] = last_user
