"""A flow's timeline entries (``ordo_flow_history``): built per event, written at commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from .. import jsontext, unit_of_work
from .store import Instance
from .tables import history_table

_INSERT_HISTORY = sa.insert(history_table)


def history_row(inst: Instance, *, at: dt.datetime, user: str, action: str, node: str | None = None,
                task_id: int | None = None, comment: str | None = None,
                detail: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"instance_id": inst.id, "entity": inst.entity, "record_id": inst.record_id, "at": at, "user": user,
            "action": action, "node": node, "task_id": task_id, "comment": comment,
            "detail": jsontext.dumps(detail) if detail else "{}"}


def add_history(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Timeline entries: buffered by the unit of work (in order, with those of every other instance) and
    written with one executemany when the transaction commits, or before the timeline is read (inbox.timeline
    flushes them)."""
    for row in rows:
        unit_of_work.buffer(conn, _INSERT_HISTORY, row)
