"""Loading apps: every error at once with file:line:column, through `ordo validate`."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from ordo.dsl.app import AppDefinition, AppManifest
from ordo.dsl.entity import EntityDef
from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine.cli import main

BROKEN = {
    "entities/customer.yaml": """
        name: customer
        fields:
          code: {type: string, unique: true}
          level: {type: strng}
    """,
    "entities/order.yaml": """
        name: order
        fields:
          customer: {type: link, entity: custmer}
          amount: {type: money, colour: red}
          status: {type: enum, options: [new, paid]}
        validations:
          - expr: "amount > 0 and status == 'piad'"
            message: bad
    """,
    "forms/order.yaml": """
        name: order
        entity: order
        sections:
          - fields: [customer, amount, statuss]
    """,
}


def test_validate_reports_five_errors_in_three_files(make_app, capsys):
    app = make_app(BROKEN)
    assert main(["validate", str(app)]) == 1
    out = capsys.readouterr().out.splitlines()
    errors = [line for line in out if ": " in line and line.count(":") >= 3]
    expected = [
        ("entities/customer.yaml", 4, 17, "fields.level.type"),
        ("entities/order.yaml", 3, 34, "fields.customer.entity: unknown entity 'custmer' (did you mean 'customer'?)"),
        ("entities/order.yaml", 4, 25, "fields.amount.colour: unknown key 'colour'"),
        ("entities/order.yaml", 7, 37, "'piad' is not an option of status (new, paid)"),
        ("forms/order.yaml", 4, 32, "unknown field 'statuss' in order"),
    ]
    assert len(errors) == 5, out
    for line, (file, ln, col, text) in zip(errors, expected, strict=True):
        assert f"{file}:{ln}:{col}:" in line, line
        assert text in line, line
    assert out[-1] == "5 error(s)"


def test_yaml_syntax_error_is_located(make_app, capsys):
    app = make_app({"entities/x.yaml": "name: x\nfields: {a: [unclosed\n"})
    assert main(["validate", str(app)]) == 1
    assert "entities/x.yaml:3:1: YAML syntax error" in capsys.readouterr().out


def test_missing_app_and_bad_kind(make_app, tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nothing")]) == 1
    assert "not an Ordo app" in capsys.readouterr().out
    app = make_app({"definitions/x.yaml": "kind: entty\nname: x\n"})
    assert main(["validate", str(app)]) == 1
    assert "unknown kind 'entty' (did you mean 'entity'?)" in capsys.readouterr().out


def test_duplicate_definitions_and_keys(make_app):
    app = make_app({"entities/a.yaml": "- {name: a}\n- {name: a}\n", "entities/b.yaml": "name: b\nname: c\n"})
    with pytest.raises(DefinitionErrors) as e:
        load_app(app)
    text = str(e.value)
    assert "entity 'a' is defined twice" in text and "duplicate key 'name'" in text


def test_several_definitions_per_file_and_kind_key(make_app):
    app = make_app({
        "definitions/all.yaml": """
            - kind: entity
              name: a
              fields: {x: {type: integer}}
            - kind: form
              name: a_form
              entity: a
              sections: [{fields: [x]}]
        """,
        "roles.yaml": "roles:\n  clerk: {label: Clerk}\n",
    })
    loaded = load_app(app)
    assert loaded.names("entity") == ["a"] and loaded.names("form") == ["a_form"]
    assert loaded.names("role") == ["clerk"]


def test_definitions_round_trip_through_yaml(make_app, tmp_path):
    original = load_app("builtin:starter")
    files = original.to_yaml_files()
    root = tmp_path / "copy"
    import shutil

    shutil.copytree(original.root / "data", root / "data")  # fixtures are files, not definitions
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    again = load_app(root)
    for kind in original.items:
        assert {n: d.to_data() for n, d in zip(original.names(kind), original.all(kind), strict=True)} == \
               {n: d.to_data() for n, d in zip(again.names(kind), again.all(kind), strict=True)}
    assert again.manifest.version == original.manifest.version


def test_app_from_python_definitions():
    app = AppDefinition.from_definitions(
        AppManifest(name="py"), [EntityDef(name="thing", fields={"n": {"type": "integer", "min": 0}})])
    assert app.get("entity", "thing").fields["n"].min == 0
    with pytest.raises(DefinitionErrors, match="unknown entity 'nope'"):
        AppDefinition.from_definitions({"name": "py"}, [EntityDef(name="t", fields={"l": {"type": "link",
                                                                                          "entity": "nope"}})])


def test_schema_command_writes_schemas_that_validate_definitions(tmp_path, capsys):
    assert main(["schema", "--out", str(tmp_path)]) == 0
    entity_schema = json.loads((tmp_path / "entity.schema.json").read_text())
    from ordo.dsl.loader import builtin_templates_dir

    for path in (builtin_templates_dir() / "starter" / "entities").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            jsonschema.validate(doc, entity_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "fields": {"a": {"type": "strng"}}}, entity_schema)
    assert (tmp_path / "app.schema.json").exists() and (tmp_path / "definitions.schema.json").exists()
