"""Human actions on tasks: approve, reject (end or send back), transfer, add-sign, comment, urge,
withdraw; required comments and permission checks."""

from __future__ import annotations

import pytest

from ordo.engine import Conflict, NotFound, PermissionDenied, UsageError

from .test_flow_patterns import kit_for

TWO_STEPS = """
nodes:
  draft_check: {type: approval, approvers: [{user: carol}], next: manager}
  manager:
    type: approval
    approvers: [{field: owner.manager}]
    comment_required: [reject, transfer]
    next: done
  done: {type: end, outcome: approved}
"""


@pytest.fixture
def kit(make_app, db_url):
    k = kit_for(make_app, db_url, TWO_STEPS)
    yield k
    k.app.close()


def test_reject_ends_the_flow_with_comment(kit):
    e = kit.expense()
    kit.approve("carol")
    with pytest.raises(UsageError, match="comment is required to reject"):
        kit.reject("bob")
    kit.reject("bob", comment="receipts missing")
    st = kit.status(e)
    assert (st.status, st.outcome, kit.get(e)["stage"]) == ("rejected", "rejected", "rejected")
    rejects = [ev for ev in kit.timeline(e) if ev.action == "reject"]
    assert rejects[0].user == "bob" and rejects[0].comment == "receipts missing"


def test_reject_sends_back_to_an_earlier_node(kit):
    e = kit.expense()
    kit.approve("carol")
    with pytest.raises(UsageError, match="not an earlier node"):
        kit.reject("bob", comment="x", to="done")
    kit.reject("bob", comment="check again", to="draft_check")
    assert kit.status(e).current == ["draft_check"] and kit.inbox("carol")
    kit.approve("carol")
    kit.approve("bob")
    assert kit.status(e).outcome == "approved"
    assert ("sent_back", "manager") in kit.actions(e)


def test_transfer(kit):
    e = kit.expense()
    kit.approve("carol")
    task = kit.task("bob")
    with pytest.raises(NotFound):
        kit.run("bob", "transfer", task, "nobody", "x")
    kit.run("bob", "transfer", task, "dave", "on leave")
    assert kit.inbox("bob") == [] and kit.inbox("dave")
    with pytest.raises(Conflict):
        kit.run("bob", "approve", task)
    kit.approve("dave")
    assert kit.status(e).outcome == "approved"


def test_add_approver_before_and_after(kit):
    e = kit.expense()
    kit.run("carol", "add_approver", kit.task("carol"), "erin", "before", "erin knows this supplier")
    assert kit.inbox("carol") == [] and kit.inbox("erin")  # carol waits for erin
    kit.approve("erin")
    assert kit.inbox("carol")
    kit.run("carol", "add_approver", kit.task("carol"), "dave", "after")
    assert kit.inbox("dave") == []
    kit.approve("carol")
    assert kit.status(e).current == ["draft_check"] and kit.inbox("dave")  # dave signs after carol
    kit.approve("dave")
    assert kit.status(e).current == ["manager"]
    with pytest.raises(UsageError, match="position"):
        kit.run("bob", "add_approver", kit.task("bob"), "dave", "sideways")


def test_comment_and_urge(kit):
    e = kit.expense()
    iid = kit.status(e).instance_id
    kit.run("alice", "comment", iid, "receipt attached")
    kit.run("carol", "act", kit.task("carol"), "comment", comment="looking at it")
    with pytest.raises(PermissionDenied):
        kit.run("erin", "comment", iid, "hi")
    assert kit.run("alice", "urge", iid) == 1
    assert any(m.subject.startswith("Reminder") for m in kit.outbox("carol"))
    with pytest.raises(PermissionDenied):
        kit.run("carol", "urge", iid)
    comments = [(ev.user, ev.comment) for ev in kit.timeline(e) if ev.action == "comment"]
    assert comments == [("alice", "receipt attached"), ("carol", "looking at it")]


def test_withdraw_only_before_the_first_approval(kit):
    e1, e2 = kit.expense(), kit.expense()
    i1, i2 = kit.status(e1).instance_id, kit.status(e2).instance_id
    with pytest.raises(PermissionDenied):
        kit.run("bob", "withdraw", i1)
    kit.run("alice", "withdraw", i1, "wrong amount")
    assert kit.status(e1).status == "withdrawn" and kit.get(e1)["stage"] == "withdrawn"
    kit.run("carol", "approve", [t.id for t in kit.inbox("carol") if t.record_id == e2["id"]][0])
    with pytest.raises(Conflict, match="approved already"):
        kit.run("alice", "withdraw", i2)


def test_only_the_assignee_or_an_admin_may_act(kit):
    e = kit.expense()
    task = kit.task("carol")
    with pytest.raises(PermissionDenied, match="assigned to someone else"):
        kit.run("bob", "approve", task)
    kit.run("root", "approve", task, "admin override")
    assert kit.status(e).current == ["manager"]


def test_the_same_approver_twice_takes_effect_once(kit):
    kit.expense()
    task = kit.task("carol")
    kit.run("carol", "approve", task)
    with pytest.raises(Conflict, match="already approved by carol"):
        kit.run("carol", "approve", task)
