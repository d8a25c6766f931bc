"""A unit of work that loses a deadlock or serialization race is run again (App.run, the one-call
methods, jobs); after the retries the caller gets a clear Conflict, never a raw driver error."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ordo.engine import Conflict, TransactionConflict, open_app
from ordo.engine.cli import main
from ordo.engine.db import RETRIES
from ordo.engine.jobs import list_jobs

APP = {"entities/note.yaml": "name: note\nfields:\n  text: {type: string}\n"}


class _Deadlock(Exception):
    """Stands for the driver's error (psycopg's DeadlockDetected carries this SQLSTATE)."""

    sqlstate = "40P01"


def _deadlock() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("UPDATE stock ...", {}, _Deadlock("deadlock detected"))


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    yield a
    a.close()


def test_a_lost_race_is_run_again_then_a_clear_conflict(app):
    runs = []

    def work(tx):
        runs.append(tx.create("note", {"text": f"run {len(runs) + 1}"}))
        if len(runs) < 2:
            raise _deadlock()
        return runs[-1]

    kept = app.run("u", work, "noting")
    assert len(runs) == 2 and kept["text"] == "run 2"
    assert [n["text"] for n in app.query("note", user="u")] == ["run 2"]  # the first run left nothing

    def always(tx):
        tx.create("note", {"text": "never kept"})
        raise _deadlock()

    with pytest.raises(TransactionConflict, match=f"noting lost a deadlock with concurrent transactions "
                                                  f"{RETRIES} times") as e:
        app.run("u", always, "noting")
    assert isinstance(e.value, Conflict) and app.count("note", user="u") == 1


def test_own_transactions_get_a_conflict_not_a_driver_error(app):
    with pytest.raises(TransactionConflict, match="rolled back after a deadlock"):
        with app.transaction("u") as tx:
            tx.create("note", {"text": "x"})
            raise _deadlock()
    assert app.count("note", user="u") == 0


def test_a_job_that_loses_a_race_runs_again_at_once(app):
    runs = []

    def handler(tx, payload):
        runs.append(1)
        tx.create("note", {"text": f"job run {len(runs)}"})
        if len(runs) == 1:
            raise _deadlock()

    app.jobs.register("touch", handler)
    with app.transaction("u") as tx:
        tx.enqueue("touch", {})
    assert app.jobs.run_due() == 1
    with app.engine.connect() as conn:
        [job] = list_jobs(conn)
    assert (job.status, job.attempts, len(runs)) == ("done", 1, 2)
    assert [n["text"] for n in app.query("note", user="u")] == ["job run 2"]

    app.jobs.register("stuck", lambda tx, p: (_ for _ in ()).throw(_deadlock()))
    with app.transaction("u") as tx:
        tx.enqueue("stuck", {})
    app.jobs.run_due()
    with app.engine.connect() as conn:
        stuck = [j for j in list_jobs(conn) if j.kind == "stuck"][0]
    assert stuck.status == "pending" and "TransactionConflict" in stuck.last_error
    assert f"lost a deadlock with concurrent transactions {RETRIES} times" in stuck.last_error


def test_the_cli_reports_a_conflict_in_plain_words(make_app, db_url, monkeypatch, capsys):
    from ordo.engine import records

    folder = make_app(APP)
    assert main(["sync", str(folder), "--db", db_url]) == 0
    monkeypatch.setattr(records.Transaction, "create", lambda self, entity, data: (_ for _ in ()).throw(_deadlock()))
    capsys.readouterr()
    assert main(["create", str(folder), "note", '{"text": "x"}', "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert f"error: creating a note lost a deadlock with concurrent transactions {RETRIES} times" in err
    assert "OperationalError" not in err and "Traceback" not in err
