"""Decision tables used from expressions (Python and SQL), the service and `ordo decide`."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine import SYSTEM, open_app
from ordo.engine.cli import main

APP = {
    "entities/order.yaml": """
        name: order
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          amount: {type: money}
          level: {type: enum, options: [normal, vip, gold]}
          review: {type: computed, expr: "decide('review_level')"}
          points: {type: computed, expr: "decide('points')"}
    """,
    "decisions/review_level.yaml": """
        name: review_level
        entity: order
        hit_policy: FIRST
        inputs:
          - {name: amount}
          - {name: level}
        outputs:
          - {name: review, type: string, values: [none, manager, director], default: none}
        rules:
          - ["< 1000", "-", none]
          - ["[1000..5000)", "vip, gold", none]
          - ["[1000..5000)", "-", manager]
          - id: big
            row: [">= 5000", "-", director]
            annotation: large orders go to a director
    """,
    "decisions/points.yaml": """
        name: points
        entity: order
        hit_policy: C+
        inputs: [{name: amount}, {name: level}]
        outputs: [{name: p, type: integer}]
        rules:
          - ["> 100", "-", 1]
          - ["-", "gold", 5]
          - ["-", "vip, gold", 2]
    """,
    "decisions/approval.yaml": """
        name: approval
        hit_policy: PRIORITY
        inputs:
          - {name: Age, type: decimal}
          - {name: RiskCategory, type: string, values: [High, Low, Medium]}
          - {name: isAffordable, type: boolean}
        outputs:
          - {name: status, type: string, values: [Approved, Declined]}
        rules:
          - [">=18", '"Medium","Low"', true, '"Approved"']
          - ["<18", "-", "-", '"Declined"']
          - ["-", '"High"', "-", '"Declined"']
          - ["-", "-", false, '"Declined"']
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    for code, amount, level in [("A", "500", "normal"), ("B", "1500", "normal"), ("C", "1500", "vip"),
                                ("D", "9000", "gold")]:
        a.create("order", {"code": code, "amount": amount, "level": level}, "admin")
    yield a
    a.close()


def test_decide_in_computed_fields_and_sql_filters(app):
    assert {r["code"]: r["review"] for r in app.query("order", user="admin")} == {
        "A": "none", "B": "manager", "C": "none", "D": "director"}
    assert {r["code"]: r["points"] for r in app.query("order", user="admin")} == {"A": 1, "B": 1, "C": 3, "D": 8}
    # the same tables compiled to one SQL CASE: filters run in the database
    assert [r["code"] for r in app.query("order", "decide('review_level') == 'manager'", user="admin")] == ["B"]
    assert [r["code"] for r in app.query("order", "decide('points') >= 3", user="admin",
                                         order_by="code")] == ["C", "D"]


def test_service_decides_on_stored_records_and_json(app):
    decisions = app.features["decisions"]
    with app.reader("admin") as tx:
        assert decisions.decide_record(tx, "review_level", "D") == "director"
        ex = decisions.decide_record(tx, "review_level", "B", explain=True)
    assert [r["matched"] for r in ex["rules"]] == [False, False, True, False]
    assert ex["rules"][1]["failed"]["input"] == "level" and ex["result"] == "manager"
    assert decisions.decide("approval", {"Age": 17, "RiskCategory": "Low", "isAffordable": True}) == "Declined"
    assert decisions.decide("review_level", {"amount": "2000", "level": "vip"}) == "none"


def test_decide_checks_its_arguments(make_app):
    bad = dict(APP)
    bad["entities/order.yaml"] = APP["entities/order.yaml"].replace(
        "decide('points')", "decide('pionts')").replace("decide('review_level')", "decide('approval')")
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app(bad))
    text = str(e.value)
    assert "unknown decision 'pionts' (did you mean 'points'?)" in text
    assert "decision 'approval' has no entity" in text


