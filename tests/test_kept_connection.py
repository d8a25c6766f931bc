"""A thread keeps its connection between consecutive write transactions (engine/kept_connection.py), and gives
it back to the pool whenever keeping it could hurt: threads at work at once, a failed or lost transaction,
dispose, the thread's end, another engine."""

from __future__ import annotations

import gc
import threading

import pytest
import sqlalchemy as sa

from ordo.engine import kept_connection, open_app
from ordo.engine.db import write_connection

APP = {"entities/note.yaml": "name: note\nfields:\n  text: {type: string}\n"}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    yield a
    a.close()


def _conn(app) -> sa.Connection:
    with write_connection(app.engine) as conn:
        return conn


def test_consecutive_write_transactions_of_a_thread_share_one_connection(app):
    first = _conn(app)
    app.create("note", {"text": "a"}, "u")
    assert _conn(app) is first and kept_connection.kept(app.engine) == 1
    assert app.engine.pool.checkedout() == 1  # the kept one, nothing else
    with app.transaction("u") as tx:
        tx.create("note", {"text": "b"})
        inner = kept_connection.take(app.engine)  # a second connection while the first is in use: a new one
        assert inner is not tx.conn
        kept_connection.give_back(inner, True)  # two checked out: not kept
    assert kept_connection.kept(app.engine) == 1 and app.engine.pool.checkedout() == 1
    assert [n["text"] for n in app.query("note", user="u")] == ["a", "b"]


def test_a_failed_or_lost_transaction_gives_its_connection_back(app):
    first = _conn(app)
    with pytest.raises(RuntimeError), write_connection(app.engine):
        raise RuntimeError("refused")
    assert kept_connection.kept(app.engine) == 0 and app.engine.pool.checkedout() == 0
    second = _conn(app)
    assert second is not first
    with pytest.raises(RuntimeError), write_connection(app.engine) as conn:
        conn.invalidate()  # the connection was lost
        raise RuntimeError("lost")
    assert _conn(app) is not second
    assert app.count("note", user="u") == 0


def test_dispose_closes_the_kept_connections(app):
    _conn(app)
    assert app.engine.pool.checkedout() == 1
    app.close()
    assert kept_connection.kept(app.engine) == 0
    app.create("note", {"text": "after"}, "u")  # a new pool: a new connection
    assert app.count("note", user="u") == 1


def test_threads_at_work_at_once_share_the_pool_and_a_thread_ending_closes_its_own(app):
    _conn(app)  # the main thread keeps one
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                app.create("note", {"text": f"{i}.{j}"}, "u")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]  # more than the pool holds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    del threads, t
    gc.collect()
    assert kept_connection.kept(app.engine) == 1  # the main thread's: the others gave theirs back or ended
    assert app.engine.pool.checkedout() == 1
    assert app.count("note", user="u") == 100

    def once() -> None:
        kept_connection.give_back(kept_connection.take(app.engine), True)  # none kept by the main thread now
        assert kept_connection.kept(app.engine) == 1

    app.close()  # the main thread's is closed
    worker = threading.Thread(target=once)
    worker.start()
    worker.join()
    del worker
    gc.collect()
    assert kept_connection.kept(app.engine) == 0 and app.engine.pool.checkedout() == 0


def test_using_another_engine_gives_the_kept_one_back(app, make_app, tmp_path):
    _conn(app)
    other = open_app(make_app(APP, name="other"), f"sqlite:///{tmp_path}/other.db")
    try:
        other.create("note", {"text": "x"}, "u")
        assert kept_connection.kept(app.engine) == 0 and app.engine.pool.checkedout() == 0
        assert kept_connection.kept(other.engine) == 1
    finally:
        other.close()


def test_reads_and_writes_of_a_thread_share_the_kept_connection(app):
    first = _conn(app)
    with app.reader("u") as tx:
        assert tx.conn is first
        assert tx.count("note") == 0
    with pytest.raises(RuntimeError), app.reader("u"):
        raise RuntimeError("failed read")
    assert kept_connection.kept(app.engine) == 0  # given back after the error
    app.create("note", {"text": "a"}, "u")
    assert app.get("note", 1, "u")["text"] == "a"
    assert kept_connection.kept(app.engine) == 1 and app.engine.pool.checkedout() == 1


def test_a_kept_connection_used_after_its_block_is_not_handed_out_again(app):
    conn = _conn(app)
    conn.execute(sa.text("SELECT 1"))  # a stale use begins a transaction the block will never end
    assert conn.in_transaction()
    app.create("note", {"text": "a"}, "u")  # on a new connection; the stale one is rolled back and closed
    assert conn.closed
    assert _conn(app) is not conn and app.count("note", user="u") == 1


def test_a_connection_kept_idle_too_long_is_replaced(app):
    conn = _conn(app)
    dbapi = conn.connection.dbapi_connection
    conn.__dict__[kept_connection._AT] -= kept_connection.IDLE + 1  # as if kept idle for longer
    fresh = _conn(app)
    assert fresh is not conn and conn.closed
    assert fresh.connection.dbapi_connection is not dbapi  # the old one was discarded, not pooled again
    app.create("note", {"text": "a"}, "u")
    assert app.count("note", user="u") == 1 and app.engine.pool.checkedout() == 1
