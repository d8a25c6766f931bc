"""Workflow control-flow patterns (workflowpatterns.com numbering) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ordo.engine import Conflict

from .flowkit import make_kit


def kit_for(make_app, db_url, body: str):
    return make_kit(make_app, db_url, {"f": "entity: expense\ntrigger: {on: create}\nstate_field: stage\n" + body})


def test_wcp1_sequence(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  first: {type: approval, approvers: [{user: bob}], next: second}
  second: {type: approval, approvers: [{user: carol}], next: done}
  done: {type: end, outcome: approved}
""")
    e = kit.expense()
    assert kit.get(e)["stage"] == "first" and kit.inbox("carol") == []
    kit.approve("bob")
    assert kit.get(e)["stage"] == "second"
    kit.approve("carol")
    st = kit.status(e)
    assert (st.status, st.outcome, kit.get(e)["stage"]) == ("completed", "approved", "approved")
    assert [a for a, _ in kit.actions(e)] == ["start", "assigned", "approve", "approved", "assigned", "approve",
                                              "approved", "completed"]


PARALLEL = """
nodes:
  split: {type: parallel, to: [legal, finance]}
  legal: {type: approval, approvers: [{user: bob}], next: both}
  finance: {type: approval, approvers: [{role: finance}], next: both}
  both: {type: join, next: pay}
  pay: {type: action, set: {paid: "true"}, next: done}
  done: {type: end}
"""


def test_wcp2_parallel_split_and_wcp3_synchronization(make_app, db_url):
    kit = kit_for(make_app, db_url, PARALLEL)
    e = kit.expense()
    assert sorted(kit.status(e).current) == ["finance", "legal"]
    assert kit.inbox("bob") and kit.inbox("fin2")
    kit.approve("fin2")
    assert kit.status(e).current == ["legal"] and kit.get(e)["paid"] is False
    kit.approve("bob")
    assert kit.status(e).status == "completed" and kit.get(e)["paid"] is True
    assert kit.get(e)["stage"] == "done"


def test_wcp4_exclusive_choice_and_wcp5_simple_merge(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  route:
    type: condition
    branches:
      - {when: "amount > 1000", to: director}
    default: manager
  director: {type: approval, approvers: [{role: director}], next: record}
  manager: {type: approval, approvers: [{field: owner.manager}], next: record}
  record: {type: action, set: {approved_on: "today()"}, next: done}
  done: {type: end}
""")
    small, big = kit.expense(50), kit.expense(5000)
    assert kit.status(small).current == ["manager"] and kit.status(big).current == ["director"]
    kit.approve("bob")
    kit.approve("dora")
    for e in (small, big):  # both branches merge into the same action, once each
        assert kit.status(e).outcome == "done"
        assert kit.get(e)["approved_on"] is not None
        assert [a for a, n in kit.actions(e)].count("set") == 1


MULTI = """
nodes:
  choose:
    type: inclusive
    branches:
      - {when: "amount > 100", to: finance}
      - {when: "title == 'trip'", to: manager}
    default: clerk
  finance: {type: approval, approvers: [{user: fin1}], next: merge}
  manager: {type: approval, approvers: [{user: bob}], next: merge}
  clerk: {type: approval, approvers: [{user: carl}], next: merge}
  merge: {type: join, next: done}
  done: {type: end}
"""


def test_wcp6_multi_choice_and_wcp7_structured_synchronizing_merge(make_app, db_url):
    kit = kit_for(make_app, db_url, MULTI)
    both = kit.expense(500)  # both conditions hold
    one = kit.expense(50)  # only the trip condition
    none = kit.expense(50, title="taxi")  # neither: the default branch
    assert sorted(kit.status(both).current) == ["finance", "manager"]
    assert kit.status(one).current == ["manager"]
    assert kit.status(none).current == ["clerk"]
    kit.approve("fin1")
    assert kit.status(both).status == "running"  # the merge waits for the second started branch
    kit.run("bob", "approve", [t.id for t in kit.inbox("bob") if t.record_id == both["id"]][0])
    assert kit.status(both).status == "completed"
    kit.approve("bob")  # the merge of a one-branch choice does not wait for branches never started
    assert kit.status(one).status == "completed"
    kit.approve("carl")
    assert kit.status(none).status == "completed"


def test_wcp9_structured_discriminator(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  ask: {type: parallel, to: [a, b, c]}
  a: {type: approval, approvers: [{user: bob}], next: first}
  b: {type: approval, approvers: [{user: carol}], next: first}
  c: {type: approval, approvers: [{user: dave}], next: first}
  first: {type: join, wait_for: 1, next: go}
  go: {type: action, set: {approved_on: "today()"}, next: done}
  done: {type: end, terminate: false}
""")
    e = kit.expense()
    kit.approve("carol")
    assert kit.get(e)["approved_on"] is not None  # the first answer triggers the continuation
    assert sorted(kit.status(e).current) == ["a", "c"]  # the others still complete (and are absorbed)
    kit.approve("bob")
    kit.approve("dave")
    events = kit.actions(e)
    assert events.count(("set", "go")) == 1
    assert kit.status(e).status == "completed"


def test_wcp9_discriminator_can_cancel_the_rest(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  ask: {type: parallel, to: [a, b]}
  a: {type: approval, approvers: [{user: bob}], next: first}
  b: {type: approval, approvers: [{user: carol}], next: first}
  first: {type: join, wait_for: 1, cancel_remaining: true, next: done}
  done: {type: end}
""")
    e = kit.expense()
    kit.approve("bob")
    assert kit.status(e).status == "completed" and kit.inbox("carol") == []


def test_wcp14_multiple_instances_with_run_time_knowledge(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  review: {type: approval, mode: all, approvers: [{expr: "reviewers"}], next: done}
  done: {type: end}
""")
    e = kit.expense(reviewers=["carol", "dave", "erin"])  # how many approvals: known only at run time
    assert sorted(t["assignee"] for t in kit.status(e).tasks) == ["carol", "dave", "erin"]
    kit.approve("carol")
    kit.approve("erin")
    assert kit.status(e).status == "running"
    kit.approve("dave")
    assert kit.status(e).status == "completed"


def test_wcp16_deferred_choice_approval_or_timeout(make_app, db_url):
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
    quick, slow = kit.expense(), kit.expense()
    kit.run("bob", "approve", [t.id for t in kit.inbox("bob") if t.record_id == quick["id"]][0])
    assert kit.advance(days=3) == 1  # only the slow one's timer is still live
    assert kit.status(quick).outcome == "done"
    assert kit.status(slow).current == ["director"] and kit.inbox("bob") == []


def test_wcp19_cancel_task(make_app, db_url):
    kit = kit_for(make_app, db_url, PARALLEL)
    e = kit.expense()
    legal = kit.task("bob")
    kit.run("root", "cancel_task", legal, "legal review not needed")
    assert kit.status(e).current == ["finance"]
    kit.approve("fin1")
    assert kit.status(e).status == "completed"
    assert ("cancel_task", "legal") in kit.actions(e)


def test_wcp20_cancel_case(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  ask:
    type: approval
    approvers: [{user: bob}]
    timeout: {after: 1d, action: remind}
    next: done
  done: {type: end}
""")
    e = kit.expense()
    task = kit.task("bob")
    kit.run("root", "cancel", kit.status(e).instance_id, "duplicate")
    assert kit.status(e).status == "cancelled" and kit.get(e)["stage"] == "cancelled"
    assert kit.inbox("bob") == []
    assert kit.advance(days=2) == 0  # the timer went with the case
    with pytest.raises(Conflict):
        kit.run("bob", "approve", task)
