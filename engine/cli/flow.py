"""``ordo flow ...``: simulate and draw flows; start them, act on tasks, read inboxes and timelines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .. import textfmt
from .common import (
    PAGE,
    acting_user,
    add_db_option,
    add_lang_option,
    add_page_options,
    add_user_option,
    open_for,
    page_args,
    read_json_arg,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flow", help="approval flows: simulate, diagram, start, act, inbox, timeline")
    fsub = p.add_subparsers(dest="flow_command", metavar="FLOW_COMMAND")
    fsub.required = True

    s = fsub.add_parser("simulate", help="print the path a record would take and who would be asked (no writes)")
    s.add_argument("app")
    s.add_argument("flow")
    s.add_argument("--record", required=True, help="JSON file with the record's field values")
    s.add_argument("--decide", action="append", metavar="NODE=approve|reject",
                   help="decision at an approval node (default: approve)")
    s.add_argument("--initiator", default="admin", help="user who would start the flow")
    add_db_option(s)
    add_lang_option(s)
    s.set_defaults(func=cmd_simulate)

    s = fsub.add_parser("diagram", help="draw the flow graph as SVG or Mermaid text")
    s.add_argument("app")
    s.add_argument("flow")
    s.add_argument("--out", help="output file (default: standard output)")
    s.add_argument("--format", choices=["svg", "mermaid"], help="default: from --out (.svg, .mmd), else svg")
    add_lang_option(s)
    s.set_defaults(func=cmd_diagram)

    s = fsub.add_parser("start", help="start a flow on a record")
    s.add_argument("app")
    s.add_argument("flow")
    s.add_argument("record", help="record id or name")
    add_db_option(s)
    add_user_option(s)
    s.set_defaults(func=cmd_start)

    s = fsub.add_parser("act", help="act on a task: approve, reject, transfer, add_approver, comment, cancel_task")
    s.add_argument("app")
    s.add_argument("task", type=int)
    s.add_argument("action", choices=["approve", "reject", "transfer", "add_approver", "comment", "cancel_task"])
    s.add_argument("--comment")
    s.add_argument("--to", help="reject: earlier node to send back to; transfer/add_approver: user")
    s.add_argument("--position", choices=["before", "after"], default="after", help="add_approver position")
    add_db_option(s)
    add_user_option(s)
    s.set_defaults(func=cmd_act)

    s = fsub.add_parser("instance", help="act on a flow instance: withdraw, urge, cancel, comment")
    s.add_argument("app")
    s.add_argument("instance", type=int)
    s.add_argument("action", choices=["withdraw", "urge", "cancel", "comment"])
    s.add_argument("--comment")
    add_db_option(s)
    add_user_option(s)
    s.set_defaults(func=cmd_instance)

    s = fsub.add_parser("inbox", help="pending tasks of a user (directly or through roles); overdue flagged")
    s.add_argument("app")
    s.add_argument("--of", help="whose inbox (admins only; default: the acting user)")
    add_page_options(s, "tasks")
    add_db_option(s)
    add_user_option(s)
    s.set_defaults(func=cmd_inbox)

    for name, helptext in (("timeline", "who did what and when, per record"),
                           ("status", "the record's flow: status, current node(s), pending tasks")):
        s = fsub.add_parser(name, help=helptext)
        s.add_argument("app")
        s.add_argument("entity")
        s.add_argument("record", help="record id or name")
        add_db_option(s)
        add_user_option(s)
        s.set_defaults(func=cmd_timeline if name == "timeline" else cmd_status)


def _key(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _open(args: argparse.Namespace) -> Any:
    return open_for(args)


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..app import open_app
    from ..db import normalize_url

    record = read_json_arg("@" + args.record, "--record")
    decisions = {}
    for item in args.decide or []:
        node, _, decision = item.partition("=")
        decisions[node.strip()] = decision.strip()
    url = normalize_url(args.db)
    has_db = not url.startswith("sqlite:///") or Path(url[len("sqlite:///"):]).exists()
    with (open_for(args) if has_db else open_app(args.app, "sqlite://", sync=False, check=False)) as app:
        steps = app.features["flows"].simulate(args.flow, record, initiator=args.initiator, decisions=decisions,
                                               database=has_db, lang=args.lang)
    for i, step in enumerate(steps, 1):
        print(f"{i:>2}. {step.node} ({step.type}): {step.text}")
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    fmt = args.format or ("mermaid" if args.out and Path(args.out).suffix in (".mmd", ".mermaid", ".md")
                          else "svg")
    with _diagram_app(args) as app:
        text = app.features["flows"].diagram(args.flow, fmt, args.lang)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out} ({fmt})")
    else:
        print(text, end="")
    return 0


def _diagram_app(args: argparse.Namespace) -> Any:
    from ..app import open_app

    return open_app(args.app, "sqlite://", sync=False, check=False)  # drawing needs no database


def cmd_start(args: argparse.Namespace) -> int:
    with _open(args) as app, app.transaction(acting_user(args)) as tx:
        flows = app.features["flows"]
        iid = flows.start(tx, args.flow, _key(args.record))
        st = flows.status(tx, flows.flow(args.flow).entity, _key(args.record))
    print(f"started instance {iid}: {st.status}" + (f" at {', '.join(st.current)}" if st.current else ""))
    return 0


def cmd_act(args: argparse.Namespace) -> int:
    with _open(args) as app, app.transaction(acting_user(args)) as tx:
        result = app.features["flows"].act(tx, args.task, args.action, comment=args.comment, to=args.to,
                                           position=args.position)
    print(f"task {args.task}: {args.action} done" + (f" (new task {result})" if isinstance(result, int) else ""))
    return 0


def cmd_instance(args: argparse.Namespace) -> int:
    with _open(args) as app, app.transaction(acting_user(args)) as tx:
        flows = app.features["flows"]
        if args.action == "comment":
            flows.comment(tx, args.instance, args.comment or "")
        else:
            getattr(flows, args.action)(tx, args.instance, args.comment)
    print(f"instance {args.instance}: {args.action} done")
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    from ..flows.inbox import inbox

    limit, offset = page_args(args)
    size = PAGE if limit is None else limit
    with _open(args) as app, app.reader(acting_user(args)) as tx:
        tasks = inbox(tx, args.of, limit=size + 1, offset=offset)  # one more: are there more?
    more, tasks = len(tasks) > size, tasks[:size]
    rows = [{"task": t.id, "flow": t.flow, "step": t.node, "record": t.record_name, "for": t.assignee or
             f"role {t.role}", "since": t.created_at, "due": t.due_at, "overdue": "OVERDUE" if t.overdue else ""}
            for t in tasks]
    print(textfmt.table(rows) if rows else "no pending tasks" + (f" at --offset {offset}" if offset else ""))
    if more:
        print(f"tasks {offset + 1:,}-{offset + len(rows):,} shown, more pending; next page: --offset "
              f"{offset + len(rows)}")
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    with _open(args) as app, app.reader(acting_user(args)) as tx:
        events = app.features["flows"].timeline(tx, args.entity, _key(args.record))
    rows = [{"at": e.at, "who": e.user, "what": e.action, "step": e.node, "comment": e.comment,
             "detail": json.dumps(e.detail, ensure_ascii=False) if e.detail else ""} for e in events]
    print(textfmt.table(rows) if rows else "no flow history")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _open(args) as app, app.reader(acting_user(args)) as tx:
        st = app.features["flows"].status(tx, args.entity, _key(args.record))
    if st is None:
        print("no flow")
        return 0
    print(f"instance {st.instance_id} of {st.flow}: {st.status}" + (f" ({st.outcome})" if st.outcome else ""))
    if st.current:
        print(f"at: {', '.join(st.current)}")
    for t in st.tasks:
        print(f"  task {t['id']}: {t['node']} -> {t['assignee'] or 'role ' + t['assignee_role']}")
    return 0
