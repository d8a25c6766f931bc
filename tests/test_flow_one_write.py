"""A flow run writes its own record once: the `set`s of the action nodes it passes and the state it
rests in are one record update (one version, one audit entry, one `update` event), and the run's
conditions see the values set before they are written."""

from __future__ import annotations

import datetime as dt

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import open_app

T0 = dt.datetime(2026, 3, 16, 9, 0)

APP = {
    "entities/claim.yaml": """
        name: claim
        naming: "CL-{####}"
        fields:
          amount: {type: money}
          risk: {type: enum, options: [low, high]}
          status: {type: enum, options: [new, screened, approved], default: new}
          stage: {type: string}
          checked_at: {type: datetime}
          doubled: {type: computed, expr: "amount * 2"}
        validations:
          - expr: "status != 'approved' or risk == 'low'"
            message: "only low risk claims are approved"
            field: status
    """,
    "roles.yaml": """
        roles:
          manager: {users: [mia]}
          everyone:
            permissions: [{entity: claim}]
    """,
    "flows/claim.yaml": """
        name: claim_flow
        entity: claim
        trigger: {on: create}
        state_field: stage
        nodes:
          screen:
            type: action
            set: {risk: "if(amount > 1000, 'high', 'low')", checked_at: "now()"}
            next: route
          route:
            type: condition
            branches: [{when: "risk == 'high'", to: review}]
            default: approve
          approve:
            type: action
            set: {status: "'approved'"}
            next: done
          review:
            type: approval
            approvers: [{role: manager}]
            next: screened
          screened:
            type: action
            set: {status: "'screened'"}
            next: done
          done: {type: end, outcome: done}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url, clock=Clock(T0))
    yield a
    a.close()


def test_a_run_sets_and_shows_its_state_in_one_update(app):
    rec = app.create("claim", {"amount": 50}, "alice")
    assert (rec["risk"], rec["status"], rec["stage"], rec["doubled"]) == ("low", "approved", "done", 100)
    assert rec["checked_at"] is not None
    assert rec["version"] == 2  # created, then one update by the run: both sets and the state
    entries = app.audit_log(user="admin", entity="claim", record=rec["id"])
    updates = [e for e in entries if e.action == "update"]
    assert len(updates) == 1
    assert {"risk", "status", "stage", "checked_at"} <= set(updates[0].changes)


def test_a_condition_after_a_set_sees_the_value_set(app):
    rec = app.create("claim", {"amount": 5000}, "alice")
    assert (rec["risk"], rec["status"], rec["version"]) == ("high", "new", 2)  # went to review, not approve
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        flows.approve(tx, flows.inbox(tx)[0].id)
    rec = app.get("claim", rec["id"], "alice")
    assert (rec["status"], rec["stage"], rec["version"]) == ("screened", "done", 3)



SPLIT = {
    "entities/ticket.yaml": "name: ticket\nfields:\n  title: {type: string}\n  stage: {type: string}\n",
    "roles.yaml": "roles:\n  manager: {users: [mia]}\n  everyone:\n    permissions: [{entity: ticket}]\n",
    "flows/ticket.yaml": """
        name: ticket_flow
        entity: ticket
        trigger: {on: create}
        state_field: stage
        nodes:
          both: {type: parallel, to: [review, watch]}
          review: {label: Review, type: approval, approvers: [{role: manager}], next: joined}
          watch: {label: Watch, type: wait, until: "title == 'stop'", next: joined}
          joined: {type: join, wait_for: 1, cancel_remaining: true, next: done}
          done: {type: end, outcome: done}
    """,
}


def test_a_new_instance_resting_in_a_parallel_split_is_inserted_showing_both_branches(make_app, db_url):
    """The instance row is inserted with the state of every branch that rests where it was split to (not
    inserted with the first branch's, then updated)."""
    from ordo.engine.stats import count_statements

    a = open_app(make_app(SPLIT), db_url, clock=Clock(T0))
    try:
        with count_statements(a.engine) as counts:
            rec = a.create("ticket", {"title": "x"}, "alice")
        assert not [t for t in counts.texts if t.lstrip().upper().startswith("UPDATE ORDO_FLOW_INSTANCE")]
        assert rec["stage"] == "review, watch"
        with a.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current FROM ordo_flow_instance").scalar() == "review, watch"
    finally:
        a.close()
