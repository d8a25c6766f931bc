"""Jobs in the database: timers and background work run by ``ordo worker``.

A job is enqueued inside the caller's transaction (so a timer exists exactly
when the state that needs it does). A worker claims a due job with
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serializes writers)
and runs its handler in the same transaction that marks it done: a job's effect
and its completion commit together, and several workers never run one job twice.
A handler that loses a deadlock or serialization race is run again at once (its
savepoint rolled back, a short random pause, 3 runs in all); a failing job is
retried with exponential backoff, then marked failed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .actor import SYSTEM
from .db import retrying, retrying_savepoint, write_connection
from .tables import SYSTEM_METADATA, id_column

if TYPE_CHECKING:
    from .app import App
    from .records import Transaction

log = logging.getLogger("ordo.jobs")

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
    sa.Index("ix_ordo_job_due", "status", "run_at"),
)

Handler = Callable[["Transaction", dict[str, Any]], None]


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


def enqueue(conn: sa.Connection, kind: str, payload: dict[str, Any], run_at: dt.datetime, *,
            now: dt.datetime, unique_key: str | None = None, max_attempts: int = 5) -> int:
    """Add a job (in the caller's transaction). A live job with the same ``unique_key`` is replaced."""
    if unique_key is not None:  # the replaced row is kept (cancelled): SQLite would reuse a deleted max id,
        # and a job re-enqueueing itself would then be marked done by its own runner
        conn.execute(sa.update(job_table).where(job_table.c.unique_key == unique_key)
                     .values(status=sa.case((job_table.c.status == "pending", "cancelled"),
                                            else_=job_table.c.status), unique_key=None))
    result = conn.execute(sa.insert(job_table).values(
        kind=kind, payload=json.dumps(payload, default=str, sort_keys=True), run_at=run_at, status="pending",
        attempts=0, max_attempts=max_attempts, unique_key=unique_key, created_at=now,
    ).returning(job_table.c.id))
    return int(result.scalar_one())


def cancel(conn: sa.Connection, *, unique_key: str | None = None, prefix: str | None = None) -> int:
    """Cancel pending jobs by key (or key prefix); return how many."""
    t = job_table
    q = sa.update(t).where(t.c.status == "pending").values(status="cancelled", unique_key=None)
    if unique_key is not None:
        q = q.where(t.c.unique_key == unique_key)
    elif prefix is not None:
        q = q.where(t.c.unique_key.startswith(prefix, autoescape=True))
    else:
        raise ValueError("cancel needs unique_key or prefix")
    return conn.execute(q).rowcount


def ensure_scheduled(tx: Transaction, prefix: str, wanted: Mapping[str, tuple[str, dict[str, Any], dt.datetime]]) -> None:
    """Make the pending jobs whose unique key starts with ``prefix`` exactly ``wanted``
    (key -> (kind, payload, first run)): missing ones are created, others cancelled. Safe when several
    processes do it at once (the unique key decides)."""
    t = job_table
    existing = {row.unique_key for row in tx.conn.execute(sa.select(t.c.unique_key).where(
        t.c.status == "pending", t.c.unique_key.startswith(prefix, autoescape=True)))}
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
    t = job_table
    q = sa.select(t).order_by(t.c.run_at, t.c.id).limit(limit).offset(offset)
    if status:
        q = q.where(t.c.status == status)
    return [Job(r.id, r.kind, json.loads(r.payload), r.run_at, r.status, r.attempts, r.unique_key, r.last_error)
            for r in conn.execute(q)]


def count_jobs(conn: sa.Connection, status: str | None = None) -> int:
    """How many jobs (of ``status``) there are: what ``list_jobs`` pages through."""
    q = sa.select(sa.func.count()).select_from(job_table)
    if status:
        q = q.where(job_table.c.status == status)
    return int(conn.execute(q).scalar_one())


class JobRunner:
    """Handlers by job kind and the loop that runs due jobs."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def _claim(self, conn: sa.Connection, now: dt.datetime) -> Any:
        t = job_table
        q = (sa.select(t).where(t.c.status == "pending", t.c.run_at <= now)
             .order_by(t.c.run_at, t.c.id).limit(1))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        return conn.execute(q).first()

    def run_one(self, worker: str = "worker", now: dt.datetime | None = None) -> bool:
        """Run the next due job; False when none is due."""
        return retrying(lambda: self._run_one(worker, now), "running a job")

    def _handle(self, conn: sa.Connection, handler: Handler, row: Any) -> None:
        """Run a handler in a savepoint, again when it loses a deadlock or serialization race."""
        from .records import Transaction

        retrying_savepoint(conn, lambda: handler(Transaction(self.app, conn, SYSTEM, automated=True),
                                                       json.loads(row.payload)),
                           f"job {row.id} ({row.kind})")

    def _run_one(self, worker: str, now: dt.datetime | None) -> bool:
        now = now or self.app.clock.now()
        t = job_table
        failure: tuple[Any, str] | None = None
        with write_connection(self.app.engine) as conn:
            row = self._claim(conn, now)
            if row is None:
                return False
            handler = self.handlers.get(row.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {row.kind!r}")
                self._handle(conn, handler, row)
            except Exception as e:  # the handler's work is rolled back; record the failure
                log.warning("job %s (%s) failed: %s", row.id, row.kind, e)
                failure = (row, "".join(traceback.format_exception_only(type(e), e)).strip())
            if failure is None:
                conn.execute(sa.update(t).where(t.c.id == row.id).values(
                    status="done", attempts=row.attempts + 1, finished_at=now, worker=worker, unique_key=None))
                return True
            attempts = row.attempts + 1
            dead = attempts >= row.max_attempts
            conn.execute(sa.update(t).where(t.c.id == row.id).values(
                status="failed" if dead else "pending", attempts=attempts, last_error=failure[1][:2000],
                run_at=now + dt.timedelta(seconds=min(3600, 10 * 2 ** (attempts - 1))), worker=worker,
                finished_at=now if dead else None, unique_key=None if dead else row.unique_key))
        return True

    def run_due(self, worker: str = "worker", now: dt.datetime | None = None, limit: int = 1000) -> int:
        """Run due jobs until none is left (or ``limit``); return how many ran."""
        n = 0
        while n < limit and self.run_one(worker, now):
            n += 1
        return n
