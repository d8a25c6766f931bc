"""Database jobs, the worker, the notification outbox and write listeners."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine import outbox as ob
from ordo.engine.jobs import list_jobs

APP = {"entities/note.yaml": "name: note\nfields:\n  text: {type: string}\n"}
T0 = dt.datetime(2026, 5, 1, 9, 0)


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url, clock=Clock(T0))
    yield a
    a.close()


def test_job_runs_when_due_in_one_transaction(app):
    seen = []
    app.jobs.register("touch", lambda tx, p: (seen.append(p["n"]), tx.create("note", {"text": f"job {p['n']}"})))
    with app.transaction("u") as tx:
        tx.enqueue("touch", {"n": 1}, T0 + dt.timedelta(hours=1))
    assert app.jobs.run_due() == 0  # not due yet
    app.clock.fixed = T0 + dt.timedelta(hours=2)
    assert app.jobs.run_due() == 1
    assert seen == [1] and app.count("note", user="u") == 1
    with app.engine.connect() as conn:
        assert [j.status for j in list_jobs(conn)] == ["done"]


def test_failing_job_rolls_back_and_retries_then_fails(app):
    def boom(tx, payload):
        tx.create("note", {"text": "half done"})
        raise RuntimeError("downstream unavailable")

    app.jobs.register("boom", boom)
    with app.transaction("u") as tx:
        tx.enqueue("boom", {}, max_attempts=2)
    assert app.jobs.run_due() == 1
    assert app.count("note", user="u") == 0  # the handler's writes were rolled back
    with app.engine.connect() as conn:
        job = list_jobs(conn)[0]
    assert job.status == "pending" and job.attempts == 1 and "downstream unavailable" in job.last_error
    app.clock.fixed = T0 + dt.timedelta(hours=1)
    app.jobs.run_due()
    with app.engine.connect() as conn:
        assert list_jobs(conn)[0].status == "failed"


def test_due_jobs_share_a_transaction_on_sqlite_and_a_failing_one_takes_nothing_with_it(app, monkeypatch):
    from ordo.engine import jobs
    from ordo.engine.stats import count_statements

    monkeypatch.setattr(jobs, "BATCH_SECONDS", 60.0)  # a loaded machine must not end a batch early

    def touch(tx, p):
        tx.create("note", {"text": f"job {p['n']}"})
        if p["n"] == 3:
            raise RuntimeError("job 3 cannot")

    app.jobs.register("touch", touch)
    with app.transaction("u") as tx:
        for n in range(1, 6):
            tx.enqueue("touch", {"n": n}, T0)
    with count_statements(app.engine) as counts:
        assert app.jobs.run_due(per_commit=2) == 5
    # the batch holding job 3 was rolled back and its jobs run one per transaction: 1 and 2 in one
    # transaction, then 3 (failed, rolled back) and 4 after the batch [3, 4] failed, then 5
    assert sorted(r["text"] for r in app.query("note", user="u")) == ["job 1", "job 2", "job 4", "job 5"]
    with app.engine.connect() as conn:
        jobs = {j.payload["n"]: j for j in list_jobs(conn)}
    assert [jobs[n].status for n in range(1, 6)] == ["done", "done", "pending", "done", "done"]
    assert "job 3 cannot" in jobs[3].last_error and jobs[3].attempts == 1
    assert counts.commits == 4  # batch [1, 2]; batch [3, 4] rolled back, then 3 alone (its failure recorded), 4; [5]
    app.jobs.register("touch", lambda tx, p: tx.create("note", {"text": "again"}))
    app.clock.fixed = T0 + dt.timedelta(hours=1)
    with count_statements(app.engine) as counts:
        assert app.jobs.run_due() == 1
    # SQLite: the queue ran dry inside the job's transaction, no empty one after it; PostgreSQL: a job per commit
    assert counts.commits == (1 if app.engine.dialect.name == "sqlite" else 2)


def test_jobs_run_one_per_transaction_on_postgresql_by_default(make_app, pg_url):
    from ordo.engine.stats import count_statements

    app = open_app(make_app(APP), pg_url, clock=Clock(T0))
    try:
        app.jobs.register("touch", lambda tx, p: tx.create("note", {"text": "t"}))
        with app.transaction("u") as tx:
            for n in range(3):
                tx.enqueue("touch", {"n": n}, T0)
        with count_statements(app.engine) as counts:
            assert app.jobs.run_due() == 3
        assert counts.commits == 4  # one per job (row locks held until the commit), one finding none due
    finally:
        app.close()


def test_unique_key_replaces_and_cancel(app):
    app.jobs.register("t", lambda tx, p: None)
    with app.transaction("u") as tx:
        tx.enqueue("t", {"v": 1}, unique_key="timer:1")
        tx.enqueue("t", {"v": 2}, unique_key="timer:1")
        tx.enqueue("t", {"v": 3}, unique_key="timer:2")
        assert tx.cancel_jobs(prefix="timer:2") == 1
    with app.engine.connect() as conn:
        jobs = list_jobs(conn, "pending")
    assert [j.payload for j in jobs] == [{"v": 2}]


def test_a_handler_cancelling_its_own_key_runs_no_statement_and_may_enqueue_it_again(app):
    from ordo.engine.stats import count_statements

    seen: list[int] = []

    def own(tx, p):
        seen.append(tx.cancel_jobs(unique_key="timer:own"))
        seen.append(tx.cancel_jobs(unique_key="timer:own"))  # cancelled already
        if p["v"] == 1:
            tx.enqueue("own", {"v": 2}, T0 + dt.timedelta(minutes=5), unique_key="timer:own")

    app.jobs.register("own", own)
    with app.transaction("u") as tx:
        tx.enqueue("own", {"v": 1}, T0, unique_key="timer:own")
    with count_statements(app.engine) as counts:
        assert app.jobs.run_one() is True
    assert seen == [1, 0] and counts.by_kind().get("UPDATE", 0) == 2  # the retired key, the job finished
    with app.engine.connect() as conn:
        jobs = {j.payload["v"]: j for j in list_jobs(conn)}
    assert jobs[1].status == "done" and jobs[1].unique_key is None
    assert jobs[2].status == "pending" and jobs[2].unique_key == "timer:own"
    app.clock.fixed = T0 + dt.timedelta(minutes=6)
    with count_statements(app.engine) as counts:
        assert app.jobs.run_one() is True
    assert seen == [1, 0, 1, 0] and counts.by_kind().get("UPDATE", 0) == 1  # only the job finished
    with app.engine.connect() as conn:
        assert [j.status for j in list_jobs(conn)] == ["done", "done"]


def test_outbox_delivery_with_retries(app):
    sent, fail = [], {"n": 2}

    def flaky(msg):
        if fail["n"]:
            fail["n"] -= 1
            raise ConnectionError("smtp down")
        sent.append(msg.recipient)

    app.outbox.senders["email"] = flaky
    with app.transaction("u") as tx:
        tx.notify("email", "a@example.com", "Hello", "body")
        tx.notify("inbox", "alice", "In-app")
    assert app.outbox.deliver_due() == 0
    for minutes in (1, 5):
        app.clock.fixed = T0 + dt.timedelta(minutes=minutes)
        app.outbox.deliver_due()
    assert sent == ["a@example.com"]
    with app.engine.connect() as conn:
        msgs = {m.channel: m for m in ob.messages(conn)}
    assert msgs["email"].status == "sent" and msgs["email"].attempts == 3
    assert msgs["inbox"].status == "sent"


def test_notification_is_dropped_with_its_transaction(app):
    with pytest.raises(RuntimeError), app.transaction("u") as tx:
        tx.notify("email", "a@example.com", "Hello")
        raise RuntimeError("business failure")
    with app.engine.connect() as conn:
        assert ob.messages(conn) == []


def test_write_listeners_see_every_write(app):
    events = []
    app.on_write(lambda tx, e: events.append((e.entity, e.action, (e.after or e.before)["text"])))
    rec = app.create("note", {"text": "a"}, "u")
    app.update("note", rec["id"], {"text": "b"}, "u")
    app.delete("note", rec["id"], "u")
    assert events == [("note", "create", "a"), ("note", "update", "b"), ("note", "delete", "b")]


def test_several_workers_never_run_a_job_twice(make_app, pg_url):
    app = open_app(make_app(APP), pg_url, clock=Clock(T0))
    runs: list[int] = []
    lock = threading.Lock()

    def handler(tx, payload):
        with lock:
            runs.append(payload["i"])
        tx.create("note", {"text": str(payload["i"])})

    app.jobs.register("work", handler)
    with app.transaction("u") as tx:
        for i in range(60):
            tx.enqueue("work", {"i": i})
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda w: app.jobs.run_due(worker=f"w{w}"), range(4)))
    assert sum(counts) == 60
    assert sorted(runs) == list(range(60))
    assert app.count("note", user="u") == 60
    app.close()


def test_a_new_key_job_is_written_at_commit_with_the_others_and_cancelled_in_place(app):
    """jobs.enqueue_later (a new flow token's timer): buffered, written in one executemany at commit; a cancel
    by its key in the transaction runs no statement and leaves the row cancelled, as the UPDATE would; a reader
    of the job table in the transaction sees the buffered jobs; a key held after all is replaced as usual."""
    from ordo.engine import jobs
    from ordo.engine.stats import count_statements

    with app.transaction("u") as tx:
        tx.enqueue("touch", {"n": 0}, T0, unique_key="k3")  # a live job holding a key a new job will take
    with app.transaction("u") as tx:
        with count_statements(app.engine) as counts:
            for i in range(3):
                jobs.enqueue_later(tx.conn, "touch", {"n": i + 1}, T0, now=T0, unique_key=f"k{i + 1}")
            jobs.enqueue_later(tx.conn, "touch", {"n": 22}, T0, now=T0, unique_key="k2")  # replaces k2's buffered
            assert tx.cancel_jobs(unique_key="k1") == 1
            assert tx.cancel_jobs(unique_key="k1") == 0  # already cancelled: to the database, nothing there
        assert counts.statements == 1
        assert len(list_jobs(tx.conn)) == 5  # a reader in the transaction sees the buffered jobs (flushed)
    with app.engine.connect() as conn:
        found = sorted((j.payload["n"], j.status, j.unique_key) for j in list_jobs(conn))
    assert found == [(0, "cancelled", None), (1, "cancelled", None), (2, "cancelled", None),
                     (3, "pending", "k3"), (22, "pending", "k2")]


def test_a_new_key_job_rolled_back_with_its_savepoint_is_not_written(app):
    from ordo.engine import jobs

    with app.transaction("u") as tx:
        jobs.enqueue_later(tx.conn, "touch", {"n": 1}, T0, now=T0, unique_key="a")
        with pytest.raises(RuntimeError), tx.conn.begin_nested():
            jobs.enqueue_later(tx.conn, "touch", {"n": 2}, T0, now=T0, unique_key="b")
            raise RuntimeError
        assert tx.cancel_jobs(unique_key="b") == 0
        assert tx.cancel_jobs(unique_key="a") == 1  # found again after the rollback (its index was dropped)
    with app.engine.connect() as conn:
        assert [(j.payload["n"], j.status) for j in list_jobs(conn)] == [(1, "cancelled")]
