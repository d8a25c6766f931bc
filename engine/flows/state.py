"""One instance's state while an action runs on it: loaded once, decided in memory, written as it changes.

A :class:`~.runner.Run` (one start, approval, timer, ... on one instance) holds a :class:`FlowState`.
The active tokens and the tasks an action can touch (the open ones and every task of an active
token) are read at most once, with one statement each, and not at all for an instance the action
has just started; afterwards the interpreter asks this object, never the database. Each change
is written at once to the one row it changes (a conditional ``UPDATE`` for a task, the guard
against double actions); timeline entries are kept and written in one statement when the run
rests (:meth:`flush`); the instance row is written back only when it changed.

The state lives as long as the action: the instance row is locked for the transaction
(PostgreSQL ``FOR UPDATE``, SQLite's single writer), so nobody else changes it meanwhile.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from ..errors import NotFound
from . import history, store
from .store import OPEN_TASK, Instance, Token


class FlowState:
    def __init__(self, conn: sa.Connection, inst: Instance, *, new: bool = False,
                 loaded: store.Loaded | None = None) -> None:
        self.conn, self.inst = conn, inst
        self.on_insert: Any = None  # called with the id once a new instance's row is written
        # new: nothing of the instance exists yet but its row, so there is nothing to read; ``loaded``: the
        # active tokens and their tasks, read with the instance
        self._tokens: dict[int, Token] | None = {} if new else None
        self._tasks: dict[int, dict[str, Any]] | None = {} if new else None
        if loaded is not None:
            self._tokens = {t.id: t for t in loaded.tokens if t.id is not None}
            self._tasks = {t["id"]: t for t in loaded.tasks}
        self._history: list[dict[str, Any]] = []
        self.inserted: set[int] = set()  # ids of the tokens this run inserted
        self._finishing: dict[int, tuple[Token, str]] = {}  # tokens ended, marked when the instance is saved
        # what the instance row holds (store.instance_image): a new one has none yet; a loaded one, as read
        self._saved: tuple[Any, ...] | None = None if new else (
            loaded.image if loaded is not None and loaded.image is not None else store.instance_image(inst))

    # -- tokens (active ones only)
    def _token_map(self) -> dict[int, Token]:
        if self._tokens is None:
            self._tokens = {t.id: t for t in store.active_tokens(self.conn, self.inst.id) if t.id is not None}
        return self._tokens

    def tokens(self) -> list[Token]:
        """The active tokens, oldest first."""
        return sorted(self._token_map().values(), key=lambda t: t.id or 0)

    def token(self, token_id: int) -> Token | None:
        """The active token ``token_id`` (None if it has ended or is not this instance's)."""
        return self._token_map().get(token_id)

    def save_token(self, tok: Token, now: dt.datetime) -> None:
        tokens = self._token_map()
        new = tok.id is None
        if tok.id is not None:
            self._finishing.pop(tok.id, None)  # active again
        store.save_token(self.conn, self.ensure(), tok, now)
        assert tok.id is not None
        tokens[tok.id] = tok
        if new:
            self.inserted.add(tok.id)  # tokens inserted by this run (their timer keys are new too)

    def finish_token(self, tok: Token, status: str = "done") -> None:
        """A token ends: its row is marked when the instance row is saved, unless the instance has ended by
        then (an ended instance has no active tokens, whatever their rows say: the loaders read the tokens of
        running instances only), which saves the last token's UPDATE of every completed instance."""
        if tok.id is not None:
            self._finishing[tok.id] = (tok, status)
            self._token_map().pop(tok.id, None)

    # -- tasks
    def _task_map(self) -> dict[int, dict[str, Any]]:
        if self._tasks is None:
            self._tasks = {t["id"]: t for t in store.state_tasks(self.conn, self.inst.id)}
        return self._tasks

    def task(self, task_id: int) -> dict[str, Any]:
        """A task of this instance as it is now (read from the database only if it is neither open nor
        on an active token); ``NotFound`` if there is none."""
        found = self._task_map().get(task_id)
        if found is None:
            found = store.get_task(self.conn, task_id)
            if found["instance_id"] != self.inst.id:
                raise NotFound(f"task {task_id} not found")
        return found

    def token_tasks(self, tok: Token) -> list[dict[str, Any]]:
        """The tasks of the token's current visit to its node (a node visited again starts afresh)."""
        visit = tok.data.get("visit", 1)
        return sorted((t for t in self._task_map().values()
                       if t["token_id"] == tok.id and t["node"] == tok.node and t["visit"] == visit),
                      key=lambda t: (t["seq"], t["id"]))

    def open_tasks(self, status: tuple[str, ...] = ("pending",)) -> list[dict[str, Any]]:
        return sorted((t for t in self._task_map().values() if t["status"] in status), key=lambda t: t["id"])

    def add_task(self, **values: Any) -> dict[str, Any]:
        tasks = self._task_map()
        task = {**store.TASK_DEFAULTS, **values}
        task["id"] = store.insert_task(self.conn, task)
        tasks[task["id"]] = task
        return task

    def set_task(self, task: dict[str, Any] | int, expect: str | tuple[str, ...], **values: Any) -> bool:
        """Change a task only if it still has status ``expect`` (checked by the database)."""
        current = self.task(task) if isinstance(task, int) else task
        if not store.set_task(self.conn, current["id"], expect, current["status"], **values):
            return False
        current.update(values)
        self._task_map()[current["id"]] = current
        return True

    def close_tasks(self, reason: str, now: dt.datetime, token_id: int | None = None) -> list[dict[str, Any]]:
        """Cancel the open tasks (of one token, or all); return them as they were."""
        closing = [t for t in self.open_tasks(OPEN_TASK) if token_id is None or t["token_id"] == token_id]
        store.cancel_tasks(self.conn, [t["id"] for t in closing], now=now, reason=reason)
        before = [dict(t) for t in closing]
        for t in closing:
            t.update(status="cancelled", acted_at=now, comment=reason)
        return before

    # -- timeline and the instance row
    def history(self, row: dict[str, Any]) -> None:
        self._history.append(row)

    def flush(self) -> None:
        """Write the timeline entries kept so far (before anything that may read them or start other flows)."""
        rows, self._history = self._history, []
        if rows:
            iid = self.ensure()
            for r in rows:
                r["instance_id"] = iid  # entries made before a new instance's row was written
        history.add_history(self.conn, rows)

    def ensure(self) -> int:
        """The instance's id: a new instance's row is written now (as it is), if it was not yet."""
        inst = self.inst
        if inst.id is None:
            image = store.instance_image(inst)  # its data dumped once, for the row and to compare with later
            inst.id = store.insert_instance(
                self.conn, flow=inst.flow, version_id=inst.version_id, entity=inst.entity,
                record_id=inst.record_id, status=inst.status, outcome=inst.outcome, current=image[2],
                started_by=inst.started_by, started_at=inst.started_at, ended_at=inst.ended_at, rev=inst.rev,
                data=image[4])
            self._saved = image
            if self.on_insert is not None:
                self.on_insert(inst.id)
        return inst.id

    def save_instance(self) -> None:
        """Write the instance row if it changed (with its ``rev`` check); a new one's row is inserted. The
        tokens that ended are marked first, if the instance still runs."""
        finishing, self._finishing = self._finishing, {}
        if self.inst.status == "running":
            for tok, status in finishing.values():
                store.finish_token(self.conn, tok, status)
        if self.inst.id is None:
            self.ensure()
            return
        image = store.instance_image(self.inst)
        if image != self._saved:
            store.save_instance(self.conn, self.inst, image)
            self._saved = image
