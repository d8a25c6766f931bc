"""Database connections: SQLite (embedded default) and PostgreSQL (shared by many processes)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from . import kept_connection, lean, wal_checkpoint
from .errors import Conflict, OrdoError, UsageError
from .writer_lock import WriterLock

DEFAULT_DB = "ordo.db"
# set on the Connection (an attribute: no ``conn.info`` property chain) while it runs a write transaction
# (write_connection): SQLite's BEGIN IMMEDIATE and the unit of work's locks_all read it
WRITING = "ordo_write"
T = TypeVar("T")
# SQLSTATEs of a transaction that lost a race with a concurrent one: safe to run again from the start
LOST_RACE = {"40P01": "a deadlock", "40001": "a serialization failure"}
RETRIES = 3  # runs of a unit of work before its TransactionConflict reaches the caller
RETRY_PAUSE = 0.05  # seconds; the pause before run n is random in [0, RETRY_PAUSE * 2 ** n)
IDLE_CHECK = 30.0  # seconds: a pooled PostgreSQL connection idle longer is checked (one round trip) before use
# the in-process writer queue of each SQLite engine; engines on the same file share one
_WRITERS: weakref.WeakKeyDictionary[sa.Engine, WriterLock] = weakref.WeakKeyDictionary()
_WRITERS_BY_FILE: weakref.WeakValueDictionary[str, WriterLock] = weakref.WeakValueDictionary()
_WRITERS_MUTEX = threading.Lock()


def normalize_url(url: str | None, default_file: str = DEFAULT_DB) -> str:
    """Accept a SQLAlchemy URL, a ``.db`` file path, or None (``./ordo.db``)."""
    if not url:
        return f"sqlite:///{default_file}"
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def describe(url: str | None) -> str:
    """How a database is named in messages: the SQLite file, or the URL without its password."""
    if not url:
        return DEFAULT_DB
    if "://" not in url:
        return url
    try:
        parsed = sa.engine.make_url(normalize_url(url))
    except sa.exc.ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


class DatabaseMissing(UsageError):
    """The database named does not exist (and creating it was not asked for)."""


def make_engine(url: str | None, *, create: bool = True) -> sa.Engine:
    """An engine for ``url``. SQLite gets WAL, foreign keys and BEGIN IMMEDIATE for writes.

    A SQLite file that does not exist is created only with ``create``; its folder must exist
    (Ordo never creates folders). A file that is not a SQLite database is refused."""
    full = normalize_url(url)
    try:
        parsed = sa.engine.make_url(full)
    except sa.exc.ArgumentError as e:
        raise UsageError(f"invalid database URL {url!r}: {e}") from None
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed, url or full, create)
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        try:
            engine = sa.create_engine(parsed, pool_size=10, max_overflow=20)
        except ModuleNotFoundError:
            raise UsageError("PostgreSQL needs psycopg: pip install 'ordo[pg]'") from None
        _check_idle_connections(engine)
        _keep_prepared(engine)
        return engine
    raise UsageError(f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


def _is_memory(url: sa.URL) -> bool:
    return url.database in (None, "", ":memory:")


def _check_sqlite_file(url: sa.URL, shown: str, create: bool) -> None:
    if _is_memory(url):
        return
    path = Path(url.database)
    if path.is_dir():
        raise UsageError(f"database {shown!r} is a folder, not a SQLite file")
    if not path.exists():
        if not path.parent.exists():
            raise DatabaseMissing(f"database {shown!r}: the folder {str(path.parent)!r} does not exist")
        if not create:
            raise DatabaseMissing(f"database {shown!r} does not exist (check the path; `ordo sync APP --db "
                                  f"{shown}` or --create creates it)")
        return
    try:
        with path.open("rb") as f:
            header = f.read(16)
    except OSError as e:
        raise UsageError(f"cannot open database {shown!r}: {e.strerror}") from None
    if header and header != b"SQLite format 3\x00":
        raise UsageError(f"{shown!r} is not a SQLite database file")


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    memory = _is_memory(url)
    kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = sa.create_engine(url, **kwargs)
    _WRITERS[engine] = _writer_for(engine, None if memory else os.path.realpath(url.database))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        # a page cache of up to 32 MiB per connection (SQLite's default: 2 MiB), filled as pages are read: past
        # a few tens of thousands of records the index pages a write touches no longer fit in 2 MiB and are read
        # again from the OS each time (bench/intake.py, 100,000 rows: 1,429 -> 2,300 rows/s with 64 MiB)
        cur.execute("PRAGMA cache_size=-32768")
        # the WAL is checkpointed (pages copied back and synced) by a thread of its own shortly after commits
        # (wal_checkpoint.py); a committing writer does it only past 10,000 pages, a backstop
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.close()

    if not memory:
        path = os.path.realpath(url.database)

        @event.listens_for(engine, "commit")
        def _on_commit(conn):  # pragma: no cover - trivial
            wal_checkpoint.committed(path)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        lean.driver_sql(conn, "BEGIN IMMEDIATE" if writing(conn) else "BEGIN")

    return engine


def _writer_for(engine: sa.Engine, path: str | None) -> WriterLock:
    """The writer queue of a SQLite database: one per file in this process (one per in-memory engine)."""
    if path is None:
        return WriterLock(":memory:")
    with _WRITERS_MUTEX:
        found = _WRITERS_BY_FILE.get(path)
        if found is None:
            found = _WRITERS_BY_FILE[path] = WriterLock(path)
        return found


def writer_lock(engine: sa.Engine) -> WriterLock | None:
    """The in-process FIFO writer lock of a SQLite engine made here (None on PostgreSQL)."""
    return _WRITERS.get(engine)


PREPARED_MAX = 1000  # statements psycopg keeps prepared per connection (its default, 100, is below one app's)


def _keep_prepared(engine: sa.Engine) -> None:
    """Statements are built once and run many times (engine/lean.py): psycopg prepares one on the server after
    a few runs and keeps ``prepared_max`` of them per connection, evicting the oldest. An app runs a few hundred
    distinct statements (the OMS order path alone about a hundred), so the default would keep evicting and
    preparing again; keep them all."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if hasattr(dbapi_conn, "prepared_max"):
            dbapi_conn.prepared_max = PREPARED_MAX


