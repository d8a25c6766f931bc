"""Each node kind of a flow, through the engine API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from ordo.engine import PermissionDenied

from .flowkit import make_kit
from .test_flow_patterns import kit_for


def approval(extra: str, approvers: str = "[{role: finance}]") -> str:
    return f"""
nodes:
  ask:
    type: approval
    approvers: {approvers}
{extra}
    next: done
  done: {{type: end, outcome: approved}}
"""


def test_mode_any_role_task_one_member_decides(make_app, db_url):
    kit = kit_for(make_app, db_url, approval("    mode: any"))
    e = kit.expense()
    assert kit.task("fin1") == kit.task("fin2")  # one task for the role: either member may act
    kit.approve("fin2")
    assert kit.status(e).outcome == "approved" and kit.inbox("fin1") == []
    with pytest.raises(PermissionDenied):
        kit2 = kit.expense()
        kit.run("bob", "approve", kit.status(kit2).tasks[0]["id"])


def test_mode_all_countersign(make_app, db_url):
    kit = kit_for(make_app, db_url, approval("    mode: all", "[{role: finance}, {user: bob}]"))
    e = kit.expense()
    assert sorted(t["assignee"] for t in kit.status(e).tasks) == ["bob", "fin1", "fin2"]
    kit.approve("fin1")
    kit.approve("bob")
    assert kit.status(e).status == "running"
    kit.approve("fin2")
    assert kit.status(e).outcome == "approved"


def test_mode_all_two_of_three(make_app, db_url):
    kit = kit_for(make_app, db_url, approval("    mode: all\n    min_approvals: 2",
                                             "[{user: bob}, {user: carol}, {user: dave}]"))
    e = kit.expense()
    kit.reject("carol", comment="no")
    assert kit.status(e).status == "running"  # 2 of the remaining 2 can still approve
    kit.approve("bob")
    kit.approve("dave")
    assert kit.status(e).outcome == "approved"
    e2 = kit.expense()
    kit.reject("carol")
    kit.reject("bob")  # now 2 approvals are impossible
    assert kit.status(e2).status == "rejected" and kit.inbox("dave") == []


def test_mode_sequential(make_app, db_url):
    kit = kit_for(make_app, db_url, approval("    mode: sequential", "[{user: carol}, {user: bob}]"))
    e = kit.expense()
    assert kit.inbox("bob") == [] and kit.inbox("carol")
    kit.approve("carol")
    assert kit.inbox("bob") and kit.status(e).status == "running"
    kit.approve("bob")
    assert kit.status(e).outcome == "approved"


def test_auto_approve_if(make_app, db_url):
    kit = kit_for(make_app, db_url, approval("    auto_approve_if: \"amount < 10\""))
    small, big = kit.expense(5), kit.expense(50)
    assert kit.status(small).outcome == "approved" and ("auto_approved", "ask") in kit.actions(small)
    assert kit.status(big).status == "running"


@pytest.mark.parametrize("policy,status,outcome", [("skip", "completed", "approved"),
                                                   ("approve", "completed", "approved"),
                                                   ("reject", "rejected", "rejected")])
def test_empty_approver_policies(make_app, db_url, policy, status, outcome):
    kit = kit_for(make_app, db_url, approval(f"    if_no_approver: {policy}", "[{expr: \"title\"}]"))
    e = kit.expense(title=None)
    st = kit.status(e)
    assert (st.status, st.outcome) == (status, outcome)


def test_empty_approver_goes_to_role_or_fails(make_app, db_url):
    kit = kit_for(make_app, db_url, approval("    if_no_approver: {role: director}", "[{expr: \"title\"}]"))
    e = kit.expense(title=None)
    assert kit.status(e).tasks[0]["assignee_role"] == "director"
    kit2 = kit_for(make_app, db_url, approval("", "[{expr: \"title\"}]"))
    from ordo.engine.flows import FlowFailed

    with pytest.raises(FlowFailed, match="no approver for node 'ask'"):
        kit2.expense(title=None)
    assert kit2.app.count("expense", user="root") == 1  # the second create was rolled back with the flow


def test_same_approver_twice_in_a_row_is_skipped(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  one: {type: approval, approvers: [{user: bob}], next: two}
  two: {type: approval, approvers: [{field: owner.manager}], skip_same_approver: true, next: done}
  done: {type: end}
""")
    e = kit.expense()
    kit.approve("bob")
    assert kit.status(e).status == "completed" and kit.inbox("bob") == []
    assert ("auto_approved", "two") in kit.actions(e)


def test_timeouts_remind_escalate_and_overdue(make_app, db_url):
    kit = kit_for(make_app, db_url, approval(
        "    timeout:\n      - {after: 4h, action: remind}\n      - {after: 1d, action: escalate, role: director}",
        "[{user: bob}]"))
    e = kit.expense()
    assert kit.inbox("bob")[0].overdue is False
    kit.advance(hours=5)
    assert kit.inbox("bob")[0].overdue is True
    assert any(m.subject.startswith("Reminder") for m in kit.outbox("bob"))
    kit.advance(hours=20)
    assert kit.inbox("bob") == [] and kit.inbox("dora")[0].role == "director"
    kit.approve("dora")
    assert kit.status(e).outcome == "approved"
    assert [a for a, _ in kit.actions(e) if a in ("remind", "escalate")] == ["remind", "escalate"]


