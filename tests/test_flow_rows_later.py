"""New flow instances and tokens after a transaction's first: ids taken ahead, rows written at commit."""

from __future__ import annotations

import datetime as dt

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.stats import count_statements

T0 = dt.datetime(2026, 3, 16, 9, 0)
APP = {
    "entities/ticket.yaml": "name: ticket\nfields:\n  title: {type: string}\n  stage: {type: string}\n",
    "roles.yaml": "roles:\n  manager: {users: [mia]}\n  everyone:\n    permissions: [{entity: ticket}]\n",
    "flows/ticket.yaml": """
        name: ticket_flow
        entity: ticket
        trigger: {on: create}
        state_field: stage
        nodes:
          check: {type: wait, until: "title == 'quick'", next: review, timeout: {after: 1h, to: review}}
          review: {type: approval, approvers: [{role: manager}], next: done}
          done: {type: end, outcome: done}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url, clock=Clock(T0))
    yield a
    a.close()


def _inserts(counts, table):
    return [t for t in counts.texts if t.lstrip().upper().startswith(f"INSERT INTO {table.upper()}")]


def test_many_starts_in_one_transaction_write_their_instances_and_tokens_at_commit(app):
    flows = app.features["flows"]
    with count_statements(app.engine) as counts, app.transaction("alice") as tx:
        ids = [tx.create("ticket", {"title": "quick" if i % 2 else "slow"})["id"] for i in range(6)]
        assert [flows.status(tx, "ticket", i).current for i in ids[:2]] == [["check"], ["review"]]  # read: flushed
        for _ in range(6, 9):
            ids.append(tx.create("ticket", {"title": "slow"})["id"])
    # the first at once, the next five buffered and written when the status is read, the last three at commit
    assert len(_inserts(counts, "ordo_flow_instance")) == len(_inserts(counts, "ordo_flow_token")) == 3
    with app.transaction("mia") as tx:
        tasks = flows.inbox(tx)
        assert len(tasks) == 3
        flows.approve(tx, tasks[0].id)
        rows = tx.conn.exec_driver_sql("SELECT id, instance_id, node, status FROM ordo_flow_token ORDER BY id").all()
        insts = tx.conn.exec_driver_sql("SELECT id, record_id, current FROM ordo_flow_instance ORDER BY id").all()
    assert len(insts) == 9 and len({r[0] for r in rows}) == len(rows) == 9
    assert [r[1] for r in insts] == ids and [r[2] for r in insts] == ["check", ""] + ["check", "review"] * 2 + [
        "check"] * 3  # the first quick one approved
    with app.engine.connect() as conn:
        jobs = conn.exec_driver_sql("SELECT count(*) FROM ordo_job WHERE status = 'pending'").scalar()
    assert jobs == 6  # the slow ones' timers


def test_a_savepoint_rolled_back_drops_its_instances_and_later_ones_get_ids_past_the_rest(app):
    with app.transaction("alice") as tx:
        tx.create("ticket", {"title": "a"})
        tx.create("ticket", {"title": "b"})  # buffered
        with pytest.raises(RuntimeError), tx.conn.begin_nested():
            tx.create("ticket", {"title": "c"})
            raise RuntimeError
        tx.create("ticket", {"title": "d"})
        tx.create("ticket", {"title": "e"})
    with app.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT t.title FROM ordo_flow_instance i JOIN ticket t ON t.id = i.record_id ORDER BY i.id").all()
        tokens = conn.exec_driver_sql("SELECT count(*) FROM ordo_flow_token").scalar()
    assert [r[0] for r in rows] == ["a", "b", "d", "e"] and tokens == 4


def test_tasks_after_the_first_are_written_at_commit_and_read_by_the_inbox_in_the_same_transaction(app):
    flows = app.features["flows"]
    with count_statements(app.engine) as counts, app.transaction("mia") as tx:
        ids = [tx.create("ticket", {"title": "quick"})["id"] for _ in range(4)]
        assert sorted(t.record_id for t in flows.inbox(tx)) == ids  # the buffered tasks written first
        flows.approve(tx, flows.inbox(tx)[0].id)
        assert len(flows.inbox(tx)) == 3
    assert len(_inserts(counts, "ordo_flow_task")) == 2  # the first at once, the next three in one executemany
    with app.transaction("mia") as tx:
        assert [t.record_id for t in flows.inbox(tx)] == ids[1:]
        assert flows.status(tx, "ticket", ids[0]).outcome == "done"
