"""The one update of what a run kept on its record and its state skips the pipeline's link, default and
computed-field steps (flows/kept_write.py), and keeps every guarantee of a write: validation (a refused
write leaves the store unchanged), one version, one audit entry, one `update` event; a state field that a
computed field reads still goes through the whole pipeline."""

from __future__ import annotations

import datetime as dt

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.errors import ValidationFailed

T0 = dt.datetime(2026, 3, 16, 9, 0)

FLOW = """
    name: claim_flow
    entity: claim
    trigger: {on: create}
    state_field: stage
    nodes:
      screen:
        type: action
        set: {risk: "if(amount > 1000, 'high', 'low')", status: "'approved'", checked_at: "now()"}
        next: wait_here
      wait_here: {type: wait, until: "false", next: done}
      done: {type: end, outcome: done}
"""


def _files(stage_read: bool) -> dict[str, str]:
    computed = '\n          stage_label: {type: computed, expr: "upper(stage)"}' if stage_read else ""
    return {
        "entities/claim.yaml": f"""
        name: claim
        naming: "CL-{{####}}"
        fields:
          amount: {{type: money}}
          risk: {{type: enum, options: [low, high]}}
          status: {{type: enum, options: [new, approved], default: new}}
          stage: {{type: string}}
          checked_at: {{type: datetime}}{computed}
        validations:
          - expr: "status != 'approved' or risk == 'low'"
            message: "only low risk claims are approved"
            field: status
    """,
        "roles.yaml": """
        roles:
          everyone:
            permissions: [{entity: claim}]
    """,
        "flows/claim.yaml": FLOW,
    }


@pytest.fixture
def make(make_app, db_url):
    apps = []

    def open_one(stage_read: bool = False):
        a = open_app(make_app(_files(stage_read)), db_url, clock=Clock(T0))
        apps.append(a)
        return a

    yield open_one
    for a in apps:
        a.close()


def test_kept_fields_and_state_are_one_validated_audited_update(make):
    app = make()
    events = []
    app.on_write(lambda tx, e: events.append((e.entity, e.action)) if e.entity == "claim" else None)
    rec = app.create("claim", {"amount": 50}, "alice")
    assert (rec["risk"], rec["status"], rec["stage"], rec["version"]) == ("low", "approved", "wait_here", 2)
    assert rec["updated_by"] == "alice" and rec["checked_at"] is not None
    assert sorted(events) == [("claim", "create"), ("claim", "update")]  # the update inside the create's listeners
    updates = [e for e in app.audit_log(user="admin", entity="claim", record=rec["id"]) if e.action == "update"]
    assert len(updates) == 1 and {"risk", "status", "stage", "checked_at"} <= set(updates[0].changes)
    with app.reader("alice") as tx:  # what the transaction learnt is what was stored
        assert tx.get("claim", rec["id"])["version"] == 2


def test_a_refused_kept_write_leaves_the_store_unchanged(make):
    app = make()
    with pytest.raises(ValidationFailed, match="only low risk claims are approved"):
        app.create("claim", {"amount": 5000}, "alice")
    with app.reader("alice") as tx:
        assert tx.query("claim") == []


def test_a_state_field_a_computed_field_reads_takes_the_pipeline(make):
    app = make(stage_read=True)
    rec = app.create("claim", {"amount": 50}, "alice")
    assert (rec["stage"], rec["stage_label"], rec["version"]) == ("wait_here", "WAIT_HERE", 2)