@pytest.mark.parametrize("action,status", [("approve", "completed"), ("reject", "rejected")])
def test_timeout_auto_decides(make_app, db_url, action, status):
    kit = kit_for(make_app, db_url, approval(f"    timeout: {{after: 2h, action: {action}}}", "[{user: bob}]"))
    e = kit.expense()
    kit.advance(hours=1)
    assert kit.status(e).status == "running"
    kit.advance(hours=1)
    assert kit.status(e).status == status


def test_action_sets_fields_creates_record_calls_webhook_and_notifies(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  act:
    type: action
    set: {approved_on: "today()", title: "title + ' (ok)'"}
    create: {entity: payment, values: {expense: "id", amount: "amount * 2"}}
    webhook: {url: "https://hooks.example.com/paid", body: {total: "amount"}}
    notify: {to: [{user: carol}], subject: "Paid {name} ({amount})", channel: email}
    next: done
  done: {type: end}
""")
    e = kit.expense(40)
    rec = kit.get(e)
    assert rec["title"] == "trip (ok)" and rec["approved_on"].isoformat() == "2026-03-16"
    payments = kit.app.query("payment", user="root")
    assert len(payments) == 1 and payments[0]["amount"] == 80 and payments[0]["expense"] == e["id"]
    hook = kit.outbox("https://hooks.example.com/paid")[0]
    assert hook.channel == "webhook" and hook.payload["total"] == "40.00" or hook.payload["total"] == 40
    assert json.loads(hook.body)["name"] == e["name"]
    mail = kit.outbox("carol@example.com")[0]
    assert mail.channel == "email" and mail.subject == f"Paid {e['name']} (40.00)"


def test_cc_notifies_without_blocking(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  tell: {type: cc, to: [{role: finance}], subject: "FYI {name}", next: ask}
  ask: {type: approval, approvers: [{user: bob}], next: done}
  done: {type: end}
""")
    e = kit.expense()
    assert kit.status(e).current == ["ask"]
    assert [m.subject for m in kit.outbox("fin1")] == [f"FYI {e['name']}"]
    assert kit.inbox("fin1") == []


def test_wait_until_condition_or_timer(make_app, db_url):
    kit = kit_for(make_app, db_url, """
nodes:
  hold:
    type: wait
    until: "paid"
    timeout: {after: 7d, to: late}
    next: done
  late: {type: end, outcome: unpaid}
  done: {type: end, outcome: paid}
""")
    a, b = kit.expense(), kit.expense()
    assert kit.get(a)["stage"] == "hold"
    kit.app.update("expense", a["id"], {"paid": True}, "alice")
    assert kit.status(a).outcome == "paid"
    assert kit.advance(days=8) == 1
    assert kit.status(b).outcome == "unpaid" and kit.get(b)["stage"] == "unpaid"


def test_start_on_update_when_condition_becomes_true_and_manual(make_app, db_url):
    kit = make_kit(make_app, db_url, {
        "on_paid": """
            entity: expense
            trigger: {on: update, when: "paid"}
            nodes:
              ask: {type: approval, approvers: [{user: bob}], next: done}
              done: {type: end}
        """,
        "manual": """
            entity: expense
            nodes:
              ask: {type: approval, approvers: [{user: carol}], next: done}
              done: {type: end}
        """})
    e = kit.expense()
    assert kit.status(e) is None
    kit.app.update("expense", e["id"], {"title": "x"}, "alice")
    assert kit.status(e) is None
    kit.app.update("expense", e["id"], {"paid": True}, "alice")
    assert kit.status(e).flow == "on_paid"
    kit.app.update("expense", e["id"], {"title": "y"}, "alice")  # already running: not started twice
    iid = kit.run("alice", "start", "manual", e["name"])
    assert len(kit.run("root", "instances", "expense", e["id"])) == 2 and iid
    kit.app.delete("expense", e["id"], "root")  # deleting the record cancels its flows
    assert kit.inbox("bob") == [] and kit.inbox("carol") == []


def test_running_instance_stays_on_its_version(make_app, db_url, tmp_path):
    v1 = approval("", "[{user: bob}]").replace("next: done", "next: done")
    kit = kit_for(make_app, db_url, "version: 1\n" + v1)
    e = kit.expense()
    root = kit.app.definition.root
    flow_file = root / "flows" / "f.yaml"
    flow_file.write_text(flow_file.read_text().replace("version: 1", "version: 2")
                         .replace("{user: bob}", "{user: carol}"))
    from ordo.engine import open_app

    app2 = open_app(root, db_url, clock=kit.clock)
    kit2 = type(kit).__new__(type(kit))
    kit2.app, kit2.clock, kit2.flows = app2, kit.clock, app2.features["flows"]
    new = kit2.expense()
    assert kit2.inbox("bob")[0].record_id == e["id"]  # the old instance still asks bob
    assert kit2.inbox("carol")[0].record_id == new["id"]
    kit2.approve("bob")
    assert kit2.status(e).outcome == "approved"
    assert [ev.detail.get("version") for ev in kit2.timeline(e) if ev.action == "start"] == [1]
