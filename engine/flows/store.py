"""Row-level reads and writes of the flow tables, all on the caller's connection.

Every statement is built once, at import, with bound parameters: executing one costs no statement
construction and hits SQLAlchemy's compiled cache (the hot path of a flow step is a handful of
these). The in-memory state of an instance during one action is :mod:`.state`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import sqlalchemy as sa

from .. import jsontext, lean, unit_of_work
from ..errors import Conflict, NotFound
from .ahead import drop
from .loaded import (  # noqa: F401 - Instance, Loaded, Records, Token: the flow store's types
    SELECT_INSTANCE,
    SELECT_INSTANCE_OF_TASK,
    TASK_INSTANCE,
    Instance,
    Loaded,
    Records,
    Token,
    loaded_from,
    with_records,
)
from .rows_later import RowsLater
from .tables import instance_table, task_table, token_table

OPEN_TASK = ("pending", "waiting")
_dumps = jsontext.dumps  # instance and token data, timeline details: orjson, what json.dumps(default=str) reads as
_I, _K, _T = instance_table, token_table, task_table
P = sa.bindparam


# PostgreSQL: the row lock is taken first, on its own. A locking read that waited for another action
# sees the instance row as that action left it but the joined tokens and tasks as they were before,
# so they are read by a second statement, after the lock.
_LOCK_INSTANCE = sa.select(_I.c.id).where(_I.c.id == P("id")).with_for_update()
_LOCK_INSTANCE_OF_TASK = sa.select(_I.c.id).where(_I.c.id == TASK_INSTANCE).with_for_update()
_SAVE_INSTANCE = sa.update(_I).where(_I.c.id == P("k_id"), _I.c.rev == P("k_rev")).values(
    status=P("v_status"), outcome=P("v_outcome"), current=P("v_current"), ended_at=P("v_ended_at"),
    rev=P("v_rev"), data=P("v_data"))
_INSTANCES_OF = sa.select(_I).where(_I.c.entity == P("entity"), _I.c.record_id == P("record")).order_by(_I.c.id)
_INSTANCES_OF_STATUS = sa.select(_I).where(_I.c.entity == P("entity"), _I.c.record_id == P("record"),
                                           _I.c.status == P("status")).order_by(_I.c.id)


_INSTANCES, _TOKENS, _TASKS = RowsLater(_I), RowsLater(_K), RowsLater(_T)  # new rows written at commit (rows_later)


def flush(conn: sa.Connection) -> None:
    """Write the new instance, token and task rows still buffered: before anything reads those tables."""
    _INSTANCES.flush(conn)
    _TOKENS.flush(conn)
    _TASKS.flush(conn)


def _pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _note_running(conn: sa.Connection, loaded: Loaded) -> Loaded:
    """In a SQLite write transaction (nobody else writes until it ends), an instance read as the only one
    running on its record is what :func:`running` would read for the record: kept so it reads nothing."""
    if loaded.alone:
        uow = unit_of_work.of(conn)
        if uow.locks_all:
            inst = loaded.instance
            uow.facts.setdefault(("flows.running", inst.entity, inst.record_id), {inst.id: inst})
    return loaded


def load_instance(conn: sa.Connection, instance_id: int, records: Records = ()) -> Loaded:
    """Read the instance, its active tokens and their tasks, locking its row so actions on it are
    serialized: one statement on SQLite (one writer at a time), two on PostgreSQL (lock, then read).
    ``records``: the record's row is read in the same statement (see :class:`Loaded`)."""
    flush(conn)
    if _pg(conn) and lean.execute(conn, _LOCK_INSTANCE, {"id": instance_id}).first() is None:
        raise NotFound(f"flow instance {instance_id} not found")
    return _load_locked(conn, instance_id, f"flow instance {instance_id}", records)


