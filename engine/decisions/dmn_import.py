"""DMN 1.1-1.5 XML -> Ordo decision definitions (plain decision tables with simple unary tests).

Elements are matched by local name, so every DMN namespace version reads the same. What the
importer takes: each ``decision`` whose expression is a ``decisionTable`` (hit policy and
aggregation, inputs with their ``inputExpression`` type and ``inputValues``, outputs with
``outputValues`` and ``defaultOutputEntry``, rules with their entries and annotations);
``inputData`` give the variables' types. Input expressions must be variable names; cells
must be unary tests Ordo reads (comparisons, ranges, lists, ``not(...)``, ``null``, ``-``,
literals, ``date("...")``). Anything else is refused with a message naming the element
(its id), never guessed at.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from ordo.dsl.decision import DecisionDef
from ordo.dsl.errors import DefinitionErrors, OrdoError

MAX_BYTES = 5_000_000

TYPES = {"number": "decimal", "integer": "integer", "long": "integer", "int": "integer", "double": "decimal",
         "decimal": "decimal", "string": "string", "boolean": "boolean", "date": "date", "datetime": "datetime",
         "date and time": "datetime", "any": "any"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_GENERATED = re.compile(r"^_?[0-9a-fA-F-]{20,}$|^(DecisionRule|Rule|rule)_?\w*$|_r\d+$")  # tool-made rule ids
_FEEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*$")
_DATE = re.compile(r'\bdate\(\s*"(\d{4}-\d{2}-\d{2})"\s*\)')
_DATETIME = re.compile(r'\bdate and time\(\s*"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)"\s*\)')


class DmnError(OrdoError):
    """A DMN file Ordo cannot import (the message names the element)."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    t = _child(el, "text")
    return None if t is None or t.text is None else t.text.strip()


def _where(el: ET.Element, what: str) -> str:
    ident = el.get("id") or el.get("name") or el.get("label")
    return f"{what} {ident!r}" if ident else what


def ident(name: str) -> str:
    """An Ordo definition name (lower case, digits, _) from a DMN name."""
    s = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if not s or not s[0].isalpha():
        s = "d_" + s
    return s


def var_name(name: str) -> str:
    """An input / output name: the DMN name when it is already one, else snake case."""
    n = name.strip()
    if _NAME.match(n):
        return n
    s = re.sub(r"[^A-Za-z0-9]+", "_", n).strip("_")
    return s if s and s[0].isalpha() else "v_" + s


def _type(ref: str | None, items: dict[str, str]) -> str:
    if not ref:
        return "any"
    r = ref.split(":", 1)[-1].strip()
    r = items.get(r, r)
    return TYPES.get(r.lower().replace("_", " ") if r.lower() != "datetime" else "datetime", "any")


