"""Decision tables: cells, every hit policy, load-time checks (positions, overlaps, gaps)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordo.dsl.decision_build import build_table
from ordo.dsl.decision_cells import parse_cell
from ordo.dsl.decision_table import DecisionError
from ordo.dsl.errors import DefinitionErrors, ExpressionError
from ordo.dsl.loader import load_app

ORDER = """
    name: order
    fields:
      amount: {type: money}
      channel: {type: enum, options: [web, store, phone]}
      level: {type: enum, options: [normal, vip, gold]}
      rush: {type: boolean}
"""


def table(make_app, decision: str, name: str | None = None):
    app = load_app(make_app({"entities/order.yaml": ORDER, "decisions/d.yaml": decision}))
    d = app.all("decision")[0]
    return build_table(d, app.schema)


def errors(make_app, decision: str) -> str:
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app({"entities/order.yaml": ORDER, "decisions/d.yaml": decision}))
    return str(e.value)


SCORE = """
    name: score
    entity: order
    hit_policy: {policy}
    inputs:
      - {{name: amount}}
      - {{name: level}}
    outputs:
      - {{name: points, type: integer{values}}}
    rules:
      - ["< 1000", "-", 1]
      - ["[1000..5000)", "-", 2]
      - ["-", "vip, gold", 3]
      - [">= 5000", "-", 4]