def load_instance_of_task(conn: sa.Connection, task_id: int, records: Records = ()) -> Loaded:
    """The instance a task belongs to, loaded and locked as :func:`load_instance` does."""
    flush(conn)
    if _pg(conn):
        found = lean.execute(conn, _LOCK_INSTANCE_OF_TASK, {"task": task_id}).first()
        if found is None:
            raise NotFound(f"task {task_id} not found")
        return _load_locked(conn, found.id, f"task {task_id}", records)
    select = with_records(records)[1] if records else SELECT_INSTANCE_OF_TASK
    rows = lean.execute(conn, select, {"task": task_id}).all()
    if not rows:
        raise NotFound(f"task {task_id} not found")
    return _note_running(conn, loaded_from(rows, records))


def _load_locked(conn: sa.Connection, instance_id: int, what: str, records: Records = ()) -> Loaded:
    select = with_records(records)[0] if records else SELECT_INSTANCE
    rows = lean.execute(conn, select, {"id": instance_id}).all()
    if not rows:
        raise NotFound(f"{what} not found")
    return _note_running(conn, loaded_from(rows, records))


def insert_instance(conn: sa.Connection, **values: Any) -> int:
    """Insert an instance row; ``data`` is its data dict, or that dict's JSON already dumped (a str)."""
    values = {"outcome": None, "ended_at": None, **values}
    data = values.get("data")
    values["data"] = data if isinstance(data, str) else _dumps(data or {})
    iid = _INSTANCES.insert(conn, values)
    running = _known_running(conn, values["entity"], values["record_id"])
    if running is not None and values["status"] == "running":
        running[iid] = Instance(iid, **{**values, "data": {}})
    return iid


def instance_image(inst: Instance) -> tuple[Any, ...]:
    """What :func:`save_instance` writes, to tell whether anything changed."""
    return inst.status, inst.outcome, inst.current[:500], inst.ended_at, _dumps(inst.data)


def save_instance(conn: sa.Connection, inst: Instance, image: tuple[Any, ...] | None = None) -> None:
    """Write the instance back, checking nobody else changed it meanwhile (``rev``); ``image``: its
    :func:`instance_image`, if the caller has it (the data is dumped once per save)."""
    status, outcome, current, ended_at, data = image or instance_image(inst)
    drop(conn, instance=inst.id)
    buffered = _INSTANCES.row(conn, inst.id)
    if buffered is not None:  # inserted in this transaction, not written yet: the row itself changes
        if buffered["rev"] != inst.rev:
            raise Conflict(f"flow instance {inst.id} was changed by someone else; reload and retry")
        buffered.update(status=status, outcome=outcome, current=current, ended_at=ended_at, rev=inst.rev + 1,
                        data=data)
    else:
        params = {"k_id": inst.id, "k_rev": inst.rev, "v_status": status, "v_outcome": outcome,
                  "v_current": current, "v_ended_at": ended_at, "v_rev": inst.rev + 1, "v_data": data}
        uow = unit_of_work.holds(conn)  # SQLite: the rev read under this transaction's lock, the UPDATE held
        if uow is not None:
            unit_of_work.hold(uow, conn, (_I.name, inst.id), _SAVE_INSTANCE, params, _I.name,
                              f"flow instance {inst.id}")
        elif lean.execute(conn, _SAVE_INSTANCE, params).rowcount != 1:
            raise Conflict(f"flow instance {inst.id} was changed by someone else; reload and retry")
    inst.rev += 1
    running = _known_running(conn, inst.entity, inst.record_id)
    if running is not None and status != "running":
        running.pop(inst.id, None)


def _known_running(conn: sa.Connection, entity: str, record_id: int) -> dict[int, Instance] | None:
    uow = unit_of_work.current(conn)
    return None if uow is None else uow.facts.get(("flows.running", entity, record_id))


def created(conn: sa.Connection, entity: str, record_id: int) -> None:
    """A record was just created in this transaction: no instance runs on it yet (those it starts are added
    as they are inserted), so :func:`running` reads nothing for it."""
    unit_of_work.of(conn).facts.setdefault(("flows.running", entity, record_id), {})


