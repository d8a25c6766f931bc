"""What the PostgreSQL backends of a bench run were doing: sampled from ``pg_stat_activity``.

    watch = PgWatch(admin_engine, application_name)
    watch.start(); ...timed work...; watch.stop()
    watch.lock_share, watch.client_share, watch.server_cpu

Every 20 ms the backends of the run (found by their ``application_name``) are sampled: a backend inside a
transaction that waits for its client (``idle in transaction``, ``ClientRead``) is waiting on client Python;
one that waits on ``Lock`` (a row, a transaction id, an advisory lock) is waiting on another transaction.
When the server runs on this machine (its backends' ``/proc/PID/stat`` readable), their CPU time is summed,
so the bench can print server CPU per order next to client CPU. Only the bench uses this module.
"""

from __future__ import annotations

import collections
import os
import threading
import time

import sqlalchemy as sa

PERIOD = 0.02  # seconds between samples
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_SAMPLE = ("SELECT pid, state, coalesce(wait_event_type, ''), coalesce(wait_event, ''), left(query, 70) "
           "FROM pg_stat_activity WHERE application_name = %(name)s")


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a local process, None when it cannot be read (remote server, gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None


class PgWatch:
    """Samples the backends named ``application_name`` between :meth:`start` and :meth:`stop`."""

    def __init__(self, admin: sa.Engine, application_name: str) -> None:
        self.admin, self.name = admin, application_name
        self.states: collections.Counter[str] = collections.Counter()  # sample category -> samples
        self.locked: collections.Counter[str] = collections.Counter()  # statement waiting on a lock -> samples
        self._first: dict[int, float] = {}  # pid -> CPU seconds when first seen
        self._last: dict[int, float] = {}
        self._local = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self.admin.connect() as c:  # the CPU the backends had before the timed part
            pids = [pid for (pid,) in c.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %(name)s", {"name": self.name})]
        for pid in pids:
            cpu = backend_cpu(pid)
            if cpu is None:  # the server runs elsewhere (or as another user): no CPU figure
                self._local = False
            else:
                self._first[pid] = self._last[pid] = cpu
        self._local = self._local and bool(pids)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _cpu(self, pid: int) -> None:
        if self._local:
            now = backend_cpu(pid)  # None: the backend ended since it was sampled
            if now is not None:
                self._last[pid] = now  # a backend started after start() counts from 0

    def _run(self) -> None:
        with self.admin.connect() as c:
            while not self._stop.is_set():
                for pid, state, kind, event, query in c.exec_driver_sql(_SAMPLE, {"name": self.name}):
                    self.states[_category(state, kind, event)] += 1
                    if kind == "Lock":
                        self.locked[f"{event}: {query}"] += 1
                    self._cpu(pid)
                time.sleep(PERIOD)

    def _share(self, *categories: str) -> float:
        busy = sum(n for k, n in self.states.items() if k != "idle")  # a pooled connection not in use is no wait
        return sum(self.states[c] for c in categories) / busy if busy else 0.0

    @property
    def lock_share(self) -> float:
        """Share of the in-use backend samples waiting for a lock held by another transaction."""
        return self._share("lock")

    @property
    def client_share(self) -> float:
        """Share of the in-use backend samples inside a transaction waiting for the client."""
        return self._share("client")

    @property
    def server_cpu(self) -> float | None:
        """CPU seconds the backends used while watched (None when the server is not on this machine)."""
        if not self._local:
            return None
        return sum(self._last[p] - self._first.get(p, 0.0) for p in self._last)


def _category(state: str | None, kind: str, event: str) -> str:
    if state == "idle":
        return "idle"
    if kind == "Lock":
        return "lock"
    if kind == "Client" or (state or "").startswith("idle in transaction"):
        return "client"
    if kind in ("IO", "LWLock"):
        return "io"
    return "cpu" if not kind else "other"