"""


def score(make_app, policy: str, values: str = ""):
    return table(make_app, SCORE.format(policy=policy, values=values))


def test_cells_parse_to_tests():
    assert parse_cell("-").any and parse_cell("").any
    c = parse_cell('not("X", "Y")')
    assert c.negated and [t.shape for t in c.tests] == [("eq", '"X"'), ("eq", '"Y"')]
    assert parse_cell("[1..5)").tests[0].shape == ("range", "1", True, "5", False)
    assert parse_cell("]1..5[").tests[0].shape == ("range", "1", False, "5", False)
    assert parse_cell("null").tests[0].shape == ("null",)
    assert parse_cell("? > 3 and len(\"?\") > 0").tests[0].expr == '_ > 3 and len("?") > 0'
    with pytest.raises(ExpressionError) as e:
        parse_cell("1, , 2")
    assert e.value.column == 3


def test_first_and_rule_order_and_collect(make_app):
    o = {"amount": Decimal("1500"), "level": "vip"}
    assert score(make_app, "FIRST").evaluate(o) == 2
    assert score(make_app, "RULE ORDER").evaluate(o) == [2, 3]
    assert score(make_app, "COLLECT").evaluate(o) == [2, 3]
    assert score(make_app, "C+").evaluate(o) == 5
    assert score(make_app, "C<").evaluate(o) == 2
    assert score(make_app, "C>").evaluate(o) == 3
    assert score(make_app, "C#").evaluate(o) == 2
    none = {"amount": None, "level": "normal"}
    assert score(make_app, "C#").evaluate(none) == 0
    assert score(make_app, "C+").evaluate(none) is None
    assert score(make_app, "COLLECT").evaluate(none) == []


def test_priority_and_output_order_follow_the_values(make_app):
    o = {"amount": Decimal("1500"), "level": "vip"}
    assert score(make_app, "PRIORITY", ", values: [3, 2, 1, 4]").evaluate(o) == 3
    assert score(make_app, "OUTPUT ORDER", ", values: [4, 3, 2, 1]").evaluate(o) == [3, 2]
    assert "needs" not in errors(make_app, SCORE.format(policy="PRIORITY", values=""))
    assert "ranks results by the order of an output's 'values'" in errors(
        make_app, SCORE.format(policy="PRIORITY", values=""))


def test_unique_overlap_is_a_load_error_naming_the_rows(make_app):
    text = errors(make_app, SCORE.format(policy="UNIQUE", values=""))
    assert "d.yaml:12:5: decision.score.rules[2]: rule 1 and rule 3 overlap: both match some inputs, " \
           "which hit policy UNIQUE forbids" in text
    assert "rule 2 and rule 3 overlap" in text and "rule 1 and rule 2" not in text


def test_unique_overlap_at_run_time_names_the_rows(make_app):
    t = table(make_app, """
        name: pick
        entity: order
        inputs: [{name: amount}]
        outputs: [{name: x, type: string}]
        rules:
          - ["? > 10", a]
          - ["? > 20", b]
    """)
    assert t.evaluate({"amount": 15}) == "a"
    assert t.evaluate({"amount": 5}) is None
    with pytest.raises(DecisionError, match="rule 1 and rule 2 all match"):
        t.evaluate({"amount": 25})


def test_any_agreeing_and_disagreeing(make_app):
    t = table(make_app, """
        name: ship
        entity: order
        hit_policy: ANY
        inputs: [{name: amount}, {name: rush}]
        outputs: [{name: method, type: string}]
        rules:
          - [">= 100", "-", "= if(rush, 'air', 'road')"]
          - ["-", "-", air]
    """)
    assert t.evaluate({"amount": 150, "rush": True}) == "air"
    assert t.evaluate({"amount": 5, "rush": False}) == "air"
    with pytest.raises(DecisionError, match="rule 1 and rule 2 both match but give different results"):
        t.evaluate({"amount": 150, "rush": False})


def test_any_static_disagreement_is_an_error(make_app):
    text = errors(make_app, """
        name: ship
        entity: order
        hit_policy: ANY
        inputs: [{name: amount}]
        outputs: [{name: method, type: string}]
        rules:
          - [">= 100", road]
          - ["> 50", air]
    """)
    assert "rule 1 and rule 2 overlap but give different results" in text


def test_defaults_and_multiple_outputs(make_app):
    t = table(make_app, """
        name: plan
        entity: order
        hit_policy: FIRST
        inputs: [{name: channel}]
        outputs:
          - {name: review, type: string, values: [none, manager], default: none}
          - {name: discount, type: decimal, default: 0}
        rules:
          - when: [web]
            then: {review: manager, discount: "= amount * 0.05"}
            annotation: web orders are checked
    """)
    assert t.evaluate({"channel": "web", "amount": Decimal("200")}) == {"review": "manager",
                                                                        "discount": Decimal("10.00")}
    assert t.evaluate({"channel": "store"}) == {"review": "none", "discount": 0}


def test_cell_errors_carry_file_line_and_column(make_app):
    text = errors(make_app, """
        name: bad
        entity: order
        inputs: [{name: amount}, {name: channel}, {name: nope}]
        outputs: [{name: x, type: string, values: [a, b]}]
        rules:
          - ["< 10x", "-", "-", a]
          - ["-", '"mail"', "-", c]
    """)
    assert "d.yaml:6:11: decision.bad.rules[0][0]: unexpected 'x'" in text
    assert "d.yaml:7:12: decision.bad.rules[1][1]: 'mail' is not an option of input 'channel'" in text
    assert "'c' is not an allowed value of output 'x'" in text
    assert "unknown field 'nope' in order" in text


def test_type_errors_in_cells(make_app):
    text = errors(make_app, """
        name: bad
        entity: order
        inputs: [{name: rush}]
        outputs: [{name: x, type: integer}]
        rules:
          - ["> 5", 1]
          - ["-", "ten"]
    """)
    assert "cannot compare boolean > integer" in text
    assert "expected a integer value, got 'ten'" in text


def test_gaps_are_reported_when_the_table_must_be_complete(make_app):
    text = errors(make_app, """
        name: ship
        entity: order
        complete: true
        hit_policy: FIRST
        inputs: [{name: amount}, {name: channel}]
        outputs: [{name: m, type: string}]
        rules:
          - ["< 1000", "-", a]
          - ["> 1000", "web, store", b]
    """)
    assert "d.yaml:8:3: decision.ship.rules: no rule covers amount = 1000, channel any" in text
    assert 'no rule covers amount > 1000, channel = "phone"' in text


def test_complete_table_passes(make_app):
    t = table(make_app, """
        name: ship
        entity: order
        complete: true
        inputs: [{name: amount}, {name: rush}]
        outputs: [{name: m, type: string}]
        rules:
          - ["< 1000", "-", a]
          - [">= 1000", true, b]
          - [">= 1000", "not(true)", c]
    """)
    assert t.evaluate({"amount": 5000, "rush": False}) == "c"


def test_long_tables_compile_in_chunks_and_check_overlaps_by_sweeping(make_app):
    rows = "\n".join(f'          - ["[{i}..{i + 1})", {i}]' for i in range(120))
    t = table(make_app, f"""
        name: long
        entity: order
        hit_policy: FIRST
        inputs: [{{name: amount}}]
        outputs: [{{name: x, type: integer}}]
        rules:
{rows}
    """)
    assert len(t.chunks) == 5 and t.evaluate({"amount": Decimal("99.5")}) == 99
    assert t.evaluate({"amount": 500}) is None
    text = errors(make_app, f"""
        name: long
        entity: order
        inputs: [{{name: amount}}]
        outputs: [{{name: x, type: integer}}]
        rules:
{rows}
          - ["> 118.5", 0]
    """)
    assert "rule 119 and rule 121 overlap" in text and "rule 120 and rule 121 overlap" in text
    assert text.count("overlap") == 2
