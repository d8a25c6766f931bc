"""``ordo worker``: run due jobs (timers) and deliver notifications; inspect the queues."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .. import jobs, outbox, textfmt
from ..db import normalize_url
from ..definitions.opening import follow
from .common import PAGE, CliError, add_db_option, add_page_options, count_arg, open_for, page_args

if TYPE_CHECKING:
    import multiprocessing

MAX_PROCESSES = 64


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run due jobs and deliver notifications (loop; several may run at once)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    add_db_option(p)
    p.add_argument("--once", action="store_true", help="run what is due now, then exit")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    p.add_argument("--name", default=f"{socket.gethostname()}:{os.getpid()}", help="worker name in the job log")
    p.add_argument("--processes", metavar="N", default="1",
                   help="run N worker processes, to use N CPU cores (PostgreSQL; each claims due jobs with "
                        "SKIP LOCKED, so no job runs twice); SQLite has one writer at a time: 1 (default)")
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
    processes = count_arg(args.processes, "--processes") or 0
    if not 1 <= processes <= MAX_PROCESSES:
        raise CliError(f"--processes must be between 1 and {MAX_PROCESSES}, got {args.processes}")
    if processes > 1:
        return _run_processes(args, processes)
    with open_for(args) as app:
        app.start()  # recurring schedules (alerts, materialized reports)
        print(f"worker {args.name} on {args.db} (Ctrl-C to stop)" if not args.once else "", end="")
        while True:
            app = follow(app, start=True)  # a version published meanwhile (see `ordo publish`)
            ran, sent = app.run_worker_once(args.name)
            if ran or sent or args.once:
                print(f"ran {ran} job(s), delivered {sent} notification(s)")
            if args.once:
                return 0
            time.sleep(args.interval)


def _run_processes(args: argparse.Namespace, processes: int) -> int:
    """N worker processes (spawned: nothing of this process is shared but the database) and wait for them.
    With --once each drains what is due, then the totals are printed."""
    backend = sa.engine.make_url(normalize_url(args.db)).get_backend_name()
    if backend != "postgresql":
        raise CliError(f"--processes {processes}: {args.db} is a SQLite database, which takes one writer at a "
                       f"time, so more worker processes would only wait for each other; run one worker "
                       f"(PostgreSQL runs jobs in several processes)")
    with open_for(args) as app:  # the database must hold the app (refused here once, not in N processes)
        app.start()
    import multiprocessing  # only for --processes

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    names = [f"{args.name}/{k + 1}" for k in range(processes)]
    children = [ctx.Process(target=_child, args=(args.app, args.db, name, args.once, args.interval, results),
                            name=name, daemon=True) for name in names]
    print(f"{processes} workers {', '.join(names)} on {args.db}" + ("" if args.once else " (Ctrl-C to stop)"))
    for child in children:
        child.start()
    failed: list[str] = []
    totals = [0, 0]
    try:
        for _ in children:
            name, ran, sent, error = results.get()
            if error:
                failed.append(f"{name}: {error}")
            totals[0] += ran
            totals[1] += sent
    except KeyboardInterrupt:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGINT)
    for child in children:
        child.join()
    if args.once:
        print(f"ran {totals[0]} job(s), delivered {totals[1]} notification(s)")
    if failed:
        raise CliError("worker process failed: " + "; ".join(failed))
    return 0


def _child(app_ref: str, db: str, name: str, once: bool, interval: float, results: multiprocessing.Queue) -> None:
    """One worker process: its own app and connections; reports (name, jobs, messages, error) when it ends."""
    ran = sent = 0
    error = ""
    try:
        with open_for(argparse.Namespace(app=app_ref, db=db)) as app:
            while True:
                app = follow(app)
                r, s = app.run_worker_once(name)
                ran, sent = ran + r, sent + s
                if once and not (r or s):
                    break
                if not once and not (r or s):
                    time.sleep(interval)
                elif not once:
                    print(f"{name}: ran {r} job(s), delivered {s} notification(s)", flush=True)
    except KeyboardInterrupt:
        pass
    except Exception as e:  # noqa: BLE001 - reported by the parent, in plain words
        error = str(e) or type(e).__name__
    results.put((name, ran, sent, error))


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
