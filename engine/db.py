"""Database connections: SQLite (embedded default) and PostgreSQL (shared by many processes)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from .errors import UsageError

DEFAULT_DB = "ordo.db"


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
            return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except ModuleNotFoundError:
            raise UsageError("PostgreSQL needs psycopg: pip install 'ordo[pg]'") from None
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

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        write = conn.get_execution_options().get("ordo_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextlib.contextmanager
def write_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One write transaction: committed on success, rolled back on any error."""
    with engine.connect() as conn:
        conn = conn.execution_options(ordo_write=True)
        with conn.begin():
            yield conn


def advisory_lock(conn: sa.Connection, name: str) -> None:
    """Serialize a critical section across processes (PostgreSQL); SQLite's write lock suffices."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
