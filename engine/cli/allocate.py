"""Allocation and assignment commands: ``ordo allocate``, ``ordo assign``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import textfmt
from .common import CliError, acting_user, add_db_option, add_user_option, open_for


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("app", help="app folder (or builtin:NAME)")
    add_db_option(p)
    add_user_option(p)
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("allocate", help="allocate supply to a demand record with an allocation rule "
                                        "(or release / consume its reservations)")
    _common(p)
    p.add_argument("rule", help="allocation rule name")
    p.add_argument("record", help="demand record id or name")
    p.add_argument("--explain", action="store_true", help="show every candidate, its rank keys and why it "
                                                          "was chosen or not")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--release", action="store_true", help="give back the reservations (e.g. on cancel)")
    mode.add_argument("--consume", action="store_true", help="use up the reservations (on fulfilment)")
    p.add_argument("--dry-run", action="store_true", help="plan and explain, then roll everything back")
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser("assign", help="assign a record with an assignment rule and print the users")
    _common(p)
    p.add_argument("rule", help="assignment rule name")
    p.add_argument("record", help="record id or name (of the rule's entity)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--unassign", action="store_true", help="end the record's current assignments")
    mode.add_argument("--reevaluate", action="store_true",
                      help="keep assignments whose condition still holds, replace the others")
    mode.add_argument("--show", action="store_true", help="only show the current assignments")
    p.set_defaults(func=cmd_assign)


def _key(raw: str) -> int | str:
    return int(raw) if raw.isdigit() else raw


class _DryRun(Exception):
    pass


def cmd_allocate(args: argparse.Namespace) -> int:
    if args.dry_run and (args.release or args.consume):
        raise CliError("--dry-run applies to allocating only")
    with open_for(args) as app:
        service = app.features["allocation"]
        result = None

        def work(tx: Any) -> Any:
            nonlocal result
            if args.release:
                result = service.release(tx, args.rule, _key(args.record))
            elif args.consume:
                result = service.consume(tx, args.rule, _key(args.record))
            else:
                result = service.allocate(tx, args.rule, _key(args.record), explain=args.explain or args.dry_run)
            if args.dry_run:
                raise _DryRun
            return result

        try:  # one unit of work, run again if it loses a deadlock with a concurrent transaction
            app.run(acting_user(args), work, f"allocation {args.rule} of {args.record}")
        except _DryRun:
            pass
    assert result is not None
    if args.format == "json":
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
    elif args.explain or args.dry_run:
        print(result.explain_text() + ("\n(dry run: nothing was saved)" if args.dry_run else ""))
    else:
        _summary(result)
    return 0 if result.ok else 3


def _summary(result) -> None:
    print(f"{result.rule} {result.demand_entity} {result.demand_name}: {result.status}"
          + (f" ({result.message})" if result.message else ""))
    rows = [{"line": ln.idx, "item": ln.item, "quantity": ln.quantity, "location": a.location,
             "supply": a.supply, "allocated": a.quantity} for ln in result.lines for a in ln.allocated]
    rows += [{"line": ln.idx, "item": ln.item, "quantity": ln.quantity, "location": "", "supply": "",
              "allocated": 0, "backorder": ln.backorder} for ln in result.lines if ln.backorder]
    if rows:
        print(textfmt.table(rows))
    elif result.records:
        print(textfmt.table([{"record": r["name"], "status": r.get("status")} for r in result.records]))


def cmd_assign(args: argparse.Namespace) -> int:
    with open_for(args) as app:
        service = app.features["assignment"]
        rule = service.rule(args.rule)
        with app.transaction(acting_user(args)) as tx:
            record = tx.load(rule.entity, _key(args.record))
            if args.unassign:
                users = service.unassign(tx, args.rule, rule.entity, record)
                verb = "unassigned"
            elif args.reevaluate:
                users = service.reevaluate(tx, args.rule, rule.entity, record)
                verb = "assigned"
            elif args.show:
                users = service.current(tx, args.rule, rule.entity, record)
                verb = "assigned"
            else:
                users = service.assign(tx, args.rule, rule.entity, record)
                verb = "assigned"
    if args.format == "json":
        print(json.dumps({"rule": args.rule, "record": record["name"], verb: users}, ensure_ascii=False))
    else:
        print(f"{args.rule} {rule.entity} {record['name']}: {verb} {', '.join(users) or 'nobody'}")
    return 0
