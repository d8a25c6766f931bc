"""A thread's connection kept between its consecutive write transactions.

Opening a SQLAlchemy ``Connection`` per transaction costs ~12 us of Python (pool checkout and checkin with
its reset, the connection's events joined with the engine's anew, listeners looked up again): a third of an
empty write transaction, two per flow instance. :func:`take` hands a thread the connection it used last, still
checked out of its pool, when it is free; :func:`give_back` keeps it for the thread's next transaction, or
closes it (back to its pool) when keeping it could hurt:

* at most one connection per thread, and only while no other connection of its pool is checked out
  (:data:`KEEP_MAX`): threads working at once share the pool as before, and an idle thread can never hold
  one that others wait for (it pins at most one, which the pool's overflow covers);
* only a connection that ended its transaction cleanly, is valid, belongs to its engine's current pool (not
  one replaced by ``dispose``) and carries no execution options of its own; one idle for longer than
  :data:`IDLE` seconds (``db.IDLE_CHECK``: a server may have dropped it) is replaced by a new one;
* ``engine.dispose()`` closes the engine's kept connections; a thread that ends closes its own; taking a
  connection of another engine closes the one kept (so an app left open pins nothing once another is used);
* in a process forked from this one the parent's connections are never used nor closed (they are the
  parent's sockets and files): they are left alone for good.

Who owns a kept connection is decided under one mutex (:data:`_KEPT`): its thread taking it back, a
``dispose`` closing it, the end of its thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import QueuePool

KEEP_MAX = 1  # a connection is kept only when it is the only one of its pool checked out
IDLE = 30.0  # seconds (db.IDLE_CHECK): a connection kept idle longer is replaced by a new one
_AT = "ordo_kept_at"  # Connection attribute: when it was kept (time.monotonic())
_MUTEX = threading.Lock()
_KEPT: dict[int, sa.Connection] = {}  # id -> every kept connection of this process (not in use)
_INHERITED: list[sa.Connection] = []  # a forked child's copies of the parent's connections: never touched
_LOCAL = threading.local()  # .slot: this thread's _Slot
_WATCHED = "ordo_kept_watched"  # an engine whose disposal _watch() hooked (its own attribute: no WeakSet test)


class _Slot:
    """A thread's kept connection; lives in the thread's local storage, so it goes when the thread ends (and
    the connection it holds is closed then)."""

    __slots__ = ("cell", "__weakref__")

    def __init__(self) -> None:
        self.cell: list[sa.Connection | None] = [None]
        weakref.finalize(self, _thread_ended, self.cell, os.getpid())


def _slot() -> _Slot:
    slot = _LOCAL.__dict__.get("slot")
    if slot is None:
        slot = _LOCAL.slot = _Slot()
    return slot


def _claim(conn: sa.Connection) -> bool:
    """Take ``conn`` out of the kept connections; False when another owner (a dispose, a fork) took it."""
    with _MUTEX:
        return _KEPT.pop(id(conn), None) is not None


def _close(conn: sa.Connection) -> None:
    with contextlib.suppress(Exception):  # a lost connection is discarded by the pool either way
        conn.close()


def _thread_ended(cell: list[sa.Connection | None], pid: int) -> None:
    conn, cell[0] = cell[0], None
    if conn is not None and os.getpid() == pid and _claim(conn):
        _close(conn)


def take(engine: sa.Engine) -> sa.Connection:
    """A connection of ``engine`` for one transaction: the one this thread kept, when it can serve, or a new
    one from the pool. Hand it to :func:`give_back` when the transaction has ended."""
    slot = _LOCAL.__dict__.get("slot")
    if slot is not None:
        conn = slot.cell[0]
        if conn is not None:
            slot.cell[0] = None
            if _claim(conn):
                if conn.engine is not engine or conn.invalidated or conn.in_transaction():
                    _close(conn)  # (in a transaction: used after its block had ended; closing rolls it back)
                elif time.monotonic() - conn.__dict__[_AT] <= IDLE:
                    return conn
                else:  # idle long enough for the server to have dropped it: a new one, not a check per use
                    with contextlib.suppress(Exception):
                        conn.invalidate()
                    _close(conn)
    return engine.connect()


def give_back(conn: sa.Connection, clean: bool) -> None:
    """The transaction on ``conn`` (from :func:`take`) has ended (``clean``: committed or rolled back without
    an error): keep the connection for this thread's next transaction, or close it (back to its pool)."""
    engine = conn.engine
    pool = engine.pool
    fairy = conn._dbapi_connection
    if (not clean or fairy is None or conn.invalidated or conn.in_transaction() or type(pool) is not QueuePool
            or fairy._pool is not pool or conn._execution_options is not engine._execution_options
            or pool.checkedout() > KEEP_MAX):
        conn.close()
        return
    if _WATCHED not in engine.__dict__:
        _watch(engine)
    slot = _slot()
    old = slot.cell[0]  # a connection kept while this one served (a nested transaction's)
    if old is not None and _claim(old):
        _close(old)
    conn.__dict__[_AT] = time.monotonic()
    with _MUTEX:
        _KEPT[id(conn)] = conn
    slot.cell[0] = conn


def _watch(engine: sa.Engine) -> None:
    with _MUTEX:
        if _WATCHED in engine.__dict__:
            return
        engine.__dict__[_WATCHED] = True
    event.listen(engine, "engine_disposed", _disposed)


def _disposed(engine: sa.Engine) -> None:
    """Close the connections kept for ``engine`` (their threads take new ones from its new pool)."""
    with _MUTEX:
        mine = [c for c in _KEPT.values() if c.engine is engine]
        for c in mine:
            del _KEPT[id(c)]
    for c in mine:
        _close(c)


def _after_fork() -> None:
    global _MUTEX
    _MUTEX = threading.Lock()
    _INHERITED.extend(_KEPT.values())
    _KEPT.clear()


def kept(engine: Any = None) -> int:
    """How many connections are kept (of ``engine``, or in all): for tests."""
    with _MUTEX:
        return sum(1 for c in _KEPT.values() if engine is None or c.engine is engine)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
