"""SQLite WAL checkpoints off the writers' path: one background thread per process.

A SQLite commit appends the pages it changed to the write-ahead log; a checkpoint copies them back into
the database file and syncs both (with ``synchronous=NORMAL`` the only syncs SQLite makes). Left to
SQLite, the commit that takes the log past ``wal_autocheckpoint`` pages runs the checkpoint itself: the
writer holding the write lock waits for it (on the OMS order bench one order in a hundred paid ~100 ms).

Here each commit to a database file notes the file (``committed``, from the engine's commit event: one set
lookup). A daemon thread wakes when one is noted, waits ``INTERVAL`` so that the commits arriving meanwhile
share one checkpoint, and runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own, opened for the
checkpoint only and never creating a file (``mode=rw``). PASSIVE neither waits for nor blocks readers and
writers: it copies what no reader still needs, and SQLite starts the log from its beginning at the next
write once everything was copied. The GIL is released while SQLite works, so the copy and the syncs overlap
the writers' Python work. The connections' ``wal_autocheckpoint`` stays as a backstop for a log growing
faster than the thread keeps up with. A commit is synced within about ``INTERVAL`` of being made.

A forked child starts a thread of its own at its first commit; a checkpoint that fails (the file was
removed, another process is checkpointing) is left to the next one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from urllib.parse import quote

log = logging.getLogger("ordo.db")

INTERVAL = 0.2  # seconds between a commit and the checkpoint that syncs it (and those made meanwhile)

_mutex = threading.Lock()
_wake = threading.Event()
_dirty: set[str] = set()  # database files committed to since their last checkpoint
_thread: threading.Thread | None = None
_pid = 0


def committed(path: str) -> None:
    """Note a commit to the SQLite database file ``path`` (its real path): checkpointed soon."""
    if path in _dirty and _pid == os.getpid():
        return
    with _mutex:
        _dirty.add(path)
        _start()
    _wake.set()


def _start() -> None:
    """The process's checkpoint thread (again in a forked child, which has none)."""
    global _thread, _pid
    if _thread is not None and _pid == os.getpid() and _thread.is_alive():
        return
    _pid = os.getpid()
    _thread = threading.Thread(target=_run, name="ordo-wal-checkpoint", daemon=True)
    _thread.start()


def _run() -> None:
    while True:
        _wake.wait()
        time.sleep(INTERVAL)
        with _mutex:
            paths = sorted(_dirty)
            _dirty.clear()
            _wake.clear()
        for path in paths:
            checkpoint(path)


def checkpoint(path: str) -> bool:
    """Copy the log of the SQLite file ``path`` back into it (PASSIVE); False when that could not run."""
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error:
        return False  # the file is gone: nothing to sync
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return True
    except sqlite3.Error as e:  # another process checkpointing, or the file replaced: the next one will do
        log.debug("checkpoint of %s skipped: %s", path, e)
        return False
    finally:
        conn.close()
