"""Jobs in the database: timers and background work run by ``ordo worker``.

A job is enqueued inside the caller's transaction (so a timer exists exactly
when the state that needs it does). A worker claims a due job with
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serializes writers)
and runs its handler in the same transaction that marks it done: a job's effect
and its completion commit together, and several workers never run one job twice.
A run that loses a deadlock or serialization race is run again at once from the
claim (after a short random pause, 3 runs in all); a failing job is rolled back,
its failure recorded, and retried later with exponential backoff, then marked failed.

On SQLite, where writers take turns and a commit costs more than most jobs, ``run_due`` runs the due
jobs up to ``PER_COMMIT`` (or ``BATCH_SECONDS``) per transaction: each still claimed, run and marked done
in order, all committed together. When one of them fails (or the batch loses a race), the whole batch is
rolled back and its jobs run again one per transaction, so a failure is recorded as above and never takes
another job's work with it. On PostgreSQL a job's row locks are held until its commit, so each job keeps
its own transaction there (several workers would otherwise wait on, or deadlock over, each other's batches).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import lean
from .db import (
    RETRIES,
    ConnectionLost,
    TransactionConflict,
    lost_race,
    pause_before_retry,
    retrying,
    write_connection,
)
from .job_later import Later
from .tables import SYSTEM_METADATA, id_column

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("ordo.jobs")

PER_COMMIT = 10  # due jobs run in one transaction on SQLite (see the module's docstring)
BATCH_SECONDS = 0.05  # no further job joins a batch that has held SQLite's write lock this long

job_table = sa.Table(
    "ordo_job",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("payload", sa.Text, nullable=False, default="{}"),
    sa.Column("run_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, default="pending"),  # pending, done, failed, cancelled
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False, default=5),
    sa.Column("unique_key", sa.String(200), unique=True),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("worker", sa.String(100)),
    # the claim's order: the first due job is the index's first entry (no sort of the jobs due at the same time,
    # e.g. many timers set by one clock; SKIP LOCKED then passes over the claimed ones entry by entry). A
    # database created before (status, run_at) keeps its index until it is recreated (see docs/architecture.md)
    sa.Index("ix_ordo_job_due", "status", "run_at", "id"),
)

Handler = Callable[[Any, dict[str, Any]], None]  # (tx: a records.Transaction, payload)
MakeTransaction = Callable[[sa.Connection], Any]  # the Transaction a handler runs in on the worker's connection

# the queue's statements, built once (values bound at execution)
_t = job_table
_RETIRE_KEY = (sa.update(_t).where(_t.c.unique_key == sa.bindparam("_key"))
               .values(status=sa.case((_t.c.status == "pending", "cancelled"), else_=_t.c.status), unique_key=None))
_INSERT = sa.insert(_t).returning(_t.c.id)


@functools.cache
def _insert_new_key(dialect: str) -> Any:
    """A job whose key no live job can hold yet (a new flow token's timer): inserted unless the key is taken
    after all. Built once per dialect, when first used (the PostgreSQL dialect is imported only there)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return None
    return insert(_t).on_conflict_do_nothing(index_elements=[_t.c.unique_key]).returning(_t.c.id)


_CANCEL = sa.update(_t).where(_t.c.status == "pending").values(status="cancelled", unique_key=None)
_CANCEL_KEY = _CANCEL.where(_t.c.unique_key == sa.bindparam("_key"))
_CANCEL_PREFIX = _CANCEL.where(_t.c.unique_key.like(sa.bindparam("_prefix"), escape="/"))
_FINISH = sa.update(_t).where(_t.c.id == sa.bindparam("_id"))
_PENDING_PREFIX = sa.select(_t.c.unique_key).where(_t.c.status == "pending",
                                                  _t.c.unique_key.like(sa.bindparam("_prefix"), escape="/"))


def _starting(prefix: str) -> str:
    """A LIKE pattern of the keys starting with ``prefix`` (escaped with ``/``)."""
    return prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
_RECORD_FAILURE = _FINISH.where(_t.c.status == "pending", _t.c.attempts == sa.bindparam("_attempts"))
_CLAIM = (sa.select(_t).where(_t.c.status == "pending", _t.c.run_at <= sa.bindparam("_now"))
          .order_by(_t.c.run_at, _t.c.id).limit(1))
_CLAIM_LOCKED = _CLAIM.with_for_update(skip_locked=True)


later = Later(job_table, _RETIRE_KEY, _INSERT)  # new-key jobs buffered, written at commit (see job_later)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    run_at: dt.datetime
    status: str
    attempts: int
    unique_key: str | None
    last_error: str | None


def _row(kind: str, payload: dict[str, Any], run_at: dt.datetime, now: dt.datetime, unique_key: str | None,
         max_attempts: int) -> dict[str, Any]:
    return dict(kind=kind, payload=json.dumps(payload, default=str, sort_keys=True), run_at=run_at, status="pending",
                attempts=0, max_attempts=max_attempts, unique_key=unique_key, created_at=now, last_error=None,
                finished_at=None, worker=None)


def enqueue(conn: sa.Connection, kind: str, payload: dict[str, Any], run_at: dt.datetime, *,
            now: dt.datetime, unique_key: str | None = None, max_attempts: int = 5, new_key: bool = False) -> int:
    """Add a job (in the caller's transaction). A live job with the same ``unique_key`` is replaced.
    ``new_key``: the caller made the key from something created in this transaction (a new flow token), so
    no job should hold it: one INSERT that yields on a conflict (then the usual replacement runs)."""
    later.flush(conn)
    row = _row(kind, payload, run_at, now, unique_key, max_attempts)
    if unique_key is not None and _own_key(conn, unique_key) is not None:
        conn.info[_RUNNING] = None  # the running job's key is retired below, the new job holds it
    insert_new = _insert_new_key(conn.dialect.name) if new_key and unique_key is not None else None
    if insert_new is not None:
        found = lean.execute(conn, insert_new, row).scalar()
        if found is not None:
            return int(found)
    if unique_key is not None:  # the replaced row is kept (cancelled): SQLite would reuse a deleted max id,
        # and a job re-enqueueing itself would then be marked done by its own runner
        lean.execute(conn, _RETIRE_KEY, {"_key": unique_key})
    return int(lean.execute(conn, _INSERT, row).scalar_one())


def enqueue_later(conn: sa.Connection, kind: str, payload: dict[str, Any], run_at: dt.datetime, *,
                  now: dt.datetime, unique_key: str, max_attempts: int = 5) -> None:
    """:func:`enqueue` with ``new_key``, when the caller needs no id: the row is buffered and written at
    commit with the others (one executemany, see :mod:`.job_later`)."""
    if _own_key(conn, unique_key) is not None or not later.usable(conn):
        enqueue(conn, kind, payload, run_at, now=now, unique_key=unique_key, max_attempts=max_attempts, new_key=True)
        return
    later.add(conn, _row(kind, payload, run_at, now, unique_key, max_attempts))


_RUNNING = "ordo_running_job"  # conn.info: [the key of the job whose handler runs on it, cancelled by it?]


def _own_key(conn: sa.Connection, unique_key: str) -> list[Any] | None:
    """The running job's entry when ``unique_key`` is the key of the job whose handler runs on ``conn``."""
    running = conn.info.get(_RUNNING)
    return running if running is not None and running[0] == unique_key else None


def cancel(conn: sa.Connection, *, unique_key: str | None = None, prefix: str | None = None) -> int:
    """Cancel pending jobs by key (or key prefix); return how many. A handler cancelling its own job's key (a
    flow timer whose token leaves its node) runs no statement: the job is finished when the handler returns
    (done, its key released) in the same transaction, as if cancelled first."""
    if unique_key is not None:
        own = _own_key(conn, unique_key)
        if own is not None:  # still held by the running job's row (nothing else can hold it)
            done, own[1] = own[1], True
            return 0 if done else 1
        held = later.cancel(conn, unique_key)
        if held is not None:
            return held
        return lean.execute(conn, _CANCEL_KEY, {"_key": unique_key}).rowcount
    if prefix is not None:
        later.flush(conn)
        return lean.execute(conn, _CANCEL_PREFIX, {"_prefix": _starting(prefix)}).rowcount
    raise ValueError("cancel needs unique_key or prefix")


def ensure_scheduled(tx: Any, prefix: str, wanted: Mapping[str, tuple[str, dict[str, Any], dt.datetime]]) -> None:
    """Make the pending jobs whose unique key starts with ``prefix`` exactly ``wanted``
    (key -> (kind, payload, first run)) in the transaction ``tx`` (a records.Transaction): missing ones are
    created, others cancelled. Safe when several processes do it at once (the unique key decides)."""
    later.flush(tx.conn)
    existing = {row.unique_key for row in lean.execute(tx.conn, _PENDING_PREFIX, {"_prefix": _starting(prefix)})
                if (own := _own_key(tx.conn, row.unique_key)) is None or not own[1]}  # the running job, cancelled
    for key in sorted(existing - set(wanted)):
        tx.cancel_jobs(unique_key=key)
    for key in sorted(set(wanted) - existing):
        kind, payload, run_at = wanted[key]
        try:
            with tx.conn.begin_nested():  # another process may be creating the same job right now
                tx.enqueue(kind, payload, run_at, unique_key=key)
        except sa.exc.IntegrityError:
            pass


def list_jobs(conn: sa.Connection, status: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
    later.flush(conn)
    t = job_table
    q = sa.select(t).order_by(t.c.run_at, t.c.id).limit(limit).offset(offset)
    if status:
        q = q.where(t.c.status == status)
    return [Job(r.id, r.kind, json.loads(r.payload), r.run_at, r.status, r.attempts, r.unique_key, r.last_error)
            for r in conn.execute(q)]


def count_jobs(conn: sa.Connection, status: str | None = None) -> int:
    """How many jobs (of ``status``) there are: what ``list_jobs`` pages through."""
    later.flush(conn)
    q = sa.select(sa.func.count()).select_from(job_table)
    if status:
        q = q.where(job_table.c.status == status)
    return int(conn.execute(q).scalar_one())


class JobRunner:
    """Handlers by job kind and the loop that runs due jobs."""

    def __init__(self, app: Runtime, transaction: MakeTransaction) -> None:
        """``transaction(conn)``: the (automated, system) transaction a handler runs in on ``conn``."""
        self.app = app
        self.transaction = transaction
        self.handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def _claim(self, conn: sa.Connection, now: dt.datetime) -> Any:
        later.flush(conn)  # jobs enqueued by the batch's earlier handlers
        q = _CLAIM_LOCKED if conn.dialect.name == "postgresql" else _CLAIM
        return lean.execute(conn, q, {"_now": now}).first()

    def run_one(self, worker: str = "worker", now: dt.datetime | None = None) -> bool:
        """Run the next due job; False when none is due.

        The handler runs in the transaction that claimed the job and marks it done, without a savepoint:
        its effect and the job's completion commit together. When the handler fails, that transaction is
        rolled back and the failure recorded in another; when the transaction loses a deadlock or
        serialization race (or its connection), it is run again from the claim (3 runs in all), then
        recorded as a failure like any other."""
        now = now or self.app.clock.now()
        for attempt in range(1, RETRIES + 1):
            claimed: list[Any] = []
            try:
                return self._run_claimed(worker, now, claimed)
            except (TransactionConflict, ConnectionLost) as e:
                if attempt < RETRIES:
                    pause_before_retry(attempt)
                    continue
                if not claimed:  # the claim itself kept losing: the caller hears of it
                    raise
                row = claimed[0]
                race = lost_race(e.__cause__) if e.__cause__ is not None else None
                failure: BaseException = TransactionConflict(
                    f"job {row.id} ({row.kind}) lost {race} with concurrent transactions {RETRIES} times; its "
                    f"work was rolled back; try again" if race else
                    f"job {row.id} ({row.kind}): {e}")
            except Exception as e:  # the handler's work was rolled back with the claim
                if not claimed:
                    raise
                row, failure = claimed[0], e
            log.warning("job %s (%s) failed: %s", row.id, row.kind, failure)
            self._failed(row, failure, worker, now)
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_claimed(self, worker: str, now: dt.datetime, claimed: list[Any], most: int = 1) -> bool:
        """Claim and run up to ``most`` due jobs in one transaction (``claimed``: each row as claimed);
        False when the queue ran out of due jobs (none, or fewer than ``most`` were due)."""
        with write_connection(self.app.engine) as conn:
            until = time.monotonic() + BATCH_SECONDS
            while len(claimed) < most and (not claimed or time.monotonic() < until):
                row = self._claim(conn, now)
                if row is None:
                    return False
                claimed.append(row)
                self._handle(conn, row, worker, now)
        return True

    def _handle(self, conn: sa.Connection, row: Any, worker: str, now: dt.datetime) -> None:
        handler = self.handlers.get(row.kind)
        if handler is None:
            raise LookupError(f"no handler for job kind {row.kind!r}")
        conn.info[_RUNNING] = [row.unique_key, False] if row.unique_key is not None else None
        try:
            handler(self.transaction(conn), json.loads(row.payload))
        finally:
            conn.info.pop(_RUNNING, None)
        lean.execute(conn, _FINISH, {"_id": row.id, "status": "done", "attempts": row.attempts + 1,
                                     "finished_at": now, "worker": worker, "unique_key": None})

    def _run_batch(self, worker: str, now: dt.datetime, most: int) -> int:
        """Up to ``most`` due jobs in one transaction; how many ran (negative: and no other job was due).
        When the batch fails as a whole, it was rolled back: its jobs run again one per transaction
        (``run_one`` records a failure)."""
        claimed: list[Any] = []
        try:
            more = self._run_claimed(worker, now, claimed, most)
            return len(claimed) if more else -len(claimed)
        except Exception:  # noqa: BLE001 - nothing of the batch was kept: each job is run on its own
            ran = 0
            for _ in range(max(1, len(claimed))):
                if not self.run_one(worker, now):
                    break
                ran += 1
            return ran

    def _failed(self, row: Any, error: BaseException, worker: str, now: dt.datetime) -> None:
        """Record a failed run (in its own transaction): retried later with exponential backoff, or failed
        for good after ``max_attempts``. A job another worker has taken since is left to it."""
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        attempts = row.attempts + 1
        dead = attempts >= row.max_attempts

        def record() -> None:
            with write_connection(self.app.engine) as conn:
                lean.execute(conn, _RECORD_FAILURE, dict(
                    _id=row.id, _attempts=row.attempts, status="failed" if dead else "pending", attempts=attempts,
                    last_error=text[:2000], run_at=now + dt.timedelta(seconds=min(3600, 10 * 2 ** (attempts - 1))),
                    worker=worker, finished_at=now if dead else None, unique_key=None if dead else row.unique_key))

        retrying(record, f"recording the failure of job {row.id}")

    def run_due(self, worker: str = "worker", now: dt.datetime | None = None, limit: int = 1000,
                per_commit: int | None = None) -> int:
        """Run due jobs until none is left (or ``limit``); return how many ran. ``per_commit``: jobs run in one
        transaction (default ``PER_COMMIT`` on SQLite, 1 on PostgreSQL; see the module's docstring)."""
        now = now or self.app.clock.now()
        if per_commit is None:
            per_commit = PER_COMMIT if self.app.engine.dialect.name == "sqlite" else 1
        n = 0
        while n < limit:
            most = min(per_commit, limit - n)
            ran = self._run_batch(worker, now, most) if most > 1 else int(self.run_one(worker, now))
            n += abs(ran)
            if ran <= 0:  # the queue has no due job left
                break
        return n
