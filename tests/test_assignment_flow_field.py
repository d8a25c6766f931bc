"""An approval node whose approvers come from an assignment rule with a ``field``: the assignees are set on
the run's record with the fields the run sets, in one update of the record (validated, audited), not in an
update of their own. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ordo.dsl.base import KINDS
from ordo.engine import audit
from ordo.engine.stats import count_statements

from .flowkit import make_kit

pytestmark = pytest.mark.skipif("assignment" not in KINDS, reason="the assignment feature is not installed")

RULE = """
    kind: assignment
    name: approver
    entity: expense
    field: stage
    rules:
      - {strategy: round_robin, to: {role: finance}}
"""
FLOW = """
    entity: expense
    trigger: {on: create}
    nodes:
      check: {type: action, set: {title: "'checked'"}, next: ask}
      ask: {type: approval, approvers: [{assignment: approver}], next: done}
      done: {type: end}
"""


def test_the_assignee_field_is_written_with_the_runs_own_update(make_app, db_url):
    kit = make_kit(make_app, db_url, {"f": FLOW}, {"rules/approver.yaml": RULE})
    kit.expense()  # the first instance registers the flow version
    with count_statements(kit.app.engine) as counts:
        rec = kit.expense()
    updates = [t for t in counts.texts if t.lstrip().upper().startswith("UPDATE EXPENSE")]
    # one update of the record (SQLite: made to its INSERT, held while the run ran: engine/held_inserts.py)
    assert len(updates) == (0 if kit.app.engine.dialect.name == "sqlite" else 1), updates
    assert kit.get(rec)["stage"] == "fin2" and kit.get(rec)["title"] == "checked"
    assert [t["assignee"] for t in kit.status(rec).tasks] == ["fin2"]
    with kit.app.engine.connect() as conn:
        entries = audit.read(conn, entity="expense", record_id=rec["id"])
    changed = [e for e in entries if e.action == "update"]
    assert len(changed) == 1 and {"title", "stage"} <= set(changed[0].changes), changed
    kit.approve("fin2")
    assert kit.status(rec).status == "completed"
    kit.app.close()


BALANCED = RULE.replace("round_robin", "load_balance")  # the fewest open assignments


def test_an_approval_that_ended_counts_no_more_in_the_load_of_its_assignee(make_app, db_url):
    """Load balancing counts open work: the assignments an approval step's tasks came from end when the step
    ends (approved, rejected), so whoever cleared their tasks gets the next ones."""
    kit = make_kit(make_app, db_url, {"f": FLOW}, {"rules/approver.yaml": BALANCED})
    picks = []
    recs = []
    for _ in range(3):
        recs.append(kit.expense())
        picks.append(kit.status(recs[-1]).tasks[0]["assignee"])
    assert sorted(picks) == ["fin1", "fin1", "fin2"]  # each one open task more than the other, in turn
    busy = picks[2]  # two open tasks
    mine = [r for r, who in zip(recs, picks, strict=True) if who == busy]
    kit.approve(busy)  # the older task first (the inbox lists the oldest first)
    kit.reject(busy, comment="no")
    assert [kit.status(r).status for r in mine] == ["completed", "rejected"]
    nxt = kit.expense()  # the other still has an open task: the one who cleared theirs takes it
    assert kit.status(nxt).tasks[0]["assignee"] == busy
    with kit.app.reader("root") as tx:
        service = kit.app.features["assignment"]
        assert service.current(tx, "approver", "expense", recs[0]["id"]) == []
        assert service.current(tx, "approver", "expense", nxt["id"]) == [busy]
    kit.app.close()


def test_a_transferred_task_takes_its_assignment_along(make_app, db_url):
    """A task transferred to another user: the assignment it came from goes with it (the load balance counts it
    for the new assignee, no more for the old one), and the rule's field names the new assignee."""
    kit = make_kit(make_app, db_url, {"f": FLOW}, {"rules/approver.yaml": BALANCED})
    first, second = kit.expense(), kit.expense()
    was = kit.status(first).tasks[0]
    other = kit.status(second).tasks[0]["assignee"]
    assert other != was["assignee"]
    kit.run(was["assignee"], "transfer", was["id"], other, "on leave")
    assert kit.get(first)["stage"] == other
    with kit.app.reader("root") as tx:
        service = kit.app.features["assignment"]
        assert service.current(tx, "approver", "expense", first["id"]) == [other]
    nxt = [kit.expense(), kit.expense()]  # the one who handed their task on has none open: both are theirs
    assert [kit.status(r).tasks[0]["assignee"] for r in nxt] == [was["assignee"]] * 2
    with kit.app.engine.connect() as conn:
        entries = audit.read(conn, entity="expense", record_id=first["id"])
    assert any(e.action == "update" and e.changes.get("stage") == [was["assignee"], other] for e in entries)
    kit.app.close()
