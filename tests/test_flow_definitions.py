"""Invalid flows are rejected at load time with file:line:column."""

from __future__ import annotations

import pytest

from ordo.dsl.loader import validate_app

from .flowkit import ENTITIES


def errors(make_app, flow: str) -> list[str]:
    root = make_app({**ENTITIES, "flows/f.yaml": flow})
    return [str(e) for e in validate_app(root)]


GOOD = """
name: f
entity: expense
nodes:
  ask: {type: approval, approvers: [{field: owner.manager}], next: done}
  done: {type: end}
"""


def test_a_good_flow_loads(make_app):
    assert errors(make_app, GOOD) == []


@pytest.mark.parametrize("body,line,col,message", [
    ("""
nodes:
  ask: {type: approval, approvers: [{user: bob}], next: done}
  orphan: {type: approval, approvers: [{user: bob}], next: done}
  done: {type: end}
""", 5, 3, "node 'orphan' is unreachable"),
    ("""
nodes:
  ask: {type: approval, approvers: [{user: bob}]}
  done: {type: end}
""", 4, 3, "dead end: node 'ask' has no 'next'"),
    ("""
nodes:
  ask: {type: approval, approvers: [{user: bob}], next: again}
  again: {type: approval, approvers: [{user: bob}], next: ask}
  done: {type: end}
""", 4, 3, "no end node can be reached from node 'ask'"),
    ("""
nodes:
  ask: {type: approval, approvers: [{field: owner.boss}], next: done}
  done: {type: end}
""", 4, 45, "unknown field 'boss' in employee"),
    ("""
nodes:
  route:
    type: condition
    branches:
      - {when: "amount > 10", to: done}
  done: {type: end}
""", 7, 7, "node 'route' can fall through"),
    ("""
nodes:
  ask: {type: approval, approvers: [{role: directr}], next: done}
  done: {type: end}
""", 4, 44, "unknown role 'directr' (did you mean 'director'?)"),
    ("""
nodes:
  ask: {type: approval, approvers: [{user: bob}], next: dne}
  done: {type: end}
""", 4, 57, "unknown node 'dne' (did you mean 'done'?)"),
    ("""
nodes:
  check:
    type: condition
    branches:
      - {when: "amount > 'x'", to: done}
    default: done
  done: {type: end}
""", 7, 24, "cannot compare"),
    ("""
nodes:
  pay: {type: action, set: {amount: "'lots'"}, next: done}
  done: {type: end}
""", 4, 38, "expected decimal"),
    ("""
nodes:
  ask: {type: approval, approvers: [{user: bob}], timeout: {after: 4 hours}, next: done}
  done: {type: end}
""", 4, 68, "invalid duration"),
])
def test_invalid_flows_are_reported_with_position(make_app, body, line, col, message):
    found = errors(make_app, "name: f\nentity: expense\n" + body.lstrip("\n"))
    assert any(message in e for e in found), found
    located = [e for e in found if message in e][0]
    assert located.startswith(f"app0/flows/f.yaml:{line}:{col}:") or f"f.yaml:{line}:{col}:" in located, located


def test_enum_state_field_must_hold_every_state(make_app):
    entities = dict(ENTITIES)
    entities["entities/expense.yaml"] = entities["entities/expense.yaml"].replace(
        "stage: {type: string}", "stage: {type: enum, options: [ask, done]}")
    root = make_app({**entities, "flows/f.yaml": GOOD + "state_field: stage\n"})
    found = [str(e) for e in validate_app(root)]
    assert any("lacks options the flow writes: rejected, withdrawn, cancelled" in e for e in found), found


def test_allocation_and_assignment_rules_are_checked(make_app):
    found = errors(make_app, """
name: f
entity: expense
nodes:
  ask: {type: approval, approvers: [{assignment: nobody_rule}], next: pay}
  pay: {type: action, allocate: no_such_rule, next: done}
  done: {type: end}
""")
    joined = "\n".join(found)
    assert "nobody_rule" in joined and "no_such_rule" in joined
