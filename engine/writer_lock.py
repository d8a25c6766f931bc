"""A first-come, first-served writer lock for one SQLite database inside one process.

SQLite lets one writer at a time hold a database. Threads that meet a held lock wait in SQLite's busy
handler, which sleeps and polls: a newcomer can take the lock ahead of a thread that has been waiting
for seconds, and under steady load one writer can starve until its busy timeout ends in "database is
locked". Ordo therefore queues the threads of a process in arrival order before ``BEGIN IMMEDIATE``
(:func:`engine.db.write_connection`): when a write transaction ends, the lock passes directly to the
thread that has waited longest. Processes still share the file through SQLite's own lock and busy
timeout. The lock is re-entrant within a thread, so it never adds a deadlock of its own.
"""

from __future__ import annotations

import collections
import os
import threading
import weakref

from .errors import Conflict

WAIT = 60.0  # seconds a write may queue behind others before it is refused
_ALL: weakref.WeakSet[WriterLock] = weakref.WeakSet()


class DatabaseBusy(Conflict):
    """Other writes held the SQLite database for longer than a writer may wait; nothing was changed."""


class WriterLock:
    """First-in, first-out; the holder hands the lock to the oldest waiter on release."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._mutex = threading.Lock()
        self._waiters: collections.deque[tuple[threading.Lock, int]] = collections.deque()
        self._owner: int | None = None
        self._depth = 0
        _ALL.add(self)

    def _forget(self) -> None:
        """In a forked child: the threads that held or awaited the lock do not exist there."""
        self._mutex = threading.Lock()
        self._waiters.clear()
        self._owner, self._depth = None, 0

    @property
    def waiting(self) -> int:
        """How many threads are queued (for messages and tests)."""
        return len(self._waiters)

    def acquire(self, timeout: float = WAIT) -> None:
        """Wait for the lock in arrival order; :class:`DatabaseBusy` after ``timeout`` seconds."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None and not self._waiters:
                self._owner, self._depth = me, 1
                return
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append((gate, me))
            ahead = len(self._waiters)
        if gate.acquire(timeout=timeout):
            return  # handed over by release(): _owner is already us
        with self._mutex:
            try:
                self._waiters.remove((gate, me))
            except ValueError:  # handed over while the wait timed out: we hold it after all
                return
        raise DatabaseBusy(f"the database {self.name!r} is busy: this write waited {timeout:g} s behind "
                           f"{ahead} other write(s) of this process; nothing was changed; try again")

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("the SQLite writer lock is released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            if self._waiters:
                gate, owner = self._waiters.popleft()
                self._owner, self._depth = owner, 1
                gate.release()
            else:
                self._owner = None


def _after_fork() -> None:
    for lock in list(_ALL):
        lock._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