def _check_idle_connections(engine: sa.Engine) -> None:
    """No ping on every checkout (a round trip per transaction): a connection used within the last
    ``IDLE_CHECK`` seconds is taken as it is, and a dropped one is handled where it fails (a write unit of
    work that loses its connection before committing is run again, see :func:`write_connection`). Only a
    connection idle for longer, the ones a server restart or an idle timeout drop, is checked first."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):  # pragma: no cover - trivial
        record.info["ordo_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy):
        used = record.info.get("ordo_used")
        if used is None or time.monotonic() - used <= IDLE_CHECK:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
        except Exception as e:  # noqa: BLE001 - any failure means the connection is gone: the pool takes another
            raise sa.exc.DisconnectionError(str(e)) from e


class ConnectionLost(Conflict):
    """The database connection broke during a unit of work, before its commit: the server rolled it back,
    so nothing was changed, and :func:`retrying` runs it again on a fresh connection."""


class CommitUnknown(OrdoError):
    """The database connection broke while committing: whether the commit happened is unknown."""


class TransactionConflict(Conflict):
    """The transaction lost a deadlock or serialization race with a concurrent one and was rolled back
    (nothing it did was kept); running it again usually succeeds (see :func:`retrying`)."""


def lost_race(error: BaseException) -> str | None:
    """What race a database error reports ('a deadlock', ...), or None for any other error."""
    if isinstance(error, sa.exc.DBAPIError):
        return LOST_RACE.get(getattr(error.orig, "sqlstate", None) or "")
    return None


@contextlib.contextmanager
def write_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One write transaction: committed on success, rolled back on any error. A lost deadlock or
    serialization race surfaces as :class:`TransactionConflict`, a connection dropped before the commit as
    :class:`ConnectionLost` (both run again by :func:`retrying`), never as a raw driver error.

    On SQLite the threads of this process queue for the write lock in arrival order (:mod:`.writer_lock`)
    before ``BEGIN IMMEDIATE``, so a writer is never starved by later ones."""
    queue = _WRITERS.get(engine)
    if queue is not None:
        queue.acquire()
    committing = False
    try:
        conn = kept_connection.take(engine)  # the thread's last one when it can serve (kept_connection)
        clean = False
        try:
            conn.__dict__[WRITING] = True  # this Connection's own, not the pooled connection's
            with conn.begin():
                yield conn
                committing = True
            clean = True
        finally:
            conn.__dict__[WRITING] = False
            kept_connection.give_back(conn, clean)
    except sa.exc.DBAPIError as e:
        if e.connection_invalidated:
            if committing:
                raise CommitUnknown("the database connection was lost while committing: the change may or may "
                                    "not have been stored; check before trying again") from e
            raise ConnectionLost("the database connection was lost; the transaction was rolled back, nothing "
                                 "was changed; try again") from e
        race = lost_race(e)
        if race is None:
            raise
        raise TransactionConflict(f"the transaction was rolled back after {race} with a concurrent "
                                  f"transaction; nothing was changed; try again") from e
    finally:
        if queue is not None:
            queue.release()


