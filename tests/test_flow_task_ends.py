"""Timeouts with a condition and escalation to people named like approvers; every task that ends has a
timeline entry with its real outcome."""

from __future__ import annotations

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app

from .flowkit import ENTITIES, make_kit


def kit_for(make_app, db_url, body: str):
    return make_kit(make_app, db_url, {"f": "entity: expense\ntrigger: {on: create}\nstate_field: stage\n" + body})


ESCALATE = """
nodes:
  ask:
    type: approval
    approvers: [{user: carol}]
    timeout:
      - {after: 1d, action: escalate, field: owner.manager, when: "amount > 100"}
      - {after: 3d, action: escalate, role: director}
    next: done
  done: {type: end, outcome: approved}
"""


def test_escalate_to_a_person_named_by_a_field_when_the_condition_holds(make_app, db_url):
    kit = kit_for(make_app, db_url, ESCALATE)
    big, small = kit.expense(500), kit.expense(50)
    kit.advance(days=1, hours=1)
    assert [t.record_id for t in kit.inbox("bob")] == [big["id"]]  # owner.manager of E1 is bob
    assert [t.record_id for t in kit.inbox("carol")] == [small["id"]]  # the condition did not hold
    assert ("timeout_skipped", "ask") in kit.actions(small)
    events = {e.action: e for e in kit.timeline(big)}
    assert events["task_cancelled"].detail["reason"] == "escalated to bob after 1d"
    assert events["escalate"].detail["assignee"] == "bob"
    kit.advance(days=2)  # the second timeout has no condition: both go to the director role
    assert sorted(t.record_id for t in kit.inbox("dora")) == sorted([big["id"], small["id"]])
    kit.approve("dora")
    kit.approve("dora")
    assert kit.status(big).outcome == kit.status(small).outcome == "approved"


def test_escalation_people_and_conditions_are_checked_at_load_time(make_app):
    bad = ESCALATE.replace("field: owner.manager", "field: owner.manger").replace(
        'when: "amount > 100"', 'when: "amount"').replace("role: director", "role: directors")
    bad += """
  other:
    type: approval
    approvers: [{user: carol}]
    timeout: [{after: 1d, action: escalate, user: bob, role: director}]
    next: done
  third:
    type: approval
    approvers: [{user: carol}]
    timeout: [{after: 2d, action: remind, user: bob}]
    next: done
"""
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app({**ENTITIES, "flows/f.yaml": "name: f\nentity: expense\n" + bad}))
    text = str(e.value)
    assert "f.yaml:" in text
    assert "unknown field 'manger' in employee (did you mean 'manager'?)" in text
    assert "timeout[0].when: expected boolean" in text
    assert "unknown role 'directors'" in text
    assert "exactly one of role, user, field, expr or assignment (got role, user)" in text
    assert "'user' applies to 'escalate' timeouts only" in text


PARALLEL = """
nodes:
  split: {type: parallel, to: [legal, finance]}
  legal: {type: approval, approvers: [{user: bob}], next: both}
  finance: {type: approval, approvers: [{role: finance}], next: both}
  both: {type: join, next: done}
  done: {type: end, outcome: approved}
"""


def cancelled(kit, rec) -> list[tuple[str | None, str]]:
    return [(e.node, e.detail["reason"]) for e in kit.timeline(rec) if e.action == "task_cancelled"]


def tasks(kit, rec) -> list[tuple[str, str, str | None]]:
    inst = kit.status(rec).instance_id
    return [(t["node"], t["status"], t["acted_by"]) for t in kit.run("root", "tasks", inst, None)]


def test_reject_cancels_the_sibling_branch_task_with_a_timeline_entry(make_app, db_url):
    kit = kit_for(make_app, db_url, PARALLEL)
    e = kit.expense()
    kit.reject("bob", comment="no")
    assert cancelled(kit, e) == [("finance", "flow rejected: no")]
    assert tasks(kit, e) == [("legal", "rejected", "bob"), ("finance", "cancelled", None)]


def test_send_back_cancels_the_sibling_branch_task_with_a_timeline_entry(make_app, db_url):
    kit = kit_for(make_app, db_url, PARALLEL.replace("split: {", "start: {type: approval, approvers: "
                                                     "[{user: carol}], next: split}\n  split: {"))
    e = kit.expense()
    kit.approve("carol")
    kit.reject("bob", to="start")
    assert cancelled(kit, e) == [("finance", "legal was sent back to start")]
    assert kit.status(e).current == ["start"]


def test_withdraw_and_goto_cancel_the_open_task_with_a_timeline_entry(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  ask:
    type: approval
    approvers: [{user: bob}]
    timeout: {after: 2d, action: goto, to: director}
    next: done
  director: {type: approval, approvers: [{role: director}], next: done}
  done: {type: end}
""")
    e = kit.expense()
    kit.advance(days=3)
    assert cancelled(kit, e) == [("ask", "timed out after 2d: the flow went to director")]
    kit.run("alice", "withdraw", kit.status(e).instance_id, "not needed")
    assert cancelled(kit, e)[1:] == [("director", "flow withdrawn: not needed")]
    assert tasks(kit, e) == [("ask", "cancelled", None), ("director", "cancelled", None)]


def test_a_step_whose_tasks_were_cancelled_is_not_shown_as_approved(make_app, db_url):
    kit = kit_for(make_app, db_url, PARALLEL)
    e = kit.expense()
    kit.run("root", "cancel_task", kit.task("bob"), "legal review not needed")
    kit.approve("fin1")
    actions = kit.actions(e)
    assert ("skipped", "legal") in actions and ("approved", "legal") not in actions
    assert ("approved", "finance") in actions
    assert tasks(kit, e) == [("legal", "cancelled", "root"), ("finance", "approved", "fin1")]


def test_any_mode_other_pending_tasks_end_with_an_entry(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  ask: {type: approval, approvers: [{user: bob}, {user: carol}], next: done}
  done: {type: end}
""")
    e = kit.expense()
    kit.approve("bob")
    assert cancelled(kit, e) == [("ask", "not needed: ask was approved")]
    assert sorted(tasks(kit, e)) == [("ask", "approved", "bob"), ("ask", "cancelled", None)]
