"""``ordo worker``: run due jobs (timers) and deliver notifications; inspect the queues."""

from __future__ import annotations

import argparse
import os
import socket
import time

from .. import jobs, outbox, textfmt
from .common import PAGE, add_db_option, add_page_options, open_for, page_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run due jobs and deliver notifications (loop; several may run at once)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    add_db_option(p)
    p.add_argument("--once", action="store_true", help="run what is due now, then exit")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    p.add_argument("--name", default=f"{socket.gethostname()}:{os.getpid()}", help="worker name in the job log")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("jobs", help="list jobs (timers and background work)")
    p.add_argument("app")
    add_db_option(p)
    p.add_argument("--status", choices=["pending", "done", "failed", "cancelled"])
    add_page_options(p, "jobs")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("outbox", help="list notifications")
    p.add_argument("app")
    add_db_option(p)
    p.add_argument("--recipient")
    p.add_argument("--status", choices=["pending", "sent", "failed"])
    add_page_options(p, "notifications")
    p.set_defaults(func=cmd_outbox)


def cmd_worker(args: argparse.Namespace) -> int:
    with open_for(args) as app:
        app.start()  # recurring schedules (alerts, materialized reports)
        print(f"worker {args.name} on {args.db} (Ctrl-C to stop)" if not args.once else "", end="")
        while True:
            ran, sent = app.run_worker_once(args.name)
            if ran or sent or args.once:
                print(f"ran {ran} job(s), delivered {sent} notification(s)")
            if args.once:
                return 0
            time.sleep(args.interval)


def cmd_jobs(args: argparse.Namespace) -> int:
    limit, offset = page_args(args)
    size = PAGE if limit is None else limit
    with open_for(args) as app, app.engine.connect() as conn:
        rows = [{"id": j.id, "kind": j.kind, "run_at": j.run_at, "status": j.status, "attempts": j.attempts,
                 "error": (j.last_error or "")[:60]} for j in jobs.list_jobs(conn, args.status, size, offset)]
        total = jobs.count_jobs(conn, args.status) if offset or len(rows) == size else len(rows)
    _print_page(rows, offset, total, "jobs")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    limit, offset = page_args(args)
    size = PAGE if limit is None else limit
    with open_for(args) as app, app.engine.connect() as conn:
        rows = [{"id": m.id, "channel": m.channel, "to": m.recipient, "subject": m.subject, "status": m.status,
                 "attempts": m.attempts, "at": m.created_at}
                for m in outbox.messages(conn, recipient=args.recipient, status=args.status, limit=size,
                                         offset=offset)]
        total = outbox.count_messages(conn, recipient=args.recipient, status=args.status) \
            if offset or len(rows) == size else len(rows)
    _print_page(rows, offset, total, "notifications")
    return 0


def _print_page(rows: list[dict], offset: int, total: int, what: str) -> None:
    """A page of a list and, when more match, which rows these are and how to see the next ones."""
    print(textfmt.table(rows) if rows else f"(no {what})")
    notice = textfmt.page_notice(offset, len(rows), total, what)
    if notice:
        print(notice)
