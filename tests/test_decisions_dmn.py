"""DMN import: the public DMN TCK plain-decision-table cases (compliance level 2) run through
`ordo import-dmn` and `ordo decide`; importer refusals name the element."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from ordo.engine.cli import main

REPO = Path(__file__).resolve().parent.parent
TCK = Path(os.environ.get("ORDO_DMN_TCK") or REPO / ".." / "shared" / "dmn-tck")
MODELS = ["0004-simpletable-U", "0005-simpletable-A", "0006-simpletable-P1", "0007-simpletable-P2",
          "0010-multi-output-U"]
XSI = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _value(el: ET.Element) -> object:
    kind = (el.get(XSI) or "xsd:string").split(":")[-1]
    if el.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
        return None
    text = el.text or ""
    if kind in ("decimal", "double", "int", "integer", "long"):
        return Decimal(text)
    if kind == "boolean":
        return text.strip() == "true"
    return text


def _cases(model: str) -> list[tuple[str, dict, str, object]]:
    root = ET.parse(TCK / model / f"{model}-test-01.xml").getroot()
    out = []
    for case in (c for c in root if _local(c.tag) == "testCase"):
        inputs = {}
        for node in (n for n in case if _local(n.tag) == "inputNode"):
            v = next(c for c in node if _local(c.tag) == "value")
            inputs[node.get("name")] = _value(v)
        result = next(n for n in case if _local(n.tag) == "resultNode")
        expected_el = next(c for c in result if _local(c.tag) == "expected")
        parts = list(expected_el)
        if parts and _local(parts[0].tag) == "component":
            expected: object = {p.get("name"): _value(next(iter(p))) for p in parts}
        else:
            expected = _value(parts[0])
        out.append((case.get("id"), inputs, result.get("name"), expected))
    return out


def _json(v: object) -> object:
    return float(v) if isinstance(v, Decimal) else v


@pytest.mark.skipif(not TCK.is_dir(), reason=f"the DMN TCK cases are not at {TCK} (set ORDO_DMN_TCK)")
@pytest.mark.parametrize("model", MODELS)
def test_tck_model_imports_and_every_case_passes(model, tmp_path, capsys):
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.yaml").write_text("name: tck\nversion: 1\n", encoding="utf-8")
    assert main(["import-dmn", str(TCK / model / f"{model}.dmn"), "--out", str(app)]) == 0
    capsys.readouterr()
    cases = _cases(model)
    assert cases
    for case_id, inputs, decision, expected in cases:
        name = decision.lower().replace(" ", "_")
        data = json.dumps({k: _json(v) for k, v in inputs.items()})
        assert main(["decide", str(app), name, data, "--format", "json"]) == 0, (model, case_id)
        got = json.loads(capsys.readouterr().out)
        assert got == expected, (model, case_id, inputs, got, expected)


CAMUNDA = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dish" name="Dish" namespace="x">
  <decision id="beverages" name="Beverages">
    <decisionTable id="t" hitPolicy="COLLECT" aggregation="SUM">
      <input id="i1" label="Guest Count"><inputExpression typeRef="integer"><text>guestCount</text>
      </inputExpression></input>
      <input id="i2" label="Day"><inputExpression typeRef="date"><text>day</text></inputExpression></input>
      <output id="o1" name="bottles" typeRef="integer" />
      <rule id="r1"><inputEntry><text>[1..10]</text></inputEntry>
        <inputEntry><text>&lt; date("2026-01-01")</text></inputEntry><outputEntry><text>2</text></outputEntry>
        <description>small party</description></rule>
      <rule id="r2"><inputEntry><text>&gt; 5</text></inputEntry><inputEntry><text></text></inputEntry>
        <outputEntry><text>guestCount * 2</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


@pytest.mark.parametrize("variant", ["dmn13", "camunda7"])
def test_camunda_style_table_with_aggregation_dates_and_expressions(tmp_path, capsys, variant):
    f = tmp_path / "dish.dmn"
    text = CAMUNDA
    if variant == "camunda7":  # DMN 1.1 namespace, feel: type prefixes, JUEL input expressions
        text = text.replace("https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20151101/dmn.xsd")
        text = text.replace('typeRef="integer"><text>guestCount</text>', 'typeRef="feel:integer"><text>${guestCount}</text>')
    f.write_text(text, encoding="utf-8")
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.yaml").write_text("name: dish\nversion: 1\n", encoding="utf-8")
    assert main(["import-dmn", str(f), "--out", str(app)]) == 0
    text = (app / "decisions" / "beverages.yaml").read_text()
    assert "hit_policy: COLLECT" in text and "aggregation: SUM" in text and "annotation: small party" in text
    capsys.readouterr()
    assert main(["decide", str(app), "beverages", '{"guestCount": 8, "day": "2025-12-24"}']) == 0
    assert capsys.readouterr().out.strip() == "18"


@pytest.mark.parametrize("change, message", [
    (('<text>guestCount</text>', '<text>guest.count + 1</text>'), "input 'i1': the input expression"),
    (('<text>[1..10]</text>', '<text>duration("P1D")</text>'), "uses FEEL Ordo does not import"),
    (('<text>[1..10]</text>', '<text>[1..</text>'), "rule 1, when entry 1"),
    (("</definitions>", '<decision id="calc" name="Calc"><literalExpression><text>1</text></literalExpression>'
      '</decision></definitions>'), "decision 'calc': only decision tables can be imported, this one is a "
                                    "literalExpression"),
    (('<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE x [<!ENTITY a "b">]>'), "DTDs"),
    (("</definitions>", ""), "not well-formed XML"),
])
def test_unsupported_dmn_is_refused_naming_the_element(tmp_path, capsys, change, message):
    f = tmp_path / "bad.dmn"
    f.write_text(CAMUNDA.replace(*change), encoding="utf-8")
    assert main(["import-dmn", str(f)]) == 1
    assert message in capsys.readouterr().err


def test_export_then_import_gives_the_same_tables(make_app, tmp_path, capsys):
    app = make_app({"decisions/ship.yaml": """
        name: ship
        label: Shipping method
        hit_policy: PRIORITY
        inputs:
          - {name: weight, type: decimal}
          - {name: region, type: string, values: [north, south, west]}
          - {name: day, type: date}
        outputs:
          - {name: method, type: string, values: [air, truck, post], default: post}
          - {name: fee, type: decimal}
        rules:
          - when: ["<= 2", "north, south", "-"]
            then: [air, "= weight * 3.5"]
            annotation: light parcels fly
          - [">= 2", 'not("west")', "< @2027-01-01", truck, 12.5]
          - ["]0..100]", "-", "null", post, 0]
    """})
    assert main(["export-dmn", str(app), "--out", str(tmp_path / "ship.dmn")]) == 0
    xml = (tmp_path / "ship.dmn").read_text()
    assert 'hitPolicy="PRIORITY"' in xml and "&lt; date(\"2027-01-01\")" in xml and "weight * 3.5" in xml
    back = tmp_path / "back"
    back.mkdir()
    (back / "app.yaml").write_text("name: back\nversion: 1\n", encoding="utf-8")
    assert main(["import-dmn", str(tmp_path / "ship.dmn"), "--out", str(back)]) == 0
    capsys.readouterr()
    for data in ['{"weight": 1, "region": "north", "day": "2026-05-01"}',
                 '{"weight": 5, "region": "south", "day": "2026-05-01"}',
                 '{"weight": 5, "region": "west", "day": null}', '{"weight": 500, "region": "west"}']:
        assert main(["decide", str(app), "ship", data, "--format", "json"]) == 0
        original = capsys.readouterr().out
        assert main(["decide", str(back), "shipping_method", data, "--format", "json"]) == 0
        assert capsys.readouterr().out == original, data
