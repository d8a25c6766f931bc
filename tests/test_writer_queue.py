"""SQLite writers of one process take the write lock in arrival order (no writer starves into "database is
locked"); a PostgreSQL connection dropped under a unit of work is replaced and the work run again."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from ordo.engine import Conflict, open_app
from ordo.engine.db import ConnectionLost, make_engine, write_connection, writer_lock
from ordo.engine.writer_lock import DatabaseBusy, WriterLock

APP = {"entities/note.yaml": "name: note\nnaming: \"N-{#####}\"\nfields:\n  text: {type: string}\n"}


def _wait_until(cond) -> None:
    for _ in range(2000):
        if cond():
            return
        time.sleep(0.005)
    raise AssertionError("condition not reached")


def test_waiting_writers_get_the_lock_in_arrival_order():
    lock = WriterLock("x.db")
    lock.acquire()
    order: list[int] = []
    threads = []
    for i in range(5):
        t = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        t.start()
        threads.append(t)
        _wait_until(lambda i=i: lock.waiting == i + 1)  # queued one after the other
    lock.release()
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]
    assert lock.waiting == 0


def test_the_lock_is_reentrant_and_a_long_wait_is_refused_clearly():
    lock = WriterLock("shop.db")
    lock.acquire()
    lock.acquire()  # the same thread again: no deadlock of its own
    lock.release()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            lock.acquire(timeout=0.05)
        except DatabaseBusy as e:
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    assert "the database 'shop.db' is busy" in str(errors[0]) and "nothing was changed" in str(errors[0])
    assert lock.waiting == 0  # the refused writer left the queue
    lock.release()
    lock.acquire(timeout=0.05)  # free again
    lock.release()


def test_engines_on_one_file_share_one_queue(tmp_path):
    a, b = make_engine(f"sqlite:///{tmp_path / 'x.db'}"), make_engine(str(tmp_path / "x.db"))
    mem = make_engine("sqlite://")
    assert writer_lock(a) is writer_lock(b) is not None
    assert writer_lock(mem) is not None and writer_lock(mem) is not writer_lock(a)
    a.dispose(), b.dispose(), mem.dispose()


def test_many_threads_writing_to_one_sqlite_file_all_succeed_in_turn(make_app, tmp_path):
    """A long write held by one thread makes the others queue; when it ends they all write, none fails."""
    app = open_app(make_app(APP), f"sqlite:///{tmp_path / 'w.db'}")
    queue = writer_lock(app.engine)
    assert queue is not None
    held, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def long_writer() -> None:
        with app.transaction("u") as tx:
            tx.create("note", {"text": "first"})
            held.set()
            done.wait(10)

    def writer(i: int) -> None:
        try:
            for j in range(5):
                app.create("note", {"text": f"{i}-{j}"}, "u")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    first = threading.Thread(target=long_writer)
    first.start()
    held.wait(10)
    others = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in others:
        t.start()
    _wait_until(lambda: queue.waiting == 6)  # all queued in this process, none polling SQLite's lock
    done.set()
    for t in [first, *others]:
        t.join()
    assert errors == []
    names = [n["name"] for n in app.query("note", user="u", limit=None)]
    assert len(names) == len(set(names)) == 31
    app.close()


def test_a_dropped_postgresql_connection_is_replaced_and_the_work_run_again(make_app, pg_url):
    app = open_app(make_app(APP), pg_url)
    app.create("note", {"text": "before"}, "u")
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    runs: list[int] = []

    def work(tx):
        runs.append(1)
        tx.create("note", {"text": f"run {len(runs)}"})
        if len(runs) == 1:  # the server drops this connection in the middle of the unit of work
            pid = tx.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with admin.connect() as c:
                c.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            tx.conn.exec_driver_sql("SELECT 1")
        return len(runs)

    assert app.run("u", work, "noting") == 2
    assert sorted(n["text"] for n in app.query("note", user="u")) == ["before", "run 2"]  # run 1 left nothing
    with app.engine.connect() as conn:  # the pool's other connections were discarded with the broken one
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with admin.connect() as c:
        c.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    assert app.create("note", {"text": "after"}, "u")["text"] == "after"  # one-call methods retry too
    admin.dispose()
    app.close()


def test_a_connection_lost_on_every_run_ends_in_a_clear_error(make_app, db_url):
    app = open_app(make_app(APP), db_url)

    def work(tx):
        tx.create("note", {"text": "x"})
        raise ConnectionLost("the database connection was lost")

    with pytest.raises(ConnectionLost, match="noting: the database connection was lost 3 times; nothing was "
                                             "changed"):
        app.run("u", work, "noting")
    with pytest.raises(ConnectionLost):
        with write_connection(app.engine):
            raise ConnectionLost("x")
    assert app.count("note", user="u") == 0
    app.close()


def test_a_forked_child_does_not_inherit_a_held_lock():
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    lock = WriterLock("f.db")
    lock.acquire()
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_take_and_release, args=(lock,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    lock.release()


def _take_and_release(lock: WriterLock) -> None:
    lock.acquire(timeout=5)  # held by the parent's thread, which the child does not have
    lock.release()
