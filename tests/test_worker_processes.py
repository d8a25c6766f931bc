"""``ordo worker --processes N``: jobs across CPU cores on PostgreSQL (each job run once), refused clearly on
SQLite (one writer at a time) and for a bad N."""

from __future__ import annotations

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.engine.jobs import list_jobs

from .flowkit import ENTITIES, T0, Kit, roles_yaml

APP = {"entities/note.yaml": "name: note\nfields:\n  text: {type: string}\n"}
FLOW = """
entity: expense
trigger: {on: create}
state_field: stage
nodes:
  ask:
    type: approval
    approvers: [{role: finance}]
    timeout: {after: 1h, action: remind}
    next: done
  done: {type: end}
"""


def test_processes_on_sqlite_are_refused_with_the_reason(make_app, tmp_path, capsys):
    folder = make_app(APP)
    db = str(tmp_path / "w.db")
    assert main(["sync", str(folder), "--db", db]) == 0
    capsys.readouterr()
    assert main(["worker", str(folder), "--db", db, "--once", "--processes", "4"]) == 1
    err = capsys.readouterr().err
    assert "--processes 4" in err and "SQLite database, which takes one writer at a time" in err
    assert "Traceback" not in err
    for bad in ("0", "x", "1000"):
        assert main(["worker", str(folder), "--db", db, "--once", "--processes", bad]) == 1
        assert "--processes" in capsys.readouterr().err
    assert main(["worker", str(folder), "--db", db, "--once", "--processes", "1"]) == 0


def test_four_worker_processes_run_every_due_timer_once(make_app, pg_url, capsys):
    files = {**ENTITIES, "roles.yaml": roles_yaml(["f"]), "flows/f.yaml": "name: f\n" + FLOW}
    folder = make_app(files)
    clock = Clock(T0)  # the worker runs on the real clock: reminders due an hour after 2026-03-16 are due
    kit = Kit(open_app(folder, pg_url, clock=clock), clock)
    try:
        records = [kit.expense() for _ in range(16)]
        capsys.readouterr()
        assert main(["worker", str(folder), "--db", pg_url, "--once", "--processes", "4", "--name", "w"]) == 0
        out = capsys.readouterr().out
        assert "4 workers w/1, w/2, w/3, w/4" in out and "ran 16 job(s)" in out
        for e in records:
            assert [ev.action for ev in kit.timeline(e)].count("remind") == 1
        with kit.app.engine.connect() as conn:
            assert len(list_jobs(conn, "done", limit=1000)) == 16 and list_jobs(conn, "failed") == []
    finally:
        kit.app.close()
