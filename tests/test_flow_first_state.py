"""A flow started by a create: its first state is written by the record's INSERT (engine/flows/start_state.py)
when it is known for sure before the insert; otherwise the flow mirrors it with an update, as before."""

from __future__ import annotations

import pytest

from ordo.engine import audit, open_app
from ordo.engine.errors import ValidationFailed

from .conftest import write_app

ENTITY = """
    name: claim
    naming: "CL-{####}"
    fields:
      amount: {type: money}
      stage: {type: string, max_length: 14}
"""
ROLES = """
    roles:
      manager: {users: [mia]}
      director: {users: [dan]}
      empty: {}
      admin: {users: [admin]}
      everyone:
        permissions: [{entity: claim}]
"""


def _app(tmp_path, db_url, flow: str, entity: str = ENTITY):  # noqa: ANN202
    root = write_app(tmp_path / "app", {"entities/claim.yaml": entity, "roles.yaml": ROLES, "flows/claim.yaml": flow})
    return open_app(root, db_url)


ROUTED = """
    name: claim_flow
    entity: claim
    trigger: {on: create}
    state_field: stage
    nodes:
      route:
        type: condition
        branches: [{when: "amount > 1000", to: director}]
        default: quick
      quick:
        type: approval
        approvers: [{role: manager}]
        auto_approve_if: "amount < 10"
        next: manager
      manager: {type: approval, approvers: [{role: manager}], next: done}
      director: {type: approval, approvers: [{role: director}], state: "with director", next: done}
      done: {type: end, outcome: approved}
"""


def _history(app, rec_id: int) -> list[tuple]:  # noqa: ANN001
    with app.reader("admin") as tx:
        entries = audit.read(tx.conn, entity="claim", record_id=rec_id)
    return sorted((e.action, e.changes.get("stage")) for e in entries)


@pytest.mark.parametrize(("amount", "stage", "who"), [(5, "manager", "mia"), (100, "quick", "mia"),
                                                      (5000, "with director", "dan")])
def test_first_state_in_the_insert(db_url, tmp_path, amount, stage, who):
    with _app(tmp_path, db_url, ROUTED) as app:
        flows = app.features["flows"]
        rec = app.create("claim", {"amount": amount}, "alice")
        assert rec["stage"] == stage and rec["version"] == 1
        assert _history(app, rec["id"]) == [("create", [None, stage])]
        with app.reader("admin") as tx:
            assert tx.get("claim", rec["id"])["stage"] == stage
            status = flows.status(tx, "claim", rec["id"])
            assert status.status == "running" and status.current == [stage]
            assert [e.action for e in flows.timeline(tx, "claim", rec["id"])][:1] == ["start"]
        with app.transaction(who) as tx:
            flows.approve(tx, flows.inbox(tx)[0].id)
        with app.reader("admin") as tx:
            done = tx.get("claim", rec["id"])
        if amount == 100:  # quick, then manager
            assert done["stage"] == "manager" and done["version"] == 2
        else:
            assert done["stage"] == "approved" and done["version"] == 2


def test_given_state_replaced_by_the_first_state(db_url, tmp_path):
    with _app(tmp_path, db_url, ROUTED) as app:
        rec = app.create("claim", {"amount": 5, "stage": "typed"}, "alice")
        assert rec["stage"] == "manager" and rec["version"] == 1
        assert _history(app, rec["id"]) == [("create", [None, "manager"])]


NOT_KNOWN = {
    # a condition reading the state field itself: the flow reads the record as inserted
    "reads the state": """
        name: claim_flow
        entity: claim
        trigger: {on: create}
        state_field: stage
        nodes:
          route:
            type: condition
            branches: [{when: "stage == 'typed'", to: director}]
            default: manager
          manager: {type: approval, approvers: [{role: manager}], next: done}
          director: {type: approval, approvers: [{role: director}], next: done}
          done: {type: end, outcome: approved}
    """,
    # who is asked decides: nobody in the role skips the step
    "skip without approver": """
        name: claim_flow
        entity: claim
        trigger: {on: create}
        state_field: stage
        nodes:
          nobody: {type: approval, approvers: [{role: empty}], if_no_approver: skip, next: manager}
          manager: {type: approval, approvers: [{role: manager}], next: done}
          done: {type: end, outcome: approved}
    """,
    # an action on the way (sets, effects): left to the run
    "action first": """
        name: claim_flow
        entity: claim
        trigger: {on: create}
        state_field: stage
        nodes:
          bump: {type: action, set: {amount: "amount + 1"}, next: manager}
          manager: {type: approval, approvers: [{role: manager}], next: done}
          done: {type: end, outcome: approved}
    """,
}


@pytest.mark.parametrize("case", sorted(NOT_KNOWN))
def test_not_known_before_the_insert_is_mirrored(db_url, tmp_path, case):
    with _app(tmp_path, db_url, NOT_KNOWN[case]) as app:
        rec = app.create("claim", {"amount": 5, "stage": "typed"}, "alice")
        expected = "director" if case == "reads the state" else "manager"
        assert rec["stage"] == expected and rec["version"] == 2
        assert _history(app, rec["id"]) == [("create", [None, "typed"]), ("update", ["typed", expected])]


def test_trigger_condition(db_url, tmp_path):
    flow = ROUTED.replace("trigger: {on: create}", "trigger: {on: create, when: \"amount > 50\"}")
    with _app(tmp_path, db_url, flow) as app:
        flows = app.features["flows"]
        small = app.create("claim", {"amount": 5}, "alice")
        big = app.create("claim", {"amount": 5000}, "alice")
        assert small["stage"] is None and small["version"] == 1
        assert big["stage"] == "with director" and big["version"] == 1
        with app.reader("admin") as tx:
            assert flows.status(tx, "claim", small["id"]) is None
            assert flows.status(tx, "claim", big["id"]).status == "running"


def test_a_state_the_field_refuses_fails_the_create(db_url, tmp_path):
    with _app(tmp_path, db_url, ROUTED.replace('state: "with director"', 'state: "with the director"')) as app:
        with pytest.raises(ValidationFailed, match="at most 14"):
            app.create("claim", {"amount": 5000}, "alice")
        with app.reader("admin") as tx:
            assert tx.query("claim") == []


def test_no_state_on_a_record_a_flow_creates(db_url, tmp_path):
    """A record a flow's action creates starts only flows declared ``from_flows``: none here, so no state."""
    files = {
        "entities/claim.yaml": ENTITY,
        "entities/batch.yaml": "name: batch\nfields:\n  total: {type: money}\n",
        "roles.yaml": ROLES.replace("permissions: [{entity: claim}]",
                                    "permissions: [{entity: claim}, {entity: batch}]"),
        "flows/claim.yaml": ROUTED,
        "flows/batch.yaml": """
            name: batch_flow
            entity: batch
            trigger: {on: create}
            nodes:
              make: {type: action, create: [{entity: claim, values: {amount: "total"}}], next: done}
              done: {type: end, outcome: made}
        """,
    }
    with open_app(write_app(tmp_path / "app", files), db_url) as app:
        flows = app.features["flows"]
        app.create("batch", {"total": 5}, "alice")
        with app.reader("admin") as tx:
            made = tx.query("claim")
            assert len(made) == 1 and made[0]["stage"] is None and made[0]["version"] == 1
            assert flows.status(tx, "claim", made[0]["id"]) is None
