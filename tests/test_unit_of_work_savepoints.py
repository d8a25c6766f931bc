"""Rows the unit of work buffers (audit entries) and savepoints: a read that writes them first (a flush) inside a
savepoint writes rows buffered before it began; rolling that savepoint back undoes their INSERTs, not their
being owed: they are written at commit all the same (audit entries, a name series' count: no name given
twice). Rows buffered inside a rolled-back savepoint are not. Both databases."""

from __future__ import annotations

import pytest

from ordo.engine import audit, open_app

FILES = {"entities/note.yaml": "name: note\nfields:\n  text: {type: string}\n",
         "roles.yaml": "roles:\n  admin: {users: [admin]}\n"}


@pytest.fixture
def app(make_app, db_url):
    with open_app(make_app(FILES), db_url) as app:
        yield app


class Undo(Exception):
    pass


def entries(app) -> list[str]:
    with app.reader("admin") as tx:
        found = audit.read(tx.conn, entity="note", limit=1000)
    names = {}
    with app.reader("admin") as tx:
        for e in found:
            names[e.record_id] = tx.load("note", e.record_id)["text"] if e.action == "create" else None
    return sorted(n for n in names.values() if n)


def rolled_back(tx, body) -> None:
    try:
        with tx.conn.begin_nested():
            body()
            raise Undo
    except Undo:
        pass


def test_a_flush_inside_a_savepoint_rolled_back_keeps_the_rows_buffered_before_it(app):
    with app.transaction("admin") as tx:
        tx.create("note", {"text": "before"})
        tx.create("note", {"text": "before 2"})  # (SQLite: its number counted here, the series written at commit)

        def inside() -> None:
            tx.create("note", {"text": "inside"})  # gone with the savepoint
            assert len(audit.read(tx.conn, entity="note")) == 3  # all written now, inside it
            tx.create("note", {"text": "after the read"})

        rolled_back(tx, inside)
        tx.create("note", {"text": "after"})
    assert entries(app) == ["after", "before", "before 2"]
    with app.reader("admin") as tx:
        names = [r["name"] for r in tx.query("note")]
    assert len(set(names)) == 3, names


def test_nested_savepoints_each_undo_only_their_own_rows(app):
    with app.transaction("admin") as tx:
        tx.create("note", {"text": "outside"})

        def outer() -> None:
            tx.create("note", {"text": "outer kept"})

            def inner() -> None:
                tx.create("note", {"text": "inner"})
                audit.read(tx.conn)  # outside's, outer's and inner's rows written inside the inner savepoint

            rolled_back(tx, inner)
            with tx.conn.begin_nested():  # released: its rows stay with the outer savepoint
                tx.create("note", {"text": "released"})
                audit.read(tx.conn)

        with tx.conn.begin_nested():
            outer()

        def second() -> None:
            tx.create("note", {"text": "second"})

            def deeper() -> None:
                audit.read(tx.conn)  # second's row written inside the deeper savepoint

            rolled_back(tx, deeper)  # second's row buffered again, still second's own
            assert tx.conn.in_nested_transaction()

        rolled_back(tx, second)
    assert entries(app) == ["outer kept", "outside", "released"]


def test_buffered_rows_the_database_refuses_at_commit_fail_the_transaction_cleanly(app):
    """Rows of several tables written at commit (PostgreSQL: sent together, one round trip): one refused is
    raised as SQLAlchemy raises it, and nothing of the transaction stays."""
    import sqlalchemy as sa

    from ordo.engine import unit_of_work
    from ordo.engine.assignment import store

    with pytest.raises(sa.exc.IntegrityError):
        with app.transaction("admin") as tx:
            tx.create("note", {"text": "lost with the transaction"})
            unit_of_work.buffer(tx.conn, store._ADD, {"rule": "r", "entry": "e", "entity": "note", "record_id": 1,
                                                      "user_name": None, "active": True,  # NOT NULL: refused
                                                      "assigned_at": tx.now, "assigned_by": "admin", "ended_at": None})
    assert entries(app) == []
    with app.transaction("admin") as tx:  # the connection serves the next transaction
        tx.create("note", {"text": "next"})
    assert entries(app) == ["next"]
