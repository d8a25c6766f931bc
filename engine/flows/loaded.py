"""An instance as an action loads it: its row, its active tokens and the tasks at their nodes (and its record's
row), read by one statement built once and taken apart by positions found once per row layout."""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .. import jsontext
from .tables import instance_table, task_table, token_table

_I, _K, _T = instance_table, token_table, task_table
P = sa.bindparam


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


# -- instances: read with their active tokens and the tasks at each token's node (open tasks are only ever
# there: a token leaving a node closes its tasks), one row per (token, task). The tasks are joined by their
# instance too (a token's tasks are its instance's): the task index on instance_id finds them, where the
# token alone (no index) would scan every task of every instance
_TASK_OF_TOKEN = sa.and_(_T.c.instance_id == _I.c.id, _T.c.token_id == _K.c.id, _T.c.node == _K.c.node)
_WITH_TOKENS = sa.select(_I, *[c.label(f"token_{c.name}") for c in _K.c],
                         *[c.label(f"task_{c.name}") for c in _T.c]).select_from(
    _I.outerjoin(_K, sa.and_(_K.c.instance_id == _I.c.id, _K.c.status == "active", _I.c.status == "running"))
    .outerjoin(_T, _TASK_OF_TOKEN)).order_by(_K.c.id, _T.c.id)
SELECT_INSTANCE = _WITH_TOKENS.where(_I.c.id == P("id"))
TASK_INSTANCE = sa.select(_T.c.instance_id).where(_T.c.id == P("task")).scalar_subquery()
SELECT_INSTANCE_OF_TASK = _WITH_TOKENS.where(_I.c.id == TASK_INSTANCE)
_INSTANCE_COLUMNS = [c.name for c in _I.c]
_TASK_COLUMNS = [(f"task_{c.name}", c.name) for c in _T.c]


Records = tuple[tuple[str, sa.Table], ...]  # (entity, its table) of the entities flows run on
_OTHER = _I.alias("other")
# how many instances run on the instance's record (read with it: when it is the only one, a write of the record
# in the same SQLite transaction need not look its running instances up, see store._note_running)
_RUNNING_ON_RECORD = (sa.select(sa.func.count()).select_from(_OTHER)
                      .where(_OTHER.c.entity == _I.c.entity, _OTHER.c.record_id == _I.c.record_id,
                             _OTHER.c.status == "running").scalar_subquery().label("running_on_record"))


@functools.lru_cache(maxsize=16)
def with_records(records: Records) -> tuple[Any, Any]:
    """:data:`SELECT_INSTANCE` and :data:`SELECT_INSTANCE_OF_TASK` that also read the instance's record
    (the row of whichever of ``records`` it runs on, joined by id): the action needs it, built once."""
    q = _with_records(records)
    return q.where(_I.c.id == P("id")), q.where(_I.c.id == TASK_INSTANCE)


@functools.lru_cache(maxsize=64)
def select_many(records: Records, size: int) -> Any:
    """The load of ``size`` instances at once (ids bound as ``i0`` .. ``i<size-1>``; each one's rows in the order
    of :data:`SELECT_INSTANCE`'s)."""
    q = _with_records(records) if records else _WITH_TOKENS
    return q.where(_I.c.id.in_([P(f"i{k}") for k in range(size)]))


@functools.lru_cache(maxsize=16)
def _with_records(records: Records) -> Any:
    frm = _I.outerjoin(_K, sa.and_(_K.c.instance_id == _I.c.id, _K.c.status == "active",
                                    _I.c.status == "running")).outerjoin(
        _T, _TASK_OF_TOKEN)
    cols = []
    for i, (entity, t) in enumerate(records):
        frm = frm.outerjoin(t, sa.and_(_I.c.entity == entity, t.c.id == _I.c.record_id))
        cols += [c.label(f"rec{i}_{c.name}") for c in t.c]
    q = sa.select(_I, *[c.label(f"token_{c.name}") for c in _K.c], *[c.label(f"task_{c.name}") for c in _T.c],
                  *cols, _RUNNING_ON_RECORD).select_from(frm).order_by(_K.c.id, _T.c.id)
    return q


@functools.lru_cache(maxsize=16)
def _record_labels(records: Records) -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
    """Per entity of ``records``: the label of its id and its (label, column) pairs in :func:`with_records`."""
    return tuple((entity, f"rec{i}_id", tuple((f"rec{i}_{c.name}", c.name) for c in t.c))
                 for i, (entity, t) in enumerate(records))


@dataclass
class Loaded:
    """An instance as an action starts on it: its active tokens and the tasks at their nodes (and, when
    read with it, its record's row, without child rows)."""

    instance: Instance
    tokens: list[Token]
    tasks: list[dict[str, Any]]
    record: dict[str, Any] | None = None
    image: tuple[Any, ...] | None = None  # the instance row as read (see instance_image)
    alone: bool = False  # read with its record: the only instance running on it (see store._note_running)


@functools.lru_cache(maxsize=64)
def _layout(fields: tuple[str, ...], records: Records) -> tuple[Any, ...]:
    """Where :func:`_loaded` finds what it reads in rows with columns ``fields`` (positions, found once)."""
    at = {name: i for i, name in enumerate(fields)}
    task_names = tuple(name for _, name in _TASK_COLUMNS)
    recs = tuple((entity, at[key], tuple(name for _, name in columns),
                  operator.itemgetter(*[at[label] for label, _ in columns]))
                 for entity, key, columns in _record_labels(records))
    return (operator.itemgetter(*[at[c] for c in _INSTANCE_COLUMNS]),
            at["token_id"], at["token_node"], at["token_splits"], at["token_data"], at["task_id"],
            task_names, operator.itemgetter(*[at[label] for label, _ in _TASK_COLUMNS]), recs,
            at.get("running_on_record"))


def loaded_from(rows: list[Any], records: Records = ()) -> Loaded:
    first = rows[0]
    (instance, token_id, token_node, token_splits, token_data, task_id, task_names, task, recs,
     running) = _layout(first._fields, records)
    inst = Instance(*instance(first))
    stored = inst.data or "{}"
    inst.data = jsontext.loads(stored)  # type: ignore[arg-type]
    record = None
    for entity, key, names, values in recs:
        if entity == inst.entity and first[key] is not None:
            record = dict(zip(names, values(first), strict=True))
    tokens: dict[int, Token] = {}
    tasks = []
    for r in rows:
        tid = r[token_id]
        if tid is not None and tid not in tokens:
            splits = r[token_splits]
            tokens[tid] = Token(tid, r[token_node], [] if splits == "[]" else jsontext.loads(splits),
                                jsontext.loads(r[token_data] or "{}"))
        if r[task_id] is not None:
            tasks.append(dict(zip(task_names, task(r), strict=True)))
    # as read: data written by instance_image's dump reads back to the same text (if not, one more UPDATE)
    image = (inst.status, inst.outcome, inst.current[:500], inst.ended_at, stored)
    alone = bool(records) and inst.status == "running" and first[running] == 1
    return Loaded(inst, list(tokens.values()), tasks, record, image, alone)
