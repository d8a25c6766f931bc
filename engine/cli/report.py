"""``ordo report APP NAME``: run a report and print or save it (table, JSON, CSV, XLSX, SVG chart)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import CliError, acting_user, add_db_option, add_user_option, open_for, parse_params

FORMATS = ("table", "json", "csv", "xlsx", "svg")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="run a report (aggregated in SQL) and print or save it")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("name", nargs="?", help="report name (omit to list the app's reports)")
    add_db_option(p)
    add_user_option(p)
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="report parameter, e.g. --param period=last_month --param region=north")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from --out's extension, else table)")
    p.add_argument("--out", help="write to this file instead of standard output (needed for xlsx on a terminal)")
    p.add_argument("--into", "--materialize", dest="into", action="store_true",
                   help="write the result rows into records of the report's 'materialize.into' entity "
                        "(upsert by its key columns) and print what changed")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    fmt = args.format
    if fmt is None:
        suffix = Path(args.out).suffix.lower().lstrip(".") if args.out else ""
        fmt = suffix if suffix in FORMATS else "table"
    with open_for(args) as app:
        reports = app.features["reports"]
        if not args.name:
            for name in reports.names():
                r = reports.get(name)
                params = ", ".join(f"{k} ({p.type})" for k, p in r.defn.params.items())
                print(f"{name}: {r.label}" + (f"  [params: {params}]" if params else ""))
            return 0
        if args.into:
            done = reports.refresh(args.name, user=acting_user(args), params=parse_params(args.param))
            if fmt == "json":
                print(json.dumps(done.to_dict(), indent=2))
            else:
                print(done.summary())
            return 0
        result = reports.report(args.name, user=acting_user(args), params=parse_params(args.param))
        output = reports.export(result, fmt)
    if args.out:
        path = Path(args.out)
        try:
            if isinstance(output, bytes):
                path.write_bytes(output)
            else:
                path.write_text(output, encoding="utf-8")
        except OSError as e:
            raise CliError(f"cannot write {path}: {e.strerror}") from None
        print(f"{len(result.rows)} row(s) written to {path}")
        return 0
    if isinstance(output, bytes):
        if sys.stdout.isatty():
            raise CliError(f"{fmt} output is binary: use --out FILE.{fmt}")
        sys.stdout.buffer.write(output)
        sys.stdout.flush()
    else:
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
    return 0