def parse_dmn(text: str, file: str = "<dmn>") -> list[DecisionDef]:
    """The decision tables of a DMN document as checked-shape Ordo definitions (raises :class:`DmnError`)."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise DmnError(f"{file}: larger than {MAX_BYTES // 1_000_000} MB")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise DmnError(f"{file}: DTDs and entity declarations are not allowed in a DMN file")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        line, col = e.position
        raise DmnError(f"{file}:{line}:{col + 1}: not well-formed XML ({str(e).split(':')[0]})") from None
    if _local(root.tag) != "definitions":
        raise DmnError(f"{file}: not a DMN file (the root element is <{_local(root.tag)}>, not <definitions>)")
    items = {}
    for it in _children(root, "itemDefinition"):
        ref = _child(it, "typeRef")
        if it.get("name") and ref is not None and ref.text:
            items[it.get("name", "")] = ref.text.strip()
    variables = {}
    for data in _children(root, "inputData"):
        v = _child(data, "variable")
        variables[data.get("name", "")] = _type(v.get("typeRef") if v is not None else None, items)
    out = []
    for dec in _children(root, "decision"):
        table = _child(dec, "decisionTable")
        if table is None:
            kinds = [_local(c.tag) for c in dec if _local(c.tag) not in (
                "variable", "informationRequirement", "authorityRequirement", "knowledgeRequirement",
                "description", "extensionElements", "question", "allowedAnswers")]
            raise DmnError(f"{file}: {_where(dec, 'decision')}: only decision tables can be imported, "
                           f"this one is a {kinds[0] if kinds else 'decision without logic'}")
        for req in _children(dec, "informationRequirement"):
            if _child(req, "requiredDecision") is not None:
                raise DmnError(f"{file}: {_where(dec, 'decision')}: it requires another decision's result; "
                               f"only tables over input data can be imported")
        out.append(_decision(dec, table, variables, items, file))
    if not out:
        raise DmnError(f"{file}: no decision table found")
    return out


def _decision(dec: ET.Element, table: ET.Element, variables: dict[str, str], items: dict[str, str],
              file: str) -> DecisionDef:
    where = f"{file}: {_where(dec, 'decision')}"
    name = dec.get("name") or dec.get("id") or "decision"
    data: dict[str, Any] = {"name": ident(name)}
    if ident(name) != name:
        data["label"] = name
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    data["hit_policy"] = policy
    if table.get("aggregation"):
        data["aggregation"] = table.get("aggregation", "").upper()
    inputs = []
    for inp in _children(table, "input"):
        expr_el = _child(inp, "inputExpression")
        text = _text(expr_el)
        if not text:
            raise DmnError(f"{where}: {_where(inp, 'input')} has no input expression")
        juel = re.fullmatch(r"\$\{\s*([A-Za-z_]\w*)\s*\}", text)  # Camunda 7's JUEL ${name}
        if juel:
            text = juel.group(1)
        if not _FEEL_NAME.match(text):
            raise DmnError(f"{where}: {_where(inp, 'input')}: the input expression {text!r} is not a "
                           f"variable name (FEEL expressions are not imported; compute the value first)")
        t = _type(expr_el.get("typeRef") if expr_el is not None else None, items)
        if t == "any":
            t = variables.get(text, "any")
        item: dict[str, Any] = {"name": var_name(text), "type": t}
        if var_name(text) != text:
            item["label"] = text
        values = _text(_child(inp, "inputValues"))
        if values:
            item["values"] = [_literal(v, where, inp) for v in _split(values)]
        inputs.append(item)
    data["inputs"] = inputs
    outs = _children(table, "output")
    outputs = []
    var = _child(dec, "variable")
    for o in outs:
        oname = o.get("name") or (table.get("outputLabel") if len(outs) == 1 else None) or (
            var.get("name") if var is not None and len(outs) == 1 else None) or name
        item = {"name": var_name(oname), "type": _type(o.get("typeRef") or (
            var.get("typeRef") if var is not None and len(outs) == 1 else None), items)}
        values = _text(_child(o, "outputValues"))
        if values:
            item["values"] = [_literal(v, where, o) for v in _split(values)]
        default = _text(_child(o, "defaultOutputEntry"))
        if default:
            item["default"] = _literal(default, where, o)
        outputs.append(item)
    if not outputs:
        raise DmnError(f"{where}: the decision table has no output")
    data["outputs"] = outputs
    rules = []
    for k, rule in enumerate(_children(table, "rule")):
        cells = [_cell(_text(e), where, e) for e in _children(rule, "inputEntry")]
        values = [_output(_text(e), where, e) for e in _children(rule, "outputEntry")]
        if len(cells) != len(inputs) or len(values) != len(outputs):
            raise DmnError(f"{where}: {_where(rule, f'rule {k + 1}')} has {len(cells)} input and {len(values)} "
                           f"output entries; the table has {len(inputs)} inputs and {len(outputs)} outputs")
        r: dict[str, Any] = {"when": cells, "then": values if len(values) > 1 else values[0]}
        if rule.get("id") and not _GENERATED.search(rule.get("id", "")):
            r = {"id": rule.get("id"), **r}  # a readable id (Camunda's rule ids are often generated)
        notes = [t for t in (_text(a) for a in _children(rule, "annotationEntry")) if t]
        desc = _child(rule, "description")
        if desc is not None and desc.text and desc.text.strip():
            notes.insert(0, desc.text.strip())
        if notes:
            r["annotation"] = "; ".join(notes)
        rules.append(r)
    data["rules"] = rules
    try:
        return DecisionDef.model_validate(data)
    except ValueError as e:
        raise DmnError(f"{where}: {str(e).splitlines()[-1].strip()}") from None


def _split(text: str) -> list[str]:
    out, depth, quote, cur = [], 0, None, ""
    for c in text:
        if quote:
            quote = None if c == quote else quote
        elif c == '"':
            quote = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += c
    if cur.strip():
        out.append(cur.strip())
    return out


def _feel(text: str) -> str:
    text = _DATETIME.sub(lambda m: "@" + m.group(1), text)
    return _DATE.sub(lambda m: "@" + m.group(1), text)


def _cell(text: str | None, where: str, el: ET.Element) -> str:
    if text is None or text.strip() in ("", "-"):
        return "-"
    t = _feel(text.strip())
    if re.search(r"\b(duration|years and months duration|time|some|every|for|instance of|matches|"
                 r"string length|substring)\b\s*\(?", t.replace('"', " ")) and not t.startswith('"'):
        raise DmnError(f"{where}: {_where(el, 'input entry')}: {text!r} uses FEEL Ordo does not import")
    return t


def _literal(text: str, where: str, el: ET.Element) -> Any:
    t = _feel(text.strip())
    if len(t) >= 2 and t[0] == t[-1] == '"':
        return t[1:-1].replace('\\"', '"')
    if t in ("true", "false"):
        return t == "true"
    if t == "null":
        return None
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    if re.fullmatch(r"-?\d+\.\d+", t):
        return float(t) if len(t) < 16 else t
    if t.startswith("@"):
        return t[1:]
    raise DmnError(f"{where}: {_where(el, 'value')}: {text!r} is not a literal value")


def _output(text: str | None, where: str, el: ET.Element) -> Any:
    if text is None or not text.strip():
        return None
    t = _feel(text.strip())
    try:
        return _literal(t, where, el)
    except DmnError:
        return "= " + t.replace("!=", "<>").replace("=", "==").replace("<>", "!=").replace("<==", "<=").replace(
            ">==", ">=")


def to_yaml(d: DecisionDef) -> str:
    data = {"kind": "decision", **d.to_data()}
    rules = []
    for r in data.get("rules", []):
        r.pop("row", None)
        if set(r) <= {"when", "then"} and isinstance(r.get("when"), list):
            then = r.get("then")
            rules.append([*r["when"], *(then if isinstance(then, list) else [then])])  # a row of the table
        else:
            rules.append(r)
    if rules:
        data["rules"] = rules
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=110)


def import_dmn(path: str | Path, out: str | Path | None = None, force: bool = False) -> dict[str, str]:
    """Read a DMN file; return {relative path: YAML} and, with ``out`` (an app folder), write the files
    under ``out/decisions/`` after checking them against that app."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DmnError(f"cannot read {p}: {getattr(e, 'strerror', None) or e}") from None
    decisions = parse_dmn(text, str(p))
    files = {f"decisions/{d.name}.yaml": to_yaml(d) for d in decisions}
    _check(decisions, str(p))
    if out is not None:
        root = Path(out)
        if not (root / "app.yaml").is_file():
            raise DmnError(f"--out {root}: not an app folder (no app.yaml); create one with `ordo new`")
        for rel in files:
            if (root / rel).exists() and not force:
                raise DmnError(f"{root / rel} exists; use --force to replace it")
        (root / "decisions").mkdir(exist_ok=True)
        for rel, y in files.items():
            (root / rel).write_text(y, encoding="utf-8")
    return files


def _check(decisions: list[DecisionDef], file: str) -> None:
    """Compile the imported tables on their own: a cell Ordo cannot read is refused now, by rule."""
    from ordo.dsl.app import AppDefinition

    try:
        AppDefinition.from_definitions({"name": "dmn_import"}, decisions)
    except DefinitionErrors as e:
        msgs = []
        for err in e.errors:
            path = err.path
            where = ""
            if len(path) >= 5 and path[2] == "rules":
                where = f"rule {int(path[3]) + 1}, {path[4]} entry {int(path[5]) + 1 if len(path) > 5 else ''}: "
            msgs.append(f"{file}: decision {path[1]}: {where}{err.message}")
        raise DmnError("\n".join(msgs)) from None
