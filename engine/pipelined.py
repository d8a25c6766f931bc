"""Statements sent to PostgreSQL together: one round trip for writes whose results nobody reads.

A unit of work writes some rows only when something needs them: a create's held INSERTs (the record, then its
child rows: :mod:`ordo.engine.held_inserts`), the rows buffered until commit (audit entries, flow history,
instances, tokens, tasks, jobs, notifications: :mod:`ordo.engine.unit_of_work`). Each statement (an executemany
too) waits for the server's answer before the next is sent. Inside :func:`pipelined` psycopg's pipeline mode
sends them one after the other and reads their results once, at the end of the block (a statement whose rows are
read waits for them, as before). SQLite runs in this process: nothing to do there.

A statement the database refuses fails at the end of the block (the transaction is aborted, as with any failed
statement) and is raised as SQLAlchemy raises it (``sa.exc.IntegrityError`` ...), through the connection's
error handling. A libpq without pipeline mode (before 14) runs them one by one, as outside the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from . import lean

_SUPPORTED: list[bool] = []  # whether psycopg's libpq has pipeline mode (asked once)


_NOTHING = contextlib.nullcontext()  # (stateless: shared)


def pipelined(conn: sa.Connection) -> contextlib.AbstractContextManager[None]:
    """Run the block's statements on ``conn`` in one PostgreSQL pipeline (a no-op on SQLite)."""
    if conn.dialect.name != "postgresql" or not _supported():
        return _NOTHING
    return _pipeline(conn)


@contextlib.contextmanager
def _pipeline(conn: sa.Connection) -> Iterator[None]:
    dbapi = conn.connection.dbapi_connection
    try:
        with dbapi.pipeline():
            yield
    except sa.exc.DBAPIError:  # raised by a statement of the block, already as SQLAlchemy raises it
        raise
    except conn.dialect.loaded_dbapi.Error as e:  # raised when the results were read: as if by the statement
        lean.forget_cursor(conn)
        conn._handle_dbapi_exception(e, "(statements sent together)", None, None, None)


def _supported() -> bool:
    if not _SUPPORTED:
        import psycopg

        _SUPPORTED.append(psycopg.Pipeline.is_supported())
    return _SUPPORTED[0]
