"""``ordo report APP NAME``: run a report and print or save it (table, JSON, CSV, XLSX, SVG chart)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..reports.export import EXPORT_FORMATS, EXTENSIONS, FORMATS
from .common import (
    CliError,
    acting_user,
    add_db_option,
    add_lang_option,
    add_user_option,
    open_for,
    parse_params,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="run a report (aggregated in SQL) and print or save it")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("name", nargs="?", help="report name (omit to list the app's reports)")
    p.add_argument("summary_report", nargs="?", metavar="NAME",
                   help="with 'ordo report rebuild APP NAME' / 'ordo report verify APP NAME': recompute the "
                        "report's maintained summary from a full scan / compare it with one (exit 1 if they differ)")
    add_db_option(p)
    add_user_option(p)
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="report parameter, e.g. --param period=last_month --param region=north")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from --out's extension, else table)")
    p.add_argument("--out", help="write to this file instead of standard output (needed for xlsx on a terminal); "
                                 f"its extension names the format: {', '.join('.' + e for e in EXTENSIONS)}")
    add_lang_option(p)
    p.add_argument("--into", "--materialize", dest="into", action="store_true",
                   help="write the result rows into records of the report's 'materialize.into' entity "
                        "(upsert by its key columns) and print what changed")
    p.add_argument("--explain", action="store_true",
                   help="print the SQL the report runs (as --user, with --param values) and the database's "
                        "plan instead of running it")
    p.set_defaults(func=cmd_report)


def output_format(fmt: str | None, out: str | None) -> str:
    """The format to write: --format, else --out's extension, else a table. An extension that is no
    supported format, or names another format than --format, is refused."""
    if not out:
        return fmt or "table"
    suffix = Path(out).suffix.lower().lstrip(".")
    supported = ", ".join("." + e for e in EXTENSIONS)
    if not suffix:
        if fmt is None:
            raise CliError(f"--out {out}: no extension; name the format with --format or an extension ({supported})")
        return fmt
    if suffix not in EXTENSIONS:
        raise CliError(f"--out {out}: '.{suffix}' is not a supported report format (supported: {supported})")
    if fmt is not None and EXTENSIONS[suffix] != fmt:
        raise CliError(f"--out {out}: the extension '.{suffix}' does not match --format {fmt}")
    return EXTENSIONS[suffix]


def cmd_summary(args: argparse.Namespace) -> int:
    """``ordo report rebuild APP NAME`` / ``ordo report verify APP NAME``."""
    action, args.app, name = args.app, args.name, args.summary_report
    if not args.app or not name:
        raise CliError(f"usage: ordo report {action} APP NAME")
    with open_for(args) as app:
        reports = app.features["reports"]
        if action == "rebuild":
            groups = reports.rebuild(name, user=acting_user(args))
            print(f"summary of report {name} rebuilt from a full scan: {groups} group(s)")
            return 0
        problems = reports.verify(name, user=acting_user(args))
    for line in problems:
        print(line)
    if problems:
        print(f"summary of report {name} differs from a full scan in {len(problems)} group(s); "
              f"`ordo report rebuild APP {name}` recomputes it", file=sys.stderr)
        return 1
    print(f"summary of report {name} equals a full scan")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if args.app in ("rebuild", "verify"):
        return cmd_summary(args)
    if args.summary_report:
        raise CliError(f"unexpected argument {args.summary_report!r} (rebuild and verify take APP NAME)")
    fmt = output_format(args.format, args.out)
    with open_for(args) as app:
        reports = app.features["reports"]
        if not args.name:
            for name in reports.names():
                r = reports.get(name)
                params = ", ".join(f"{k} ({p.type})" for k, p in r.defn.params.items())
                print(f"{name}: {r.title(args.lang)}" + (f"  [params: {params}]" if params else ""))
            return 0
        if args.explain:
            sys.stdout.write(reports.explain(args.name, user=acting_user(args), params=parse_params(args.param)))
            return 0
        if args.into:
            done = reports.refresh(args.name, user=acting_user(args), params=parse_params(args.param))
            if fmt == "json":
                print(json.dumps(done.to_dict(), indent=2))
            else:
                print(done.summary())
            return 0
        if fmt in EXPORT_FORMATS:
            return _stream(args, reports, fmt)
        result = reports.report(args.name, user=acting_user(args), params=parse_params(args.param),
                                lang=args.lang)
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


def _stream(args: argparse.Namespace, reports: Any, fmt: str) -> int:
    """CSV or XLSX: every row, read page by page and written as it comes (no row bound)."""
    if not args.out and fmt == "xlsx" and sys.stdout.isatty():
        raise CliError(f"{fmt} output is binary: use --out FILE.{fmt}")
    reports.get(args.name)
    params = parse_params(args.param)
    path = Path(args.out) if args.out else None
    part = path.with_name(path.name + ".part") if path is not None else None  # renamed when complete
    try:
        out = part.open("wb") if part is not None else sys.stdout.buffer
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror}") from None
    try:
        with reports.app.reader(acting_user(args)) as tx:
            n = reports.stream(tx, args.name, fmt, out, params, args.lang)
        if part is not None:
            out.close()
            part.replace(path)
    except BaseException:
        if part is not None:
            out.close()
            part.unlink(missing_ok=True)  # no partial file left behind; an existing --out file stays
        raise
    if path is None:
        out.flush()
        return 0
    print(f"{n} row(s) written to {path}")
    return 0
