"""Flows calling the allocation and assignment features (tested when those features are installed)."""

from __future__ import annotations

import datetime as dt

import pytest

from ordo.dsl.base import KINDS
from ordo.dsl.expr import Clock
from ordo.engine import open_app

FLOW = """
name: fulfil_after_approval
entity: order
trigger: {on: create}
nodes:
  ask: {type: approval, approvers: [{user: bob}], next: reserve}
  reserve: {type: action, allocate: fulfil, next: done}
  done: {type: end, outcome: reserved}
"""


@pytest.mark.skipif("allocation" not in KINDS, reason="the allocation feature (kind 'allocation') is not installed")
def test_action_runs_an_allocation_rule_in_the_approval_transaction(make_app, db_url):
    from .allocation_apps import app_files

    app = open_app(make_app({**app_files(), "flows/fulfil.yaml": FLOW}), db_url,
                   clock=Clock(dt.datetime(2026, 3, 2, 10, 0)))
    try:
        app.create("site", {"code": "A", "priority": 1, "lat": "45", "lon": "4"}, "admin")
        app.create("product", {"code": "P1"}, "admin")
        app.create("stock", {"site": "A", "product": "P1", "on_hand": 10}, "admin")
        rec = app.create("order", {"lat": "45", "lon": "4", "lines": [{"product": "P1", "qty": 3}]}, "alice")
        assert app.query("stock", user="admin")[0]["reserved"] == 0  # nothing before the approval
        flows = app.features["flows"]
        with app.transaction("bob") as tx:
            flows.approve(tx, flows.inbox(tx)[0].id)
        assert app.query("stock", user="admin")[0]["reserved"] == 3
        with app.reader("admin") as tx:
            assert flows.status(tx, "order", rec["id"]).outcome == "reserved"
            assert "allocated" in [e.action for e in flows.timeline(tx, "order", rec["id"])]
    finally:
        app.close()


@pytest.mark.skipif("assignment" not in KINDS, reason="the assignment feature (kind 'assignment') is not installed")
def test_approvers_from_an_assignment_rule(make_app, db_url):
    from .flowkit import make_kit

    rule = """
        kind: assignment
        name: approver
        entity: expense
        rules:
          - {strategy: round_robin, to: {role: finance}}
    """
    kit = make_kit(make_app, db_url, {"f": """
        entity: expense
        trigger: {on: create}
        nodes:
          ask: {type: approval, approvers: [{assignment: approver}], next: done}
          done: {type: end}
    """}, {"rules/approver.yaml": rule})
    first, second = kit.expense(), kit.expense()
    assert [t["assignee"] for t in kit.status(first).tasks] == ["fin1"]
    assert [t["assignee"] for t in kit.status(second).tasks] == ["fin2"]
    kit.approve("fin2")
    assert kit.status(second).status == "completed" and kit.status(first).status == "running"