def test_cli_decide_and_explain(make_app, capsys):
    path = str(make_app(APP))
    assert main(["decide", path, "approval", '{"Age": 18, "RiskCategory": "Medium", "isAffordable": true}']) == 0
    assert capsys.readouterr().out.strip() == "Approved"
    assert main(["decide", path, "review_level", '{"amount": 7000}', "--explain"]) == 0
    out = capsys.readouterr().out
    assert "rule 1  no: amount = 7000.00 is not < 1000" in out
    assert "big     matched (gives the result)  (large orders go to a director)" in out
    assert out.strip().endswith("result: director")
    assert main(["decide", path, "points", '{"amount": 200, "level": "gold"}', "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == 8
    assert main(["decide", path, "approval", '{"Age": "old"}']) == 1
    assert "input 'Age': expected decimal, got 'old'" in capsys.readouterr().err
    assert main(["decide", path, "review_level", "--check"]) == 0
    assert "every input combination is covered" in capsys.readouterr().out


def test_decimal_outputs_keep_their_scale(make_app):
    from ordo.engine.decisions import Decisions

    d = Decisions(load_app(make_app({**APP, "decisions/rate.yaml": """
        name: rate
        inputs: [{name: x, type: integer}]
        outputs: [{name: r, type: decimal}]
        rules:
          - ["-", 0.05]
    """})))
    assert d.decide("rate", {"x": 1}) == Decimal("0.05")


def test_oms_risk_level_is_a_complete_decision_table(capsys):
    for data, level in [('{"risk_blacklist": true, "risk_count": 1}', "high"),
                        ('{"risk_blacklist": false, "risk_count": 2}', "high"),
                        ('{"risk_blacklist": false, "risk_count": 1}', "low"),
                        ('{"risk_blacklist": false, "risk_count": 0}', "none")]:
        assert main(["decide", "builtin:oms", "risk_level", data]) == 0
        assert capsys.readouterr().out.strip() == level
    assert main(["decide", "builtin:oms", "risk_level", "--check"]) == 0
    assert "every input combination is covered" in capsys.readouterr().out


ROLES = {"roles.yaml": """
    roles:
      clerk:
        permissions:
          - {entity: order, where: "level != 'gold'"}
          - {decision: review_level, actions: [run]}
          - {decision: points}
      reader:
        permissions:
          - {entity: order, actions: [read]}
      viewer:
        permissions:
          - {entity: order, actions: [read], hidden: [amount]}
          - {decision: review_level}
      admin: {users: [root]}
"""}


def test_api_decides_under_the_users_permissions(make_app, db_url):
    from .api_kit import add_user, bearer, served, token_for

    with served(make_app({**APP, **ROLES}), db_url) as (app, client):
        add_user(app, "cleo", ("clerk",))
        add_user(app, "root", ("admin",))
        add_user(app, "nobody")
        add_user(app, "rhea", ("reader",))
        app.create("order", {"code": "G", "amount": "9000", "level": "gold"}, "root")
        app.create("order", {"code": "N", "amount": "2000", "level": "normal"}, "root")
        cleo, root, nobody = (bearer(token_for(app, u)) for u in ("cleo", "root", "nobody"))
        listed = client.get("/api/v1/decisions", headers=cleo).json()
        assert [d["name"] for d in listed] == ["points", "review_level"]  # approval: not granted to clerk
        # reading the records is not enough: default deny, a role must grant the table
        rhea = bearer(token_for(app, "rhea"))
        assert client.get("/api/v1/decisions", headers=rhea).json() == []
        assert client.post("/api/v1/decisions/review_level", json={"record": "N"}, headers=rhea).status_code == 404
        # a field hidden from the user does not exist for them, as an input too
        add_user(app, "vic", ("viewer",))
        vic = bearer(token_for(app, "vic"))
        r = client.post("/api/v1/decisions/review_level", json={"inputs": {"amount": 300}}, headers=vic)
        assert r.status_code == 400 and "unknown field 'amount'" in r.json()["message"]
        body = client.get("/openapi.json", headers=vic).json()["paths"]["/api/v1/decisions/review_level"]["post"]
        inputs = body["requestBody"]["content"]["application/json"]["schema"]["properties"]["inputs"]
        assert "level" in inputs["properties"] and "amount" not in inputs["properties"]
        assert [d["name"] for d in client.get("/api/v1/decisions", headers=root).json()] == [
            "approval", "points", "review_level"]
        r = client.post("/api/v1/decisions/review_level", json={"record": "N"}, headers=cleo)
        assert r.json() == {"decision": "review_level", "result": "manager"}
        # a record the user may not read is not found, like a missing one
        assert client.post("/api/v1/decisions/review_level", json={"record": "G"}, headers=cleo).status_code == 404
        r = client.post("/api/v1/decisions/review_level", json={"inputs": {"amount": 300}, "explain": True},
                        headers=cleo).json()
        assert r["result"] == "none" and r["explain"]["rules"][0]["matched"] is True
        assert client.post("/api/v1/decisions/approval", json={"inputs": {}}, headers=cleo).status_code == 404
        assert client.get("/api/v1/decisions", headers=nobody).json() == []
        ok = client.post("/api/v1/decisions/approval", json={"inputs": {
            "Age": 30, "RiskCategory": "Low", "isAffordable": True}}, headers=root)
        assert ok.json()["result"] == "Approved"
        bad = client.post("/api/v1/decisions/approval", json={"inputs": {"Age": "x"}}, headers=root)
        assert bad.status_code == 400 and "input 'Age': expected decimal" in bad.json()["message"]
        assert client.post("/api/v1/decisions/approval", json={"input": {}}, headers=root).status_code == 400


def test_decide_as_a_user_needs_the_roles_grant(make_app, db_url, capsys):
    from .api_kit import add_user

    path = str(make_app({**APP, **ROLES}))
    app = open_app(path, db_url, create=True)
    try:
        add_user(app, "cleo", ("clerk",))
        add_user(app, "rhea", ("reader",))
        app.create("order", {"code": "G", "amount": "9000", "level": "gold"}, "root")
        app.create("order", {"code": "N", "amount": "2000", "level": "normal"}, "root")
    finally:
        app.close()
    capsys.readouterr()
    assert main(["decide", path, "review_level", "--record", "N", "--db", db_url, "--user", "cleo"]) == 0
    assert capsys.readouterr().out.strip() == "manager"
    assert main(["decide", path, "review_level", '{"amount": 300}', "--db", db_url, "--user", "cleo"]) == 0
    assert capsys.readouterr().out.strip() == "none"
    # a record the user may not read is not found; a table no role grants is refused, inputs or record
    assert main(["decide", path, "review_level", "--record", "G", "--db", db_url, "--user", "cleo"]) == 1
    assert main(["decide", path, "approval", '{"Age": 30, "RiskCategory": "Low", "isAffordable": true}',
                 "--db", db_url, "--user", "cleo"]) == 1
    assert "cleo may not run decision approval" in capsys.readouterr().err
    assert main(["decide", path, "review_level", "--record", "N", "--db", db_url, "--user", "rhea"]) == 1
    assert "rhea may not run decision review_level" in capsys.readouterr().err
    # the database owner (no --user) may run every table
    assert main(["decide", path, "approval", '{"Age": 30, "RiskCategory": "Low", "isAffordable": true}',
                 "--db", db_url]) == 0


def test_a_role_granting_an_unknown_decision_is_a_load_error(make_app):
    roles = {"roles.yaml": """
roles:
  clerk:
    permissions:
      - {decision: reveiw_level, actions: [run]}
      - {decision: points, actions: [export]}
"""}
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app({**APP, **roles}))
    text = str(e.value)
    assert "roles.yaml:4:20" in text and "unknown decision table 'reveiw_level' (did you mean 'review_level'?)" in text
    assert "roles.yaml:5:38" in text and "'export' is not an action on a decision (actions: run)" in text


def test_explain_marks_the_rule_that_gives_the_result(make_app, capsys):
    path = str(make_app(APP))
    assert main(["decide", path, "review_level", '{"amount": 2000, "level": "vip"}', "--explain"]) == 0
    out = capsys.readouterr().out
    assert "rule 2  matched (gives the result)" in out and "rule 3  matched\n" in out
    assert main(["decide", path, "approval", '{"Age": 17, "RiskCategory": "High", "isAffordable": false}',
                 "--explain", "--format", "json"]) == 0
    ex = json.loads(capsys.readouterr().out)
    assert [r["matched"] for r in ex["rules"]] == [False, True, True, True]
    assert ex["result"] == "Declined" and [r["chosen"] for r in ex["rules"]] == [False, True, False, False]


def test_bad_inputs_are_clear_errors_not_crashes(make_app):
    from ordo.engine.decisions import Decisions
    from ordo.engine.decisions.runtime import DecisionError

    d = Decisions(load_app(make_app({"decisions/t.yaml": """
        name: t
        inputs: [{name: x}]
        outputs: [{name: o, type: integer}]
        rules:
          - ["< 5", 1]
    """})))
    assert d.decide("t", {"x": 3}) == 1
    for bad, message in [({"x": "abc"}, "an input cannot be compared"), ({"x": {"a": 1}}, "expected a single value"),
                         ({"y": 1}, "unknown input 'y' (inputs: x)")]:
        with pytest.raises(DecisionError, match=message.replace("(", r"\(").replace(")", r"\)")):
            d.decide("t", bad)


def test_assignment_rules_route_by_a_decision(make_app, db_url):
    files = {**APP, "rules/reviewer.yaml": """
        kind: assignment
        name: reviewer
        entity: order
        rules:
          - strategy: field
            by: "decide('review_level')"
            map: {manager: {user: mia}, director: {user: dan}}
            default: {user: clerk}
    """}
    app = open_app(make_app(files), db_url)
    try:
        with app.users(SYSTEM) as d:
            for u in ("mia", "dan", "clerk"):
                d.save(u)
        app.create("order", {"code": "M", "amount": "2000", "level": "normal"}, "admin")
        app.create("order", {"code": "X", "amount": "8000", "level": "normal"}, "admin")
        with app.transaction("admin") as tx:
            assign = app.features["assignment"].assign
            assert assign(tx, "reviewer", "order", "M") == ["mia"]
            assert assign(tx, "reviewer", "order", "X") == ["dan"]
    finally:
        app.close()


def test_decide_lang_zh_shows_output_values_as_their_option_labels(make_app, capsys):
    assert main(["decide", "builtin:oms", "risk_level", '{"risk_blacklist": true, "risk_count": 0}',
                 "--lang", "zh"]) == 0
    assert capsys.readouterr().out.strip() == "高"
    assert main(["decide", "builtin:oms", "risk_level", '{"risk_blacklist": false, "risk_count": 1}',
                 "--lang", "zh", "--explain"]) == 0
    assert capsys.readouterr().out.strip().endswith("结果: 低")
    # JSON stays machine-readable: the stored values
    assert main(["decide", "builtin:oms", "risk_level", '{"risk_blacklist": false, "risk_count": 1}',
                 "--lang", "zh", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == "low"
    path = str(make_app({"entities/ticket.yaml": """
        name: ticket
        fields:
          size: {type: integer}
          tier:
            type: enum
            options: [{value: gold, label: {en: Gold, zh: 金牌}}, {value: std, label: {en: Standard, zh: 标准}}]
          note: {type: string}
    """, "decisions/triage.yaml": """
        name: triage
        entity: ticket
        hit_policy: COLLECT
        inputs: [{name: size}]
        outputs:
          - {name: tier, type: string, values: [gold, std], label: {en: Tier, zh: 等级}}
          - {name: note, type: string}
        rules:
          - ["> 10", gold, big]
          - ["-", std, any]
    """}))
    assert main(["decide", path, "triage", '{"size": 20}', "--lang", "zh"]) == 0
    assert capsys.readouterr().out.split("\n")[:4] == ["等级: 金牌", "note: big", "等级: 标准", "note: any"]
    assert main(["decide", path, "triage", '{"size": 20}']) == 0
    assert capsys.readouterr().out.startswith("tier: gold\n")
