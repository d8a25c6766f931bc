"""Record commands: query, get, create, update, delete, audit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ordo.dsl.base import label_text

from .. import textfmt
from ..pages import query_pages
from ..present import Presenter, audit_changes
from .common import (
    PAGE,
    CliError,
    acting_user,
    add_create_option,
    add_db_option,
    add_lang_option,
    add_page_options,
    add_user_option,
    open_for,
    page_args,
    parse_params,
    read_json_arg,
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("app", help="app folder (or builtin:NAME)")
    add_db_option(p)
    add_user_option(p)


def _format(p: argparse.ArgumentParser, choices: tuple[str, ...] = ("table", "json", "csv"),
            default: str = "table") -> None:
    p.add_argument("--format", choices=choices, default=default,
                   help=f"output format (default {default}): tables and CSV show link titles and option labels; "
                        "JSON gives links as record names and decimals as exact strings")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("query", help="list records matching an expression (filtered in SQL)")
    _common(p)
    p.add_argument("entity")
    p.add_argument("--where", help="filter expression, e.g. \"total > 100 and status == 'new'\"")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="value of :NAME in --where")
    p.add_argument("--order-by", help="e.g. --order-by=-created_at,name or 'created_at desc, name'")
    add_page_options(p)
    p.add_argument("--columns", help="comma-separated columns to show; dotted paths follow links, "
                                     "e.g. name,customer,customer.level")
    _format(p)
    add_lang_option(p)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("get", help="show one record (by id or name) with its child rows")
    _common(p)
    p.add_argument("entity")
    p.add_argument("key")
    _format(p, ("json", "table"), "json")
    add_lang_option(p)
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
    add_page_options(p, "entries")
    _format(p)
    add_lang_option(p)
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


def _columns(raw: str | None) -> list[str] | None:
    columns = [c.strip() for c in raw.split(",") if c.strip()] if raw else None
    return columns or None


def cmd_query(args: argparse.Namespace) -> int:
    limit, offset = page_args(args)
    params = parse_params(args.param)
    with _open(args) as app, app.reader(acting_user(args)) as tx:
        shown = Presenter(tx, args.entity, _columns(args.columns), args.lang)
        keys = shown.keys or shown.default_keys()
        pages = query_pages(tx, args.entity, args.where, params, args.order_by, offset=offset,
                            limit=PAGE if limit is None and args.format == "table" else limit,
                            with_children=shown.needs_children)
        if args.format == "table":
            rows = [r for page in pages for r in page]
            print(textfmt.table(shown.text(rows), keys, headers=shown.headers(keys)))
            total = tx.count(args.entity, args.where, params) if offset or len(rows) == (limit or PAGE) \
                else len(rows)
            notice = textfmt.page_notice(offset, len(rows), total)
            if notice:
                print(notice)
        elif args.format == "csv":
            out = textfmt.CsvWriter(sys.stdout, keys)
            for page in pages:
                out.write(shown.text(page))
        else:
            out = textfmt.JsonArrayWriter(sys.stdout)
            for page in pages:
                out.write(shown.data(page))
            out.close()
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    with _open(args) as app, app.reader(acting_user(args)) as tx:
        rec = tx.get(args.entity, _key(args.key))
        shown = Presenter(tx, args.entity, lang=args.lang)
        if args.format == "json":
            print(textfmt.as_json(shown.data([rec])[0]))
            return 0
        print(_record_table(tx, shown, shown.text([rec])[0]))
    return 0


def _record_table(tx: Any, shown: Presenter, rec: dict[str, Any]) -> str:
    """One record for people: its label and name, ``label  value`` lines, then a table per child table."""
    ce = shown.ce
    title = f"{label_text(ce.defn.label, shown.lang, ce.label)} {rec.get('name') or ''}".rstrip()
    tables = {n for n, f in ce.fields.items() if f.child is not None}
    parts = [title, "=" * min(78, textfmt.text_width(title)),
             textfmt.record((shown.label(k), v) for k, v in rec.items() if k not in tables)]
    for name in sorted(tables, key=list(rec).index) if tables else []:
        rows = rec.get(name) or []
        child = Presenter(tx, ce.fields[name].child.name, lang=shown.lang)  # type: ignore[union-attr]
        keys = list(rows[0]) if rows else []
        parts += ["", f"{shown.label(name)} ({len(rows)})",
                  textfmt.table(rows, keys, headers=child.headers(keys)) if rows else "(no rows)"]
    return "\n".join(parts)


def _show_record(app: Any, args: argparse.Namespace, rec: dict[str, Any]) -> None:
    """A record just written, as JSON with links as names (what input accepts)."""
    with app.reader(acting_user(args)) as tx:
        print(textfmt.as_json(Presenter(tx, args.entity).data([rec])[0]))


def cmd_create(args: argparse.Namespace) -> int:
    with _open(args) as app:
        rec = app.create(args.entity, _data(args.data), user=acting_user(args))
        _show_record(app, args, rec)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    with _open(args) as app:
        rec = app.update(args.entity, _key(args.key), _data(args.data), user=acting_user(args),
                         expected_version=args.expected_version)
        _show_record(app, args, rec)
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
    limit, offset = page_args(args)
    record = _key(args.record) if args.record else None
    with _open(args) as app:
        def read(first: int, count: int) -> list:
            return app.audit_log(user=acting_user(args), entity=args.entity, record=record, by=args.by,
                                 limit=count, offset=first)

        if args.format == "table":
            size = PAGE if limit is None else limit
            entries = read(offset, size + 1)
            more, entries = len(entries) > size, entries[:size]
            rows = _audit_rows(app, args, entries)
            print(textfmt.table(rows, _AUDIT_KEYS, max_width=100, headers=_audit_headers(args.lang))
                  if rows else "(no entries)")
            if more:
                print(f"entries {offset + 1:,}-{offset + len(entries):,} shown, more match; "
                      f"next page: --offset {offset + len(entries)}")
            return 0
        # exports are complete unless --limit: pages of 1,000, newest first (entries written meanwhile
        # shift the pages; an entry already written is not written again)
        writer: Any = textfmt.CsvWriter(sys.stdout, _AUDIT_KEYS) if args.format == "csv" \
            else textfmt.JsonArrayWriter(sys.stdout)
        done, last_id = 0, None
        while limit is None or done < limit:
            want = 1000 if limit is None else min(1000, limit - done)
            entries = read(offset + done, want)
            fresh = [e for e in entries if last_id is None or e.id < last_id]
            if fresh:
                writer.write(_audit_rows(app, args, fresh))
                last_id = fresh[-1].id
            done += len(entries)
            if len(entries) < want:
                break
        if isinstance(writer, textfmt.JsonArrayWriter):
            writer.close()
    return 0


_AUDIT_KEYS = ["at", "user", "action", "entity", "record", "changes"]
_AUDIT_HEADERS = {"zh": ["时间", "用户", "操作", "对象", "记录", "变更"]}


def _audit_headers(lang: str) -> list[str]:
    return _AUDIT_HEADERS.get(lang, _AUDIT_KEYS)


def _audit_rows(app: Any, args: argparse.Namespace, entries: list) -> list[dict[str, Any]]:
    """Audit entries with link values shown as titles (table, CSV) or record names (JSON)."""
    text = args.format != "json"
    with app.reader(acting_user(args)) as tx:
        changes = audit_changes(tx, entries, lang=args.lang, text=text)
        labels = _labeler(tx, args.lang) if args.format == "table" else None
    rows = []
    for e, ch in zip(entries, changes, strict=True):
        if labels is not None:
            shown: Any = "; ".join(f"{labels(e.entity, f)}: {_brief(b)} → {_brief(a)}" for f, (b, a) in ch.items())
        elif args.format == "csv":
            shown = json.dumps({f: [textfmt.cell_text(b), textfmt.cell_text(a)] for f, (b, a) in ch.items()},
                               ensure_ascii=False)
        else:
            shown = ch
        rows.append({"at": e.at, "user": e.user, "action": e.action, "entity": e.entity, "record": e.record_name,
                     "changes": shown})
    return rows


def _brief(v: Any) -> str:
    return "∅" if v is None or v == "" else textfmt.cell_text(v)


def _labeler(tx: Any, lang: str) -> Any:
    presenters: dict[str, Presenter | None] = {}

    def label(entity: str, field: str) -> str:
        if entity not in presenters:
            presenters[entity] = Presenter(tx, entity, lang=lang) if entity in tx.app.compiled.entities else None
        p = presenters[entity]
        return p.label(field) if p is not None else field

    return label
