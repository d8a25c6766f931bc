"""Decision tables on the command line: ``ordo decide`` (with ``--explain`` and ``--check``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ordo.dsl.decision_build import table_gaps
from ordo.dsl.decision_check import show
from ordo.dsl.loader import load_app

from ..coerce import to_jsonable
from .common import (
    CliError,
    acting_user,
    add_db_option,
    add_lang_option,
    add_user_option,
    open_for,
    read_json_arg,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decide", help="evaluate a decision table on JSON input or a stored record "
                                      "(--explain: why each rule matched or not)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("name", help="decision table name")
    p.add_argument("data", nargs="?", help="inputs as a JSON object (or @FILE): the named inputs, or the "
                                           "fields of a record of the table's entity")
    p.add_argument("--record", metavar="KEY", help="decide on this stored record (id or name) instead; needs "
                                                   "the database")
    p.add_argument("--explain", action="store_true", help="show every rule, whether it matched and, if not, "
                                                          "which cell did not")
    p.add_argument("--check", action="store_true", help="list the input combinations no rule covers (gaps)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    add_db_option(p)
    add_user_option(p)  # with --user, the inputs are decided as that user too (their roles must grant it)
    add_lang_option(p)
    p.set_defaults(func=cmd_decide)

    p = sub.add_parser("import-dmn", help="convert the decision tables of a DMN 1.1-1.5 file to Ordo YAML")
    p.add_argument("file", help="the .dmn file (e.g. exported by Camunda Modeler)")
    p.add_argument("--out", metavar="APP", help="write the tables into this app folder's decisions/ "
                                                "(default: print the YAML)")
    p.add_argument("--force", action="store_true", help="replace decision files that exist")
    p.set_defaults(func=cmd_import_dmn)

    p = sub.add_parser("export-dmn", help="write an app's decision tables as DMN 1.3 XML (for Camunda Modeler "
                                          "and other DMN tools)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("names", nargs="*", help="decision tables to export (default: all)")
    p.add_argument("--out", metavar="FILE", help="write to this file (default: print)")
    p.set_defaults(func=cmd_export_dmn)


def cmd_decide(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    if (args.data is None) == (args.record is None):
        raise CliError("give the inputs as JSON, or --record KEY (not both)")
    if args.record is not None or args.user:  # as a user: their roles must grant the table (needs the database)
        data = read_json_arg(args.data, "the inputs") if args.data is not None else None
        with open_for(args) as app, app.reader(acting_user(args)) as tx:
            service = app.features["decisions"]
            table = service.allowed(tx, args.name)
            if data is None:
                key: int | str = int(args.record) if args.record.isdigit() else args.record
                result = service.decide_record(tx, args.name, key, explain=args.explain)
            else:
                hidden = app.permissions.hidden(tx.user, table.entity) if table.entity else frozenset()
                result = service.decide(args.name, data, explain=args.explain, hidden=hidden)
            definition = app.definition
    else:
        from ..decisions import Decisions

        data = read_json_arg(args.data, "the inputs")
        definition = load_app(args.app)
        result = Decisions(definition).decide(args.name, data, explain=args.explain)
    lang = getattr(args, "lang", "en") or "en"
    if args.format == "json":
        print(json.dumps(to_jsonable(result), ensure_ascii=False, indent=2 if args.explain else None))
    elif args.explain:
        print(explain_text(result, lang, _labels(definition, args.name, lang),
                           _value_labels(definition, args.name, lang), _single(definition, args.name)))
    else:
        values = _value_labels(definition, args.name, lang)
        print(result_text(result, _labels(definition, args.name, lang), lang, values, _single(definition, args.name)))
    return 0


_WORDS = {"decision": "决策表", "hit policy": "命中策略", "inputs": "输入", "none": "无", "matched": "匹配",
          "gives the result": "给出结果", "no": "不匹配", "is not": "不满足", "is null": "为空",
          "does not apply": "不适用", "result": "结果", "error": "错误", "rule": "规则",
          "no rule matched": "没有匹配的规则"}


def _w(text: str, lang: str) -> str:
    return _WORDS.get(text, text) if lang == "zh" else text


def _labels(definition: Any, name: str, lang: str) -> dict[str, str]:
    """Display names in ``lang``: "" -> the table, then its inputs and outputs by name."""
    from ordo.dsl.base import label_text

    d = definition.get("decision", name)
    if d is None or lang == "en":
        return {}
    out = {"": label_text(d.label, lang, name)}
    out.update({c.name: label_text(c.label, lang, c.name) for c in [*d.inputs, *d.outputs]})
    return out


def _value_labels(definition: Any, name: str, lang: str) -> dict[str, dict[Any, str]]:
    """Option labels in ``lang`` by column name: for a table over an entity, an output (or input) named like
    an enum field of that entity shows its values as that field's option labels (``{en, zh}``)."""
    from ordo.dsl.base import label_text

    d = definition.get("decision", name)
    entity = definition.get("entity", d.entity) if d is not None and d.entity else None
    if entity is None or lang == "en":
        return {}
    out: dict[str, dict[Any, str]] = {}
    for c in [*(i for i in d.inputs if i.expr is None), *d.outputs]:
        f = entity.fields.get(c.name)
        if f is not None and f.type == "enum":
            found = {o.value: label_text(o.label, lang, o.value) for o in f.options or ()
                     if not isinstance(o, str) and o.label is not None}
            if found:
                out[c.name] = found
    return out


