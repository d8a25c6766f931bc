"""Guarded UPDATEs held back by a SQLite write transaction (engine/held.py): written before anything could see
them, their guards still failing the transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ordo.engine import open_app, unit_of_work
from ordo.engine.errors import Conflict

from .test_statement_budgets_flows import bench


@pytest.fixture
def app(db_url, tmp_path):
    with open_app(bench.write_app(tmp_path / "bench"), db_url) as app:
        with app.transaction("alice") as tx:
            for _ in range(4):
                tx.create("claim", {"amount": 100})
        yield app


def _held(tx) -> int:
    return len(unit_of_work.of(tx.conn).held.rows)


def test_held_on_sqlite_only(app):
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        for t in flows.inbox(tx):
            flows.approve(tx, t.id)
        assert _held(tx) == (12 if app.engine.dialect.name == "sqlite" else 0)  # task, instance, record each
    with app.reader("admin") as tx:
        assert not flows.inbox(tx, "mia")
        assert [r["stage"] for r in tx.query("claim")] == ["approved"] * 4


def test_a_reader_sees_them(app):
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        task = flows.inbox(tx)[0]
        flows.approve(tx, task.id)
        status = tx.conn.execute(sa.text("SELECT status FROM ordo_flow_task WHERE id = :i"), {"i": task.id}).scalar()
        assert status == "approved" and _held(tx) == 0  # a statement naming one of their tables: all written
        flows.approve(tx, flows.inbox(tx)[0].id)
        stage = tx.conn.execute(sa.text("SELECT stage FROM claim WHERE id = :i"), {"i": task.record_id}).scalar()
        assert stage == "approved" and _held(tx) == 0
        tx.update("claim", task.record_id, {"amount": 5})  # after the mirror, on its version
    with app.reader("admin") as tx:
        rec = tx.load("claim", task.record_id)
        assert (rec["stage"], rec["version"]) == ("approved", 3)


def test_a_savepoint_writes_them_first(app):
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        tasks = flows.inbox(tx)
        flows.approve(tx, tasks[0].id)
        sp = tx.conn.begin_nested()
        assert _held(tx) == 0
        flows.approve(tx, tasks[1].id)
        sp.rollback()  # the second approval only
    with app.reader("admin") as tx:
        assert [t.id for t in flows.inbox(tx, "mia")] == [t.id for t in tasks[1:]]


@pytest.fixture
def sqlite_app(tmp_path):
    """The bench app on SQLite, the only database that holds updates back."""
    with open_app(bench.write_app(tmp_path / "bench"), f"sqlite:///{tmp_path}/held.db") as app:
        with app.transaction("alice") as tx:
            for _ in range(4):
                tx.create("claim", {"amount": 100})
        yield app


def test_a_failed_guard_fails_the_transaction(sqlite_app):
    app = sqlite_app
    flows = app.features["flows"]
    with pytest.raises(Conflict, match="was changed by someone else"):
        with app.transaction("mia") as tx:
            tasks = flows.inbox(tx)
            for t in tasks:
                flows.approve(tx, t.id)
            held = unit_of_work.of(tx.conn).held.rows
            key = next(k for k in held if k[0] == "ordo_flow_instance")
            held[key].params["k_rev"] = 99  # as if another writer had changed that instance
    with app.reader("admin") as tx:
        assert len(flows.inbox(tx, "mia")) == 4  # nothing committed
        assert [r["stage"] for r in tx.query("claim")] == ["manager"] * 4
