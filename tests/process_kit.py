"""What the process-based concurrency tests run in each spawned process: small top-level functions that
open the app on the test's database (its own engine and connections) and meet the others at a barrier, so
that the 4 processes really act at the same moment."""

from __future__ import annotations

from typing import Any

from ordo.engine import Conflict, open_app

_barrier: Any = None
_apps: dict[tuple[str, str], Any] = {}


def init(barrier: Any) -> None:
    """Pool initializer: the barrier shared by the pool's processes."""
    global _barrier
    _barrier = barrier


def _app(folder: str, url: str) -> Any:
    key = (folder, url)
    if key not in _apps:
        _apps[key] = open_app(folder, url, sync=False)
    return _apps[key]


def _meet() -> None:
    if _barrier is not None:
        _barrier.wait(timeout=60)


def close_all(_: int = 0) -> int:
    """Dispose of this process's engines (before the test drops its schema)."""
    _meet()  # every process of the pool runs this once
    for app in _apps.values():
        app.close()
    n = len(_apps)
    _apps.clear()
    return n


def increment(folder: str, url: str, entity: str, key: int, times: int) -> int:
    """Read-modify-write ``times`` increments of ``value`` with optimistic locking; return the conflicts met."""
    app = _app(folder, url)
    _meet()
    conflicts = 0
    for _ in range(times):
        while True:
            cur = app.get(entity, key, "u")
            try:
                app.update(entity, key, {"value": cur["value"] + 1}, "u", expected_version=cur["version"])
                break
            except Conflict:
                conflicts += 1
    return conflicts


def approve_all(folder: str, url: str, user: str, tasks: list[int]) -> list[int]:
    """Try to approve every task (the other processes try the same ones); return the ids this one won."""
    app = _app(folder, url)
    flows = app.features["flows"]
    _meet()
    won = []
    for task in tasks:
        try:
            with app.transaction(user) as tx:
                flows.approve(tx, task, comment=f"by {user}")
            won.append(task)
        except Conflict:
            pass
    return won


def allocate_all(folder: str, url: str, user: str, orders: list[int]) -> list[tuple[int, str]]:
    """Allocate each order (one transaction each); return (order, status)."""
    app = _app(folder, url)
    service = app.features["allocation"]
    _meet()
    out = []
    for oid in orders:
        out.append((oid, app.run(user, lambda tx, o=oid: service.allocate(tx, "fulfil", o).status,
                                 f"allocating order {oid}")))
    return out