def running(conn: sa.Connection, entity: str, record_id: int) -> list[Instance]:
    """The running instances on a record, read once per transaction (kept current as this transaction
    starts and ends instances): for their id, flow and version, not their state (load_instance)."""
    uow = unit_of_work.of(conn)
    key = ("flows.running", entity, record_id)
    found = uow.facts.get(key)
    if found is None:
        found = uow.facts[key] = {i.id: i for i in instances_of(conn, entity, record_id, "running")}
    return list(found.values())


def instances_of(conn: sa.Connection, entity: str, record_id: int, status: str | None = None) -> list[Instance]:
    flush(conn)
    params = {"entity": entity, "record": record_id}
    if status:
        return [Instance.from_row(r) for r in lean.execute(conn, _INSTANCES_OF_STATUS, {**params, "status": status})]
    return [Instance.from_row(r) for r in lean.execute(conn, _INSTANCES_OF, params)]


# -- tokens
_UPDATE_TOKEN = sa.update(_K).where(_K.c.id == P("k_id")).values(
    node=P("v_node"), status="active", splits=P("v_splits"), arrived_at=P("v_arrived_at"), data=P("v_data"))
_FINISH_TOKEN = sa.update(_K).where(_K.c.id == P("k_id")).values(status=P("v_status"))
# the active tokens of a running instance (those of an ended one are over with it, whatever their status says)
_ACTIVE_TOKENS = (sa.select(_K).join(_I, _I.c.id == _K.c.instance_id)
                  .where(_K.c.instance_id == P("instance"), _K.c.status == "active", _I.c.status == "running")
                  .order_by(_K.c.id))
_GET_TOKEN = sa.select(_K).where(_K.c.id == P("id"))


def _token(r: Any) -> Token:
    return Token(r.id, r.node, json.loads(r.splits), json.loads(r.data or "{}"))


def save_token(conn: sa.Connection, instance_id: int, tok: Token, now: dt.datetime) -> int:
    splits = _dumps(tok.splits) if tok.splits else "[]"
    data = _dumps(tok.data)
    drop(conn, instance=instance_id)
    if tok.id is None:
        tok.id = _TOKENS.insert(conn, {"instance_id": instance_id, "node": tok.node, "status": "active",
                                       "splits": splits, "arrived_at": now, "data": data})
    elif (buffered := _TOKENS.row(conn, tok.id)) is not None:  # new in this transaction, not written yet
        buffered.update(node=tok.node, status="active", splits=splits, arrived_at=now, data=data)
    else:
        lean.execute(conn, _UPDATE_TOKEN, {"k_id": tok.id, "v_node": tok.node, "v_splits": splits, "v_arrived_at": now,
                                     "v_data": data})
    return tok.id


def finish_token(conn: sa.Connection, tok: Token, status: str = "done") -> None:
    if tok.id is not None:
        drop(conn, token=tok.id)
        buffered = _TOKENS.row(conn, tok.id)
        if buffered is not None:
            buffered["status"] = status
        else:
            lean.execute(conn, _FINISH_TOKEN, {"k_id": tok.id, "v_status": status})


def active_tokens(conn: sa.Connection, instance_id: int) -> list[Token]:
    flush(conn)
    return [_token(r) for r in lean.execute(conn, _ACTIVE_TOKENS, {"instance": instance_id})]


def get_token(conn: sa.Connection, token_id: int) -> tuple[Token, str] | None:
    flush(conn)
    r = lean.execute(conn, _GET_TOKEN, {"id": token_id}).first()
    return None if r is None else (_token(r), r.status)


# -- tasks
TASK_DEFAULTS = {"assignee": None, "assignee_role": None, "kind": "main", "seq": 0, "ref_task": None, "visit": 1,
                 "due_at": None, "acted_at": None, "acted_by": None, "comment": None}
