"""Instances read ahead for the actions of a transaction that read its inbox (flows/ahead.py): what an action
gets is what a load at that moment reads, whatever the transaction did to the instance meanwhile."""

from __future__ import annotations

import pytest

from ordo.engine import open_app
from ordo.engine.errors import Conflict
from ordo.engine.stats import count_statements

from .test_statement_budgets_flows import bench


@pytest.fixture
def app(db_url, tmp_path):
    with open_app(bench.write_app(tmp_path / "bench"), db_url) as app:
        with app.transaction("alice") as tx:
            for _ in range(12):  # twelve claims for mia (amount 100: the manager approves)
                tx.create("claim", {"amount": 100})
        yield app


def test_inbox_then_every_task_approved(app):
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        tasks = flows.inbox(tx)
        assert len(tasks) == 12
        for t in tasks:
            flows.approve(tx, t.id)
    with app.reader("admin") as tx:
        assert not flows.inbox(tx, "mia")
        for t in tasks:
            assert flows.status(tx, "claim", t.record_id).outcome == "approved"
            assert tx.load("claim", t.record_id)["stage"] == "approved"


def test_reads_ahead_in_one_statement_on_sqlite(app):
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        tasks = flows.inbox(tx)
        with count_statements(app.engine) as counts:
            for t in tasks[:8]:
                flows.approve(tx, t.id)
    loads = [s for s in counts.texts if s.startswith("SELECT ordo_flow_instance.id, ordo_flow_instance.flow")]
    assert len(loads) == (1 if app.engine.dialect.name == "sqlite" else 8)


def test_an_action_meanwhile_is_seen(app):
    """The instance of a task read ahead and then cancelled, or its task rejected, in the same transaction:
    the next action on it finds it so."""
    flows = app.features["flows"]
    with app.transaction("admin") as tx:
        tasks = flows.inbox(tx, "mia")
        flows.approve(tx, tasks[0].id)  # reads the first ones ahead
        flows.cancel(tx, tasks[1].instance_id, "no")  # one read ahead, not yet acted on
        flows.reject(tx, tasks[2].id, "no")
        with pytest.raises(Conflict):
            flows.approve(tx, tasks[1].id)
    with app.transaction("admin") as tx:
        tasks = flows.inbox(tx, "mia")
        flows.approve(tx, tasks[0].id)
        flows.reject(tx, tasks[1].id, "no")
        with pytest.raises(Conflict):
            flows.approve(tx, tasks[1].id)
    with app.transaction("admin") as tx:
        tasks = flows.inbox(tx, "mia")
        flows.approve(tx, tasks[0].id)
        with pytest.raises(Conflict):
            flows.approve(tx, tasks[0].id)  # twice in one transaction
    assert len(_open(app)) == 12 - 3 - 2 - 1  # a Conflict fails the action, not what the transaction did before


def _open(app) -> list:
    with app.reader("admin") as tx:
        return app.features["flows"].inbox(tx, "mia")


def test_record_written_meanwhile(app):
    """The record read with an instance ahead, then written by the transaction: the flow sees the write."""
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        tasks = flows.inbox(tx)
        flows.approve(tx, tasks[0].id)
        tx.update("claim", tasks[1].record_id, {"amount": 7})
        flows.approve(tx, tasks[1].id)
    with app.reader("admin") as tx:
        rec = tx.load("claim", tasks[1].record_id)
        assert (rec["amount"], rec["stage"], rec["version"]) == (7, "approved", 3)


def test_savepoint_rolled_back(app):
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        tasks = flows.inbox(tx)
        sp = tx.conn.begin_nested()
        flows.approve(tx, tasks[0].id)
        sp.rollback()
        flows.approve(tx, tasks[0].id)
        flows.approve(tx, tasks[1].id)
    assert len(_open(app)) == 10
