"""Decision tables on the command line: ``ordo decide`` (with ``--explain`` and ``--check``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ordo.dsl.decision_build import table_gaps
from ordo.dsl.decision_check import show
from ordo.dsl.loader import load_app

from ..coerce import to_jsonable
from .common import CliError, acting_user, add_db_option, add_user_option, open_for, read_json_arg


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
    add_user_option(p)
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
    if args.record is not None:
        with open_for(args) as app, app.reader(acting_user(args)) as tx:
            key: int | str = int(args.record) if args.record.isdigit() else args.record
            result = app.features["decisions"].decide_record(tx, args.name, key, explain=args.explain)
    else:
        from ..decisions import Decisions

        data = read_json_arg(args.data, "the inputs")
        result = Decisions(load_app(args.app)).decide(args.name, data, explain=args.explain)
    if args.format == "json":
        print(json.dumps(to_jsonable(result), ensure_ascii=False, indent=2 if args.explain else None))
    elif args.explain:
        print(explain_text(result))
    else:
        print(result_text(result))
    return 0


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


def result_text(result: Any) -> str:
    if isinstance(result, list):
        return "\n".join(result_text(r) for r in result) if result else "(no rule matched)"
    if isinstance(result, dict):
        return "\n".join(f"{k}: {result_text(v)}" for k, v in result.items())
    return result if isinstance(result, str) else _value(result)


def _value(v: Any) -> str:
    return "null" if v is None else show(v) if isinstance(v, (bool, str)) else str(v)


def explain_text(ex: dict) -> str:
    lines = [f"decision {ex['decision']} (hit policy {ex['hit_policy']})",
             "inputs: " + (", ".join(f"{k} = {_value(v)}" for k, v in ex["inputs"].items()) or "none")]
    width = max([len(r["rule"]) for r in ex["rules"]] or [4])
    for r in ex["rules"]:
        note = f"  ({r['annotation']})" if r["annotation"] else ""
        if r["matched"]:
            chosen = " (gives the result)" if r.get("chosen") and len(ex["rules"]) > 1 and ex["hit_policy"] in (
                "FIRST", "PRIORITY") else ""
            lines.append(f"  {r['rule']:<{width}}  matched{chosen}{note}")
            continue
        f = r["failed"]
        why = (f"{f['input']} is null: '{f['cell']}' does not apply" if f["value"] is None and f["outcome"] is None
               else f"{f['input']} = {_value(f['value'])} is not {f['cell']}")
        lines.append(f"  {r['rule']:<{width}}  no: {why}{note}")
    if "error" in ex:
        lines.append(f"error: {ex['error']}")
    else:
        lines.append("result: " + result_text(ex["result"]).replace("\n", ", "))
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
