"""Concurrency guarantees, proven on PostgreSQL with real concurrent connections (threads)."""

from __future__ import annotations

import datetime as dt
import threading

from ordo.engine import Conflict

from .test_flow_patterns import kit_for

ROLE_TASK = """
nodes:
  ask:
    type: approval
    approvers: [{role: finance}]
    timeout: {after: 1h, action: remind}
    next: done
  done: {type: end}
"""


def race(calls):
    """Run the calls at the same moment, each in its own thread (and connection); return results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def runner(i, fn):
        barrier.wait()
        try:
            fn()
            results[i] = "ok"
        except Exception as e:  # noqa: BLE001 - the outcome is what we compare
            results[i] = e

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_approvers_on_one_task_exactly_one_wins(make_app, pg_url):
    kit = kit_for(make_app, pg_url, ROLE_TASK)
    for _ in range(8):
        e = kit.expense()
        task = kit.status(e).tasks[0]["id"]
        results = race([lambda u=u, task=task: kit.run(u, "approve", task, f"by {u}") for u in ("fin1", "fin2")])
        assert results.count("ok") == 1, results
        assert all(isinstance(r, Conflict) for r in results if r != "ok")
        approvals = [ev for ev in kit.timeline(e) if ev.action == "approve"]
        assert len(approvals) == 1 and kit.status(e).status == "completed"
        assert [ev.action for ev in kit.timeline(e)].count("completed") == 1


def test_the_same_approver_twice_at_once_takes_effect_once(make_app, pg_url):
    kit = kit_for(make_app, pg_url, ROLE_TASK)
    e = kit.expense()
    task = kit.status(e).tasks[0]["id"]
    results = race([lambda: kit.run("fin1", "approve", task), lambda: kit.run("fin1", "approve", task),
                    lambda: kit.run("fin1", "reject", task)])
    assert results.count("ok") == 1, results
    assert len([ev for ev in kit.timeline(e) if ev.action in ("approve", "reject")]) == 1


def test_countersigners_at_once_complete_the_step_once(make_app, pg_url):
    kit = kit_for(make_app, pg_url, """
nodes:
  ask: {type: approval, mode: all, approvers: [{user: bob}, {user: carol}, {user: dave}], next: pay}
  pay: {type: action, create: {entity: payment, values: {expense: "id", amount: "amount"}}, next: done}
  done: {type: end}
""")
    e = kit.expense()
    tasks = {t["assignee"]: t["id"] for t in kit.status(e).tasks}
    results = race([lambda u=u: kit.run(u, "approve", tasks[u]) for u in ("bob", "carol", "dave")])
    assert results == ["ok", "ok", "ok"], results
    assert kit.status(e).status == "completed"
    assert kit.app.count("payment", user="root") == 1  # the step after the countersign ran exactly once


def test_several_workers_never_fire_one_timer_twice(make_app, pg_url):
    kit = kit_for(make_app, pg_url, ROLE_TASK)
    records = [kit.expense() for _ in range(12)]
    later = kit.clock.fixed + dt.timedelta(hours=2)
    counts: list[int] = []
    lock = threading.Lock()

    def work(name):
        n = kit.app.jobs.run_due(name, now=later)
        with lock:
            counts.append(n)

    race([lambda i=i: work(f"w{i}") for i in range(4)])
    assert sum(counts) == 12
    for e in records:
        assert [ev.action for ev in kit.timeline(e)].count("remind") == 1
