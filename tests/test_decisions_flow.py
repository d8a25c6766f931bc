"""The flow node `type: decision`: evaluates a table, writes its outputs, branches on them."""

from __future__ import annotations

import pytest

from ordo.dsl.errors import DefinitionErrors

from .flowkit import make_kit

TABLE = {"decisions/route.yaml": """
name: route
entity: expense
hit_policy: FIRST
inputs: [{name: amount}]
outputs:
  - {name: title, type: string, default: small}
rules:
  - [">= 1000", big]
  - [">= 100", medium]
"""}

FLOW = """
entity: expense
trigger: {on: create}
nodes:
  classify:
    type: decision
    decision: route
    branches:
      - {when: "title == 'big'", to: ask}
    next: done
  ask: {type: approval, approvers: [{user: bob}], next: done}
  done: {type: end, outcome: ok}
"""


def test_decision_node_writes_outputs_and_branches(make_app, db_url):
    kit = make_kit(make_app, db_url, {"f": FLOW}, TABLE)
    small = kit.expense(50)
    assert kit.get(small)["title"] == "small" and kit.status(small).outcome == "ok"
    big = kit.expense(5000)
    assert kit.get(big)["title"] == "big" and kit.status(big).status == "running"
    assert ("decided", "classify") in kit.actions(big)
    kit.approve("bob")
    assert kit.status(big).outcome == "ok"


def test_decision_node_is_checked_at_load_time(make_app, db_url):
    flow = FLOW.replace("decision: route", "decision: route\n    set: {paid: title, nope: title}")
    with pytest.raises(DefinitionErrors) as e:
        make_kit(make_app, db_url, {"f": flow}, TABLE)
    text = str(e.value)
    assert "field 'paid' (boolean) cannot hold output 'title' (string)" in text
    assert "unknown field 'nope' of expense" in text
