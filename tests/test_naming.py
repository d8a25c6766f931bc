"""Record names: one counter per series; on PostgreSQL a sequence, so writers never wait for each other."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from ordo.engine import open_app
from ordo.engine.naming import series_table

APP = {"entities/ticket.yaml": """
    name: ticket
    naming: "T-{YYYY}-{###}"
    fields:
      title: {type: string}
"""}


def test_names_count_per_series_and_failed_writes_leave_no_duplicate(make_app, db_url):
    with open_app(make_app(APP), db_url) as app:
        assert app.create("ticket", {"title": "a"}, "admin")["name"].endswith("-001")
        with pytest.raises(RuntimeError), app.transaction("admin") as tx:
            tx.create("ticket", {"title": "rolled back"})
            raise RuntimeError("the caller gives up")
        third = app.create("ticket", {"title": "c"}, "admin")["name"]
        assert third.endswith(("-002", "-003"))  # a number taken by a rolled-back write may be skipped
        names = [r["name"] for r in app.query("ticket", user="admin", order_by="id")]
        assert len(names) == len(set(names)) == 2


def test_an_older_counter_continues(make_app, pg_url):
    app_dir = make_app(APP)
    with open_app(app_dir, pg_url) as app:
        year = app.clock.today().year
        with app.engine.begin() as conn:  # a series counted before sequences existed
            conn.execute(sa.insert(series_table).values(key=f"ticket:T-{year}-", current=41))
        assert app.create("ticket", {"title": "x"}, "admin")["name"] == f"T-{year}-042"


def test_concurrent_writers_get_distinct_names_without_waiting(make_app, pg_url):
    with open_app(make_app(APP), pg_url) as app:
        app.create("ticket", {"title": "first"}, "admin")
        hold = threading.Event()
        done = threading.Event()
        released: list[bool] = []

        def slow_writer() -> None:  # names a record, then keeps its transaction open until released
            with app.transaction("admin") as tx:
                tx.create("ticket", {"title": "slow"})
                hold.set()
                released.append(done.wait(10))  # False: the fast writer waited for this transaction

        t = threading.Thread(target=slow_writer)
        t.start()
        assert hold.wait(10)
        fast = app.create("ticket", {"title": "fast"}, "admin")  # would block on a counter row until commit
        done.set()
        t.join()
        assert released == [True]
        names = sorted(r["name"] for r in app.query("ticket", user="admin"))
        assert len(set(names)) == 3 and fast["name"] in names


def test_names_reserved_ahead_are_taken_in_one_statement_and_used_in_order(make_app, db_url):
    from ordo.engine.naming import reserve
    from ordo.engine.stats import count_statements

    with open_app(make_app(APP), db_url) as app:
        app.create("ticket", {"title": "first"}, "admin")  # -001 (and the series' sequence on PostgreSQL)
        with app.transaction("admin") as tx:
            with count_statements(app.engine) as counts:
                reserve(tx.conn, "ticket", "T-{YYYY}-{###}", app.clock.today(), 3)
            assert counts.statements == 1
            with count_statements(app.engine) as counts:
                made = [tx.create("ticket", {"title": str(i)})["name"][-3:] for i in range(3)]
            assert made == ["002", "003", "004"]
            assert not any("series" in t or "nextval" in t for t in counts.texts), counts.texts
            with pytest.raises(RuntimeError), tx.conn.begin_nested():  # rolled back: the numbers left go
                reserve(tx.conn, "ticket", "T-{YYYY}-{###}", app.clock.today(), 2)
                assert tx.create("ticket", {"title": "x"})["name"].endswith("-005")
                raise RuntimeError("the caller gives up")
            last = tx.create("ticket", {"title": "last"})["name"][-3:]
        assert last in ("005", "007")  # SQLite's counter is rolled back with the savepoint, a sequence is not
        names = [r["name"] for r in app.query("ticket", user="admin", order_by="id")]
        assert len(names) == len(set(names)) == 5


def test_names_counted_in_a_transaction_and_reserved_ahead_never_repeat(make_app, db_url):
    """On SQLite a series' numbers after the transaction's first are counted in memory (the counter written at
    commit); numbers reserved ahead continue that count, and the next transaction continues after all of them."""
    from ordo.engine.naming import reserve

    with open_app(make_app(APP), db_url) as app:
        with app.transaction("admin") as tx:
            made = [tx.create("ticket", {"title": str(i)})["name"][-3:] for i in range(2)]  # counted: 001, 002
            reserve(tx.conn, "ticket", "T-{YYYY}-{###}", app.clock.today(), 2)
            made += [tx.create("ticket", {"title": str(i)})["name"][-3:] for i in range(3)]  # 2 reserved, 1 counted
        assert made == ["001", "002", "003", "004", "005"]
        assert app.create("ticket", {"title": "next"}, "admin")["name"].endswith("-006")
        with pytest.raises(RuntimeError), app.transaction("admin") as tx:  # rolled back: its numbers are not kept
            tx.create("ticket", {"title": "a"})
            tx.create("ticket", {"title": "b"})
            raise RuntimeError("the caller gives up")
        after = app.create("ticket", {"title": "after"}, "admin")["name"][-3:]
        assert after in ("007", "009")  # SQLite's counter is rolled back, a sequence is not
        names = [r["name"] for r in app.query("ticket", user="admin", order_by="id")]
        assert len(names) == len(set(names)) == 7
