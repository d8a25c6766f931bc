"""``ordo import``: feed a payload file (JSON, JSON lines, CSV) through an intake definition."""

from __future__ import annotations

import argparse
import sys

from .. import textfmt
from .common import CliError, acting_user, add_create_option, add_db_option, add_user_option, open_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a JSON/CSV file through an intake (idempotent; bad rows reported)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("intake", help="intake name, e.g. orders")
    p.add_argument("file", help="payload file: .json, .jsonl or .csv")
    p.add_argument("--channel", help="channel record the payload comes from")
    p.add_argument("--shape", help="payload shape (default: the channel's, or the only one for the file type)")
    p.add_argument("--dry-run", action="store_true", help="check every document, store nothing")
    p.add_argument("--batch-size", type=int, default=500, help="documents per transaction (default 500)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="report format")
    add_db_option(p)
    add_user_option(p)
    add_create_option(p)
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    with open_for(args) as app:
        runtime = app.features.get("intake")
        if runtime is None:  # pragma: no cover - the feature is always installed
            raise CliError("this Ordo has no intake feature")
        result = runtime.import_file(acting_user(args), args.intake, args.file, channel=args.channel, shape=args.shape,
                                     dry_run=args.dry_run, batch_size=args.batch_size)
    if args.format == "json":
        print(textfmt.as_json(result.to_dict()))
        return 0 if result.ok else 1
    print(f"{args.file} via {result.intake}/{result.shape}"
          + (f" from {result.channel}" if result.channel else "") + (" (dry run)" if result.dry_run else ""))
    print(result.summary())
    for d in result.duplicates:
        print(f"  duplicate: {args.file}:{d.line}: {d.key}: already imported as {d.existing}")
    for e in result.errors:
        where = f"{args.file}:{e.line}" if e.line is not None else f"{args.file}: document {e.document}"
        who = f" ({e.key})" if e.key else ""
        what = f"{e.field}: " if e.field else ""
        print(f"  error: {where}{who}: {what}{e.reason}", file=sys.stderr)
    return 0 if result.ok else 1
