"""Record commands: query, get, create, update, delete, audit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import textfmt
from .common import (
    CliError,
    acting_user,
    add_create_option,
    add_db_option,
    add_user_option,
    open_for,
    parse_params,
    read_json_arg,
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("app", help="app folder (or builtin:NAME)")
    add_db_option(p)
    add_user_option(p)


def _format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["table", "json", "csv"], default="table", help="output format")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("query", help="list records matching an expression (filtered in SQL)")
    _common(p)
    p.add_argument("entity")
    p.add_argument("--where", help="filter expression, e.g. \"total > 100 and status == 'new'\"")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="value of :NAME in --where")
    p.add_argument("--order-by", help="e.g. --order-by=-created_at,name or 'created_at desc, name'")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--columns", help="comma-separated columns to show")
    _format(p)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("get", help="show one record (by id or name) with its child rows")
    _common(p)
    p.add_argument("entity")
    p.add_argument("key")
    p.set_defaults(func=cmd_get)

    for name, help_ in (("create", "create a record from JSON"), ("update", "change fields of a record")):
        p = sub.add_parser(name, help=help_)
        _common(p)
        p.add_argument("entity")
        if name == "update":
            p.add_argument("key")
            p.add_argument("--expected-version", type=int, help="refuse if the record changed since")
        p.add_argument("data", help="JSON object, or @FILE with one")
        if name == "create":
            add_create_option(p)
        p.set_defaults(func=cmd_create if name == "create" else cmd_update)

    p = sub.add_parser("update-many", help="batch edit: set fields on every record matching --where")
    _common(p)
    p.add_argument("entity")
    p.add_argument("--where", help="filter expression (all records when omitted)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="value of :NAME in --where")
    p.add_argument("--set", action="append", required=True, metavar="FIELD=VALUE", dest="values",
                   help="field to set (repeatable; VALUE is JSON or text)")
    p.set_defaults(func=cmd_update_many)

    p = sub.add_parser("split", help="move child rows (or part of a row's quantity) to a new record")
    _common(p)
    p.add_argument("entity")
    p.add_argument("key")
    p.add_argument("--row", action="append", required=True, metavar="ROW_ID[:QTY]",
                   help="child row to move, optionally only QTY of it (repeatable)")
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("merge", help="merge records that match (their rows gather in the oldest)")
    _common(p)
    p.add_argument("entity")
    p.add_argument("keys", nargs="*", help="records to merge (or --auto)")
    p.add_argument("--auto", action="store_true", help="merge every group of mergeable records")
    p.add_argument("--where", help="with --auto: only records matching this filter")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("delete", help="delete a record")
    _common(p)
    p.add_argument("entity")
    p.add_argument("key")
    p.add_argument("--expected-version", type=int)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("audit", help="show the audit log (newest first)")
    _common(p)
    p.add_argument("--entity")
    p.add_argument("--record", help="record id or name (needs --entity)")
    p.add_argument("--by", help="only changes made by this user")
    p.add_argument("--limit", type=int, default=50)
    _format(p)
    p.set_defaults(func=cmd_audit)


def _open(args: argparse.Namespace):
    return open_for(args)


def _key(raw: str) -> int | str:
    return int(raw) if raw.isdigit() else raw


def _data(raw: str) -> dict[str, Any]:
    data = read_json_arg(raw)
    if not isinstance(data, dict):
        raise CliError("data must be a JSON object of field names to values")
    return data


def _print_rows(rows: list[dict], fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "json":
        print(textfmt.as_json(rows))
    elif fmt == "csv":
        sys.stdout.write(textfmt.as_csv(rows, columns))
    else:
        print(textfmt.table(rows, columns))


def cmd_query(args: argparse.Namespace) -> int:
    with _open(args) as app:
        rows = app.query(args.entity, args.where, user=acting_user(args), params=parse_params(args.param),
                         order_by=args.order_by, limit=args.limit, offset=args.offset)
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    _print_rows(rows, args.format, columns)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    with _open(args) as app:
        print(textfmt.as_json(app.get(args.entity, _key(args.key), user=acting_user(args))))
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    with _open(args) as app:
        rec = app.create(args.entity, _data(args.data), user=acting_user(args))
    print(textfmt.as_json(rec))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    with _open(args) as app:
        rec = app.update(args.entity, _key(args.key), _data(args.data), user=acting_user(args),
                         expected_version=args.expected_version)
    print(textfmt.as_json(rec))
    return 0


def cmd_update_many(args: argparse.Namespace) -> int:
    data = parse_params(args.values)
    with _open(args) as app:
        updated = app.update_many(args.entity, args.where, data, acting_user(args), params=parse_params(args.param))
    print(f"updated {len(updated)} {args.entity} record(s)" + (f": {', '.join(r['name'] for r in updated[:20])}"
                                                               if updated else ""))
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    parts: list[Any] = []
    with _open(args) as app:
        spec = app.compiled.entity(args.entity).defn.split
        for item in args.row:
            rid, _, qty = item.partition(":")
            if not rid.isdigit():
                raise CliError(f"--row {item!r}: expected ROW_ID or ROW_ID:QTY")
            if qty and (spec is None or not spec.quantity):
                raise CliError(f"--row {item!r}: {args.entity} rows cannot be split by quantity")
            parts.append({"id": int(rid), spec.quantity: qty} if qty else int(rid))
        kept, new = app.split(args.entity, _key(args.key), parts, acting_user(args))
    print(f"split {kept['name']}: new record {new['name']}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    with _open(args) as app:
        if args.auto:
            kept = app.merge_all(args.entity, acting_user(args), where=args.where)
        elif len(args.keys) >= 2:
            kept = [app.merge(args.entity, [_key(k) for k in args.keys], acting_user(args))]
        else:
            raise CliError("name at least two records to merge, or use --auto")
    print(f"merged into {len(kept)} record(s)" + (": " + ", ".join(r["name"] for r in kept) if kept else ""))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _open(args) as app:
        app.delete(args.entity, _key(args.key), user=acting_user(args), expected_version=args.expected_version)
    print(f"deleted {args.entity} {args.key}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    with _open(args) as app:
        entries = app.audit_log(user=acting_user(args), entity=args.entity,
                                record=_key(args.record) if args.record else None, by=args.by, limit=args.limit)
    rows = [{"at": e.at, "user": e.user, "action": e.action, "entity": e.entity, "record": e.record_name,
             "changes": json.dumps(e.changes, ensure_ascii=False) if args.format != "json" else e.changes}
            for e in entries]
    _print_rows(rows, args.format)
    return 0
