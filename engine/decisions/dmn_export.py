"""Ordo decision tables -> DMN 1.3 XML (the subset the importer reads back).

Cells become FEEL unary tests (bare words of text columns quoted, ``@2026-01-31`` as
``date("2026-01-31")``), output values FEEL literals, output expressions their text, and
annotations the rule's ``description``. A table without an entity declares its variables as
``inputData``; a table over an entity names its input expressions as written in Ordo.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from ordo.dsl.app import AppDefinition
from ordo.dsl.base import label_text
from ordo.dsl.decision import DecisionDef
from ordo.dsl.decision_build import _split_rule_cells
from ordo.dsl.decision_cells import INPUT, parse_cell
from ordo.dsl.decision_table import DecisionTable

NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"
TYPE_REFS = {"string": "string", "integer": "integer", "decimal": "number", "boolean": "boolean", "date": "date",
             "datetime": "date and time", "any": "Any"}
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def export_dmn(definition: AppDefinition, names: list[str] | None = None) -> str:
    """DMN 1.3 XML of the app's decision tables (all, or those named)."""
    from .runtime import Decisions

    service = Decisions(definition)
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}definitions", {"id": f"ordo_{definition.name}", "name": definition.name,
                                                "namespace": f"https://ordo.dev/apps/{definition.name}"})
    variables: dict[str, str] = {}
    for name in names or service.names():
        table = service.table(name)
        defn = definition.get("decision", name)
        _decision(root, defn, table, definition, variables)
    for var, t in variables.items():
        data = ET.SubElement(root, f"{{{NS}}}inputData", {"id": f"input_{var}", "name": var})
        ET.SubElement(data, f"{{{NS}}}variable", {"name": var, "typeRef": TYPE_REFS.get(t, "Any")})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _sub(parent: ET.Element, tag: str, attrs: dict[str, str] | None = None, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs or {})
    if text is not None:
        ET.SubElement(el, f"{{{NS}}}text").text = text
    return el


def _decision(root: ET.Element, d: DecisionDef, table: DecisionTable, app: AppDefinition,
              variables: dict[str, str]) -> None:
    dec = _sub(root, "decision", {"id": d.name, "name": label_text(d.label, fallback=d.name)})
    attrs = {"id": f"{d.name}_table", "hitPolicy": d.hit_policy}
    if d.aggregation:
        attrs["aggregation"] = d.aggregation
    dt_el = _sub(dec, "decisionTable", attrs)
    fields = app.schema.entity_fields(d.entity) if d.entity else {}
    for k, (inp, ci) in enumerate(zip(d.inputs, table.inputs, strict=True)):
        i_el = _sub(dt_el, "input", {"id": f"{d.name}_in{k + 1}", "label": label_text(inp.label, fallback=inp.name)})
        text = inp.expr or (label_text(inp.label) if d.entity is None and isinstance(inp.label, str) else inp.name)
        _sub(i_el, "inputExpression", {"typeRef": TYPE_REFS.get(ci.type.kind, "Any")}, text)
        if inp.values:
            _sub(i_el, "inputValues", None, ", ".join(_literal(v) for v in inp.values))
        if d.entity is None and inp.expr is None:
            variables.setdefault(text, ci.type.kind)
    for k, (o, co) in enumerate(zip(d.outputs, table.outputs, strict=True)):
        o_el = _sub(dt_el, "output", {"id": f"{d.name}_out{k + 1}", "name": o.name,
                                      "typeRef": TYPE_REFS.get(co.type.kind, "Any")})
        if co.values:
            _sub(o_el, "outputValues", None, ", ".join(_literal(v) for v in co.values))
        if co.default is not None:
            _sub(o_el, "defaultOutputEntry", None, _literal(co.default))
    for k, (rule, cr) in enumerate(zip(d.rules, table.rules, strict=True)):
        r_el = _sub(dt_el, "rule", {"id": rule.id or f"{d.name}_r{k + 1}"})
        if rule.annotation:
            ET.SubElement(r_el, f"{{{NS}}}description").text = label_text(rule.annotation)
        cells = _split_rule_cells(d, rule)
        for j, raw in enumerate(cells):
            kind = table.inputs[j].type.kind
            _sub(r_el, "inputEntry", {"id": f"{d.name}_r{k + 1}_i{j + 1}"}, _cell(raw, kind, fields or {}))
        for j, ov in enumerate(cr.outputs):
            text = ov.compiled.text.strip() if ov.compiled is not None else _literal(ov.value)
            _sub(r_el, "outputEntry", {"id": f"{d.name}_r{k + 1}_o{j + 1}"}, text)


def _literal(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, Decimal, float)):
        return str(v)
    if isinstance(v, dt.datetime):
        return f'date and time("{v.isoformat()}")'
    if isinstance(v, dt.date):
        return f'date("{v.isoformat()}")'
    return json.dumps(str(v), ensure_ascii=False)


def _value(text: str, kind: str, fields: Any) -> str:
    t = text.strip()
    if t.startswith("'") and t.endswith("'") and len(t) >= 2:
        return json.dumps(t[1:-1], ensure_ascii=False)
    if t.startswith("@"):
        return f'date and time("{t[1:]}")' if "T" in t else f'date("{t[1:]}")'
    if kind in ("string", "any") and _WORD.match(t) and t not in ("true", "false", "null") and t not in fields:
        return json.dumps(t)
    return t


def _cell(raw: Any, kind: str, fields: Any) -> str:
    cell = parse_cell(raw)
    if cell.any:
        return "-"
    items = []
    for t in cell.tests:
        shape = t.shape
        if shape[0] == "eq":
            items.append(_value(shape[1], kind, fields))
        elif shape[0] == "cmp":
            items.append(f"{shape[1]} {_value(shape[2], kind, fields)}")
        elif shape[0] == "range":
            lo = "[" if shape[2] else "("
            hi = "]" if shape[4] else ")"
            items.append(f"{lo}{_value(shape[1], kind, fields)}..{_value(shape[3], kind, fields)}{hi}")
        elif shape[0] == "null":
            items.append("null")
        elif t.expr.startswith(f"{INPUT} == ("):
            items.append(t.expr[len(INPUT) + 5:-1])
        else:
            items.append(re.sub(r"(?<![\w.])_(?![\w])", "?", t.expr))
    body = ", ".join(items)
    return f"not({body})" if cell.negated else body
