"""Forms: JSON Schema of records and HTML rendering, through the API and `ordo form`."""

from __future__ import annotations

import json

import jsonschema
import pytest

from ordo.dsl.loader import load_app
from ordo.engine import SYSTEM, FieldError, open_app
from ordo.engine.cli import main
from ordo.forms import FormRenderer, entity_json_schema


@pytest.fixture(scope="module")
def starter():
    return load_app("builtin:starter")


def test_json_schema_accepts_valid_and_rejects_invalid_records(starter):
    schema = entity_json_schema(starter, "invoice")
    jsonschema.validate({"customer": "ACME", "status": "sent", "lines": [
        {"description": "x", "qty": 2, "unit_price": "9.50"}]}, schema)
    for bad in ({"customer": "ACME", "status": "lost"}, {"customer": "ACME", "lines": [{"qty": 0.5}]},
                {"customer": "ACME", "bogus": 1}, {"status": "sent"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert schema["properties"]["total"]["readOnly"] is True
    assert entity_json_schema(starter, "customer", "zh")["properties"]["customer_name"]["title"] == "名称"


def test_render_new_and_existing_record_with_errors(starter, tmp_path):
    renderer = FormRenderer(starter)
    html = renderer.render("invoice", lang="zh")
    assert "<legend>抬头</legend>" in html and 'name="customer"' in html and "保存" in html
    with open_app(starter, f"sqlite:///{tmp_path / 'f.db'}") as app:
        app.create("customer", {"code": "ACME", "customer_name": "<Acme & Co>"}, SYSTEM)
        inv = app.create("invoice", {"customer": "ACME", "lines": [{"description": "Licence", "unit_price": 5}]},
                         "bob")
    html = renderer.render("invoice", inv, errors=[FieldError("due_date", "too early")])
    assert inv["name"] in html and 'value="Licence"' in html and "too early" in html
    assert 'name="lines.0.unit_price"' in html
    default = renderer.render("customer", {"customer_name": "<Acme & Co>"})
    assert "&lt;Acme &amp; Co&gt;" in default  # escaped


def test_form_command(tmp_path, capsys):
    assert main(["form", "builtin:starter", "invoice", "--out", str(tmp_path / "f.html")]) == 0
    assert "<form" in (tmp_path / "f.html").read_text()
    capsys.readouterr()
    assert main(["form", "builtin:starter", "customer", "--json-schema"]) == 0
    assert json.loads(capsys.readouterr().out)["properties"]["code"]["type"] == "string"
    assert main(["form", "builtin:starter", "nothing"]) == 1
    assert "unknown form or entity 'nothing'" in capsys.readouterr().err
