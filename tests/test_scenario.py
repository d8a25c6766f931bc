"""Scenarios: YAML walkthroughs played by `ordo run` and `ordo demo`."""

from __future__ import annotations

import io

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.scenario import run_scenario

APP = {
    "entities/task.yaml": """
        name: task
        naming: "T-{###}"
        fields:
          title: {type: string, required: true}
          due: {type: date, default: "=add_days(today(), 2)"}
          done: {type: boolean, default: false}
    """,
    "roles.yaml": """
        roles:
          admin: {users: [admin]}   # the scenario's default user grants roles: an admin
          clerk: {}
    """,
    "scenarios/walk.yaml": """
        name: walk
        title: Walk
        steps:
          - say: "# Start"
          - grant: ann
            roles: [clerk]
            attrs: {region: north}
          - create: task
            data: {title: first}
            as: t1
          - say: "made $t1.name due $t1.due"
          - update: task
            record: $t1.name
            data: {done: true}
          - clock: {advance: 3d}
          - query: task
            where: "due < today() and done"
            columns: [name, title]
            as: late
          - update: task
            where: "name == :n"
            params: {n: $late.0.name}
            data: {title: late one}
    """,
}


def test_scenario_runs_steps_with_variables(make_app, db_url):
    app = open_app(make_app(APP), db_url)
    out = io.StringIO()
    result = run_scenario(app, "walk", out=out)
    text = out.getvalue()
    assert result.steps == 8 and result.variables["t1"]["name"] == "T-001"
    assert "made T-001 due" in text and "first" in text.split("name")[-1]
    assert app.get("task", "T-001", "admin")["done"] is True
    assert app.get("task", "T-001", "admin")["title"] == "late one"
    with app.users("u") as users:
        assert users.require("ann").roles == ["clerk"] and users.require("ann").attrs == {"region": "north"}
    app.close()


def test_bad_scenarios_are_definition_errors(make_app):
    bad = {**APP, "scenarios/walk.yaml": """
        name: walk
        steps:
          - create: tsk
            data: {}
          - colour: red
            query: task
          - clock: {advance: soon}
          - query: task
            colour: red
    """}
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app(bad))
    text = str(e.value)
    assert "unknown entity 'tsk'" in text
    assert "a step starts with its action" in text
    assert "invalid duration 'soon'" in text
    assert "unknown key 'colour' for a query step" in text
    assert "walk.yaml:7:" in text  # located


def test_run_and_demo_commands(make_app, tmp_path, capsys, monkeypatch):
    assert main(["run", str(make_app(APP)), "walk", "--db", str(tmp_path / "w.db"), "--create"]) == 0
    assert "scenario walk: 8 step(s) done" in capsys.readouterr().out
    assert main(["run", str(make_app(APP)), "nope", "--db", str(tmp_path / "w.db")]) == 1
    assert "no scenario 'nope'" in capsys.readouterr().err
    assert main(["run", "builtin:starter", "demo", "--db", str(tmp_path / "s.db"), "--create"]) == 0
    assert "scenario demo:" in capsys.readouterr().out


NUMBERED = {
    "entities/owner.yaml": """
        name: owner
        naming: "{code}"
        title_field: full_name
        fields:
          code: {type: string, required: true}
          full_name: {type: string}
    """,
    "entities/ticket.yaml": """
        name: ticket
        label: {en: Ticket, zh: 工单}
        naming: "TK-{###}"
        fields:
          owner: {type: link, entity: owner, label: {en: Owner, zh: 负责人}}
          state:
            type: enum
            label: {en: State, zh: 状态}
            options: [{value: open, label: {en: Open, zh: 处理中}}, {value: closed, label: {en: Closed, zh: 已关闭}}]
            default: open
    """,
    "scenarios/numbered.yaml": """
        name: numbered
        steps:
          - say: {en: "# 7. First", zh: "# 7. 第一"}
          - create: owner
            data: {code: ANN, full_name: Ann Lee}
          - create: ticket
            data: {owner: ANN}
            as: t
          - say: {en: "$t.name is $t.state", zh: "$t.name 状态 $t.state"}
          - say: {en: "# 7. Second", zh: "# 7. 第二"}
          - query: ticket
            columns: [name, owner, state]
            limit: 1
          - create: ticket
            data: {owner: ANN}
          - query: ticket
            columns: [name, state]
            limit: 1
    """,
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_headings_are_numbered_and_output_uses_the_language(make_app, db_url, lang):
    app = open_app(make_app(NUMBERED), db_url)
    out = io.StringIO()
    run_scenario(app, "numbered", out=out, lang=lang)
    lines = out.getvalue().splitlines()
    first, second = ("First", "Second") if lang == "en" else ("第一", "第二")
    assert f"1. {first}" in lines and f"2. {second}" in lines  # the runner numbers: 1, 2 (never 7, 7)
    text = out.getvalue()
    if lang == "zh":
        assert "TK-001 状态 处理中" in text and "已创建工单 TK-001" in text
        assert "负责人" in text and "Ann Lee" in text and "Owner" not in text and "open" not in text
    else:
        assert "TK-001 is Open" in text and "Ann Lee" in text
    assert "rows 1-1 of 2" in text  # a query step's limit is never a silent cap
    app.close()