def _single(definition: Any, name: str) -> str | None:
    """The output of a one-output table (its results are bare values, not objects)."""
    d = definition.get("decision", name)
    return d.outputs[0].name if d is not None and len(d.outputs) == 1 else None


def _check(args: argparse.Namespace) -> int:
    from ..decisions import Decisions

    definition = load_app(args.app)
    table = Decisions(definition).table(args.name)
    found = table_gaps(table, definition.get("decision", args.name), definition.schema)
    if found is None:
        print(f"decision {args.name}: gaps cannot be checked (an input without a known domain, or a cell "
              f"reading other fields)")
        return 0
    if not found:
        print(f"decision {args.name}: every input combination is covered")
        return 0
    for g in found:
        print(f"no rule covers: {g}")
    return 1


def result_text(result: Any, labels: dict[str, str] | None = None, lang: str = "en",
                values: dict[str, dict[Any, str]] | None = None, output: str | None = None) -> str:
    """A result as text: names as ``labels``; the values of ``output`` (the column a bare value belongs to)
    as their option labels in ``values``."""
    labels, values = labels or {}, values or {}
    if isinstance(result, list):
        return "\n".join(result_text(r, labels, lang, values, output) for r in result) if result else (
            f"({_w('no rule matched', lang)})")
    if isinstance(result, dict):
        return "\n".join(f"{labels.get(k, k)}: {result_text(v, labels, lang, values, k)}" for k, v in result.items())
    shown = values.get(output or "", {}).get(result) if isinstance(result, str) else None
    if shown is not None:
        return shown
    return result if isinstance(result, str) else _value(result)


def _value(v: Any) -> str:
    return "null" if v is None else show(v) if isinstance(v, (bool, str)) else str(v)


def explain_text(ex: dict, lang: str = "en", labels: dict[str, str] | None = None,
                 values: dict[str, dict[Any, str]] | None = None, output: str | None = None) -> str:
    from ordo.dsl.base import label_text

    labels, values = labels or {}, values or {}

    def shown(column: str, v: Any) -> str:
        found = values.get(column, {}).get(v) if isinstance(v, str) else None
        return found if found is not None else _value(v)

    def rule(r: dict) -> str:
        return f"{_w('rule', lang)} {r['index']}" if r["rule"] == f"rule {r['index']}" else r["rule"]

    name = labels.get("", ex["decision"])
    lines = [f"{_w('decision', lang)} {name} ({_w('hit policy', lang)} {ex['hit_policy']})",
             f"{_w('inputs', lang)}: " + (", ".join(f"{labels.get(k, k)} = {shown(k, v)}" for k, v in
                                                   ex["inputs"].items()) or _w("none", lang))]
    width = max([len(rule(r)) for r in ex["rules"]] or [4])
    for r in ex["rules"]:
        note = f"  ({label_text(r['annotation'], lang)})" if r["annotation"] else ""
        if r["matched"]:
            chosen = f" ({_w('gives the result', lang)})" if r.get("chosen") and len(ex["rules"]) > 1 and \
                ex["hit_policy"] in ("FIRST", "PRIORITY") else ""
            lines.append(f"  {rule(r):<{width}}  {_w('matched', lang)}{chosen}{note}")
            continue
        f = r["failed"]
        what = labels.get(f["input"], f["input"])
        why = (f"{what} {_w('is null', lang)}: '{f['cell']}' {_w('does not apply', lang)}"
               if f["value"] is None and f["outcome"] is None
               else f"{what} = {shown(f['input'], f['value'])} {_w('is not', lang)} {f['cell']}")
        lines.append(f"  {rule(r):<{width}}  {_w('no', lang)}: {why}{note}")
    if "error" in ex:
        lines.append(f"{_w('error', lang)}: {ex['error']}")
    else:
        lines.append(f"{_w('result', lang)}: " + result_text(ex["result"], labels, lang, values, output).replace("\n", ", "))
    return "\n".join(lines)


def cmd_import_dmn(args: argparse.Namespace) -> int:
    from ..decisions.dmn_import import import_dmn

    files = import_dmn(args.file, args.out, args.force)
    if args.out is None:
        print("\n---\n".join(files.values()), end="")
    else:
        for rel in files:
            print(f"wrote {args.out.rstrip('/')}/{rel}")
    return 0


def cmd_export_dmn(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..decisions.dmn_export import export_dmn

    definition = load_app(args.app)
    if not definition.names("decision"):
        raise CliError(f"{args.app} has no decision tables")
    xml = export_dmn(definition, args.names or None)
    if args.out is None:
        print(xml, end="")
        return 0
    try:
        Path(args.out).write_text(xml, encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write {args.out}: {e.strerror or e}") from None
    print(f"wrote {args.out}")
    return 0