@contextlib.contextmanager
def read_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One read transaction (committed at the end, rolled back on an error), on the thread's kept connection
    when it can serve (:mod:`.kept_connection`)."""
    conn = kept_connection.take(engine)
    clean = False
    try:
        with conn.begin():
            yield conn
        clean = True
    finally:
        kept_connection.give_back(conn, clean)


def writing(conn: sa.Connection) -> bool:
    """Whether ``conn`` runs a write transaction (:func:`write_connection`)."""
    return conn.__dict__.get(WRITING, False)


def retrying(work: Callable[[], T], what: str = "the transaction", attempts: int = RETRIES) -> T:
    """Run ``work`` (a whole unit of work: it opens and commits its own transaction) and run it again,
    after a short random pause, when it raises :class:`TransactionConflict` (or :class:`ConnectionLost`:
    a fresh connection is taken); after ``attempts`` runs the conflict reaches the caller, naming ``what``."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except ConnectionLost as e:
            if attempt == attempts:
                raise ConnectionLost(f"{what}: the database connection was lost {attempts} times; nothing was "
                                     f"changed; try again") from e.__cause__
            continue  # the pool replaced the connection: no need to wait
        except TransactionConflict as e:
            if attempt == attempts:
                cause = e.__cause__ if e.__cause__ is not None else e
                race = lost_race(cause) or "a race"
                raise TransactionConflict(f"{what} lost {race} with concurrent transactions {attempts} times and "
                                          f"was rolled back each time; nothing was changed; try again") from cause
            pause_before_retry(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def retrying_savepoint(conn: sa.Connection, work: Callable[[], T], what: str, attempts: int = RETRIES) -> T:
    """Run ``work`` inside a savepoint of ``conn``'s transaction; when it loses a deadlock or serialization
    race, roll back to the savepoint (which releases what it locked, so the other transaction goes on) and
    run it again; after ``attempts`` runs raise :class:`TransactionConflict` naming ``what``."""
    for attempt in range(1, attempts + 1):
        try:
            with conn.begin_nested():
                return work()
        except sa.exc.DBAPIError as e:
            race = lost_race(e)
            if race is None:
                raise
            if attempt == attempts:
                raise TransactionConflict(f"{what} lost {race} with concurrent transactions {attempts} times; "
                                          f"its work was rolled back; try again") from e
            pause_before_retry(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def pause_before_retry(attempt: int) -> None:
    """A short random pause before running again, so racing transactions do not meet again in step."""
    time.sleep(random.uniform(0, RETRY_PAUSE * 2 ** attempt))


def advisory_lock(conn: sa.Connection, name: str) -> None:
    """Serialize a critical section across processes (PostgreSQL); SQLite's write lock suffices."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