_GET_TASK = sa.select(_T).where(_T.c.id == P("id"))
# what an action on an instance needs: its open tasks and every task of its active tokens
_STATE_TASKS = sa.select(_T).where(_T.c.instance_id == P("instance"), sa.or_(
    *[_T.c.status == s for s in OPEN_TASK],
    _T.c.token_id.in_(sa.select(_K.c.id).where(_K.c.instance_id == P("instance"), _K.c.status == "active")),
)).order_by(_T.c.id)
_OPEN_TASKS = sa.select(_T).where(_T.c.instance_id == P("instance"), _T.c.status == "pending").order_by(_T.c.id)
_CANCEL_TASKS = sa.update(_T).where(_T.c.id.in_(P("ids", expanding=True)), _T.c.status.in_(OPEN_TASK)).values(
    status="cancelled", acted_at=P("v_at"), comment=P("v_comment"))


def insert_task(conn: sa.Connection, task: dict[str, Any]) -> int:
    """Insert a task row (``task``: every column but the id, see :data:`TASK_DEFAULTS`): after a transaction's
    first, buffered and written at commit (see rows_later); returns its id."""
    drop(conn, instance=task["instance_id"])
    return _TASKS.insert(conn, task)


def get_task(conn: sa.Connection, task_id: int) -> dict[str, Any]:
    flush(conn)
    r = lean.execute(conn, _GET_TASK, {"id": task_id}).first()
    if r is None:
        raise NotFound(f"task {task_id} not found")
    return dict(r._mapping)


def state_tasks(conn: sa.Connection, instance_id: int) -> list[dict[str, Any]]:
    flush(conn)
    return [dict(r._mapping) for r in lean.execute(conn, _STATE_TASKS, {"instance": instance_id})]


@functools.lru_cache(maxsize=64)
def _set_task(columns: tuple[str, ...], expected: int) -> Any:
    """The guarded task UPDATE, built once per (columns set, number of statuses expected)."""
    return sa.update(_T).where(_T.c.id == P("k_id"), sa.or_(*[_T.c.status == P(f"k_expect{i}")
                                                              for i in range(expected)])).values(
        {c: P(f"v_{c}") for c in columns})


def set_task(conn: sa.Connection, task_id: int, expect: str | tuple[str, ...], status_now: str | None = None,
             **values: Any) -> bool:
    """Change a task only if it still has status ``expect`` (the guard against double actions). ``status_now``:
    its status as the caller read it in this transaction, if it did (in a SQLite write transaction a task read
    with that status and expected to have it is changed by an UPDATE held back, see ordo.engine.held)."""
    allowed = [expect] if isinstance(expect, str) else list(expect)
    drop(conn, task=task_id)
    buffered = _TASKS.row(conn, task_id)
    if buffered is not None:  # inserted in this transaction, not written yet: the row itself changes
        if buffered["status"] not in allowed:
            return False
        buffered.update(values)
        return True
    params = {"k_id": task_id, **{f"k_expect{i}": s for i, s in enumerate(allowed)},
              **{f"v_{c}": v for c, v in values.items()}}
    stmt = _set_task(tuple(sorted(values)), len(allowed))
    if status_now in allowed and (uow := unit_of_work.holds(conn)) is not None:
        unit_of_work.hold(uow, conn, (_T.name, task_id), stmt, params, _T.name, f"task {task_id}")
        return True
    return lean.execute(conn, stmt, params).rowcount == 1


def cancel_tasks(conn: sa.Connection, ids: list[int], *, now: dt.datetime, reason: str | None) -> None:
    """Cancel the tasks ``ids`` that are still open, noting ``reason``."""
    written = []
    for task_id in ids:
        drop(conn, task=task_id)
        buffered = _TASKS.row(conn, task_id)
        if buffered is None:
            written.append(task_id)
        elif buffered["status"] in OPEN_TASK:  # new in this transaction, not written yet: the row itself changes
            buffered.update(status="cancelled", acted_at=now, comment=reason)
    if written:
        lean.execute(conn, _CANCEL_TASKS, {"ids": written, "v_at": now, "v_comment": reason})


def open_tasks(conn: sa.Connection, instance_id: int) -> list[dict[str, Any]]:
    flush(conn)
    return [dict(r._mapping) for r in lean.execute(conn, _OPEN_TASKS, {"instance": instance_id})]

