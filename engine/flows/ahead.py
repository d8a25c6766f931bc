"""Instances read ahead: the inbox a SQLite write transaction read tells which instances its actions will load.

An approver's transaction reads their inbox, then acts on its tasks one by one: each action loaded its
instance (its row, active tokens, their tasks and its record) with a statement of its own. In a SQLite write
transaction (its write lock held from ``BEGIN IMMEDIATE``: nobody else writes until it ends, every read is
current) the inbox notes the instances of the tasks it returned (:func:`expect`); the first action on one of
them loads it together with the next ones noted (``FIRST``, then twice as many each time up to ``CHUNK``: a
transaction acting on one task of a long inbox reads few more), in one statement, and keeps them in the unit
of work (:func:`take`: each is given to one action, then no longer kept). What is kept is what a load at the
moment of the action would read:

* the flow store is the only writer of the flow tables, and each of its writes drops the kept instance it
  touches (:func:`drop`, by instance, task or token id) before it is made; a run only writes an instance
  it loaded, which took it out first;
* the record read with an instance goes into the unit of work at once (as a run adopts it), unless the
  transaction knows it already; the kept instance holds no copy (the run reads the unit of work's, kept
  current by the transaction's writes; a record with child rows is read when the run needs it);
* a savepoint rolled back drops them (the unit of work's facts), and the whole transaction's end does.

PostgreSQL and read transactions read nothing ahead: there an action locks its instance first (``FOR
UPDATE``) and reads it afterwards (``store.load_instance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import lean, unit_of_work
from ..write_plan import in_params, in_size
from .loaded import Loaded, Records, loaded_from, select_many

if TYPE_CHECKING:
    from ..records import Transaction

FIRST, CHUNK = 8, 64  # instances read ahead by the first statement, then by each next one at most (doubling)
_KEY = "flows.ahead"


class Ahead:
    """The instances a transaction's actions are expected to load (unit of work ``facts``)."""

    def __init__(self) -> None:
        self.wanted: dict[int, int] = {}  # task id -> its instance's id, for instances not read yet
        self.unread: dict[int, None] = {}  # instance ids not read yet, in the inbox's order
        self.kept: dict[int, Loaded] = {}  # instance id -> as read, not given to an action yet
        self.tasks: dict[int, int] = {}  # task id -> instance id, of the kept instances
        self.tokens: dict[int, int] = {}  # token id -> instance id, of the kept instances
        self.size = FIRST  # instances the next read reads at most


def expect(conn: sa.Connection, tasks: list[tuple[int, int]]) -> None:
    """The (task id, instance id) pairs an inbox just returned: in a SQLite write transaction, their instances
    are read together when the first of them is loaded (when there are two or more)."""
    if len(tasks) < 2:  # one task: its action loads it as it would anyway
        return
    uow = unit_of_work.current(conn)
    if uow is None or not uow.locks_all:
        return
    ahead = uow.facts.get(_KEY)
    if ahead is None:
        ahead = uow.facts[_KEY] = Ahead()
    for task_id, instance_id in tasks:
        if instance_id not in ahead.kept:
            ahead.wanted[task_id] = instance_id
            ahead.unread[instance_id] = None


def take(tx: Transaction, task_id: int, records: Records, flush: Any) -> Loaded | None:
    """The instance of task ``task_id`` read ahead (no longer kept), reading it with the next ones noted
    if it was not yet (after ``flush``: the flow store's, of its rows still buffered); None when it was
    not expected."""
    conn = tx.conn
    uow = unit_of_work.current(conn)
    ahead = None if uow is None or not uow.locks_all else uow.facts.get(_KEY)
    if ahead is None:
        return None
    instance_id = ahead.tasks.get(task_id)
    if instance_id is None:
        instance_id = ahead.wanted.pop(task_id, None)
        if instance_id is None or instance_id not in ahead.unread:
            return None
        flush(conn)
        _read(tx, uow, ahead, instance_id, records)
    return _pop(ahead, instance_id)


def _read(tx: Transaction, uow: unit_of_work.UnitOfWork, ahead: Ahead, first: int, records: Records) -> None:
    ids = [first]
    del ahead.unread[first]
    size, ahead.size = ahead.size, min(ahead.size * 2, CHUNK)
    while ahead.unread and len(ids) < size:
        nxt = next(iter(ahead.unread))
        del ahead.unread[nxt]
        ids.append(nxt)
    rows = lean.execute(tx.conn, select_many(records, in_size(len(ids))), in_params(ids)).all()
    if not rows:
        return
    at = rows[0]._fields.index("id")
    groups: dict[int, list[Any]] = {}
    for r in rows:
        groups.setdefault(r[at], []).append(r)
    for instance_id, group in groups.items():
        loaded = loaded_from(group, records)
        _learn_record(tx, uow, loaded)
        if loaded.alone:  # the only instance running on its record (as store._note_running keeps it)
            inst = loaded.instance
            uow.facts.setdefault(("flows.running", inst.entity, inst.record_id), {inst.id: inst})
        ahead.kept[instance_id] = loaded
        for t in loaded.tasks:
            ahead.tasks[t["id"]] = instance_id
        for tok in loaded.tokens:
            if tok.id is not None:
                ahead.tokens[tok.id] = instance_id


def _learn_record(tx: Transaction, uow: unit_of_work.UnitOfWork, loaded: Loaded) -> None:
    """The record read with the instance goes into the unit of work now, as a run adopts it (not kept with the
    instance; one with child rows is read when a run needs it)."""
    row, loaded.record = loaded.record, None
    entity = loaded.instance.entity
    if row is not None and (entity, row["id"]) not in uow.records and not tx.app.compiled.entity(entity).table_fields:
        uow.put(entity, row, tables=())


def _pop(ahead: Ahead, instance_id: int) -> Loaded | None:
    loaded = ahead.kept.pop(instance_id, None)
    if loaded is not None:
        for t in loaded.tasks:
            ahead.tasks.pop(t["id"], None)
        for tok in loaded.tokens:
            ahead.tokens.pop(tok.id, None)  # type: ignore[arg-type]
    return loaded


def drop(conn: sa.Connection, *, instance: int | None = None, task: int | None = None,
         token: int | None = None) -> None:
    """A write of the flow store is about to change the instance ``instance`` (or that of ``task`` /
    ``token``): what was read ahead of it is no longer kept (and it is not read ahead any more)."""
    uow = unit_of_work.current(conn)
    ahead = None if uow is None else uow.facts.get(_KEY)
    if ahead is None:
        return
    if instance is None:
        instance = ahead.tasks.get(task) if task is not None else ahead.tokens.get(token)  # type: ignore[arg-type]
        if instance is None:
            return
    _pop(ahead, instance)
    ahead.unread.pop(instance, None)

