"""The `ordo` command line: every command reachable, clear errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ordo.engine.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("module", ["ordo", "ordo.engine.cli"])
def test_help_lists_every_command(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for cmd in ("validate", "schema", "new", "sync", "demo", "query", "create", "audit", "user", "worker", "serve",
                "token"):
        assert cmd in result.stdout


def test_new_validate_and_records(tmp_path, capsys, db_url):
    app = tmp_path / "shop"
    assert run(capsys, "new", str(app))[0] == 0
    code, out, _ = run(capsys, "validate", str(app))
    assert code == 0 and "shop 1.0.0: OK" in out
    assert run(capsys, "new", str(app))[0] == 1  # not empty any more
    owner = ["--db", db_url]
    db = [*owner, "--user", "bob"]  # a sales user of the starter's roles.yaml
    code, out, err = run(capsys, "create", str(app), "customer", '{"code": "ACME", "customer_name": "Acme"}', *owner,
                         "--create")
    assert code == 0 and json.loads(out)["name"] == "ACME"
    code, out, err = run(capsys, "create", str(app), "invoice",
                         '{"customer": "ACME", "lines": [{"description": "x", "unit_price": 12.5, "qty": 2}]}', *db)
    assert code == 0 and json.loads(out)["total"] == "25.00"  # a computed amount at its scale
    code, out, _ = run(capsys, "query", str(app), "invoice", "--where", "total > :t", "--param", "t=20",
                       "--format", "json", *db)
    assert code == 0 and len(json.loads(out)) == 1
    code, out, _ = run(capsys, "query", str(app), "invoice", "--columns", "name,total", *db)
    assert "INV-" in out and "25" in out
    code, out, _ = run(capsys, "update", str(app), "invoice", "1", '{"status": "sent"}', "--expected-version", "1",
                       *db)
    assert code == 0 and json.loads(out)["version"] == 2
    code, _, err = run(capsys, "update", str(app), "invoice", "1", '{"status": "paid"}', "--expected-version", "1",
                       *db)
    assert code == 1 and "changed by someone else" in err and "Traceback" not in err
    code, out, _ = run(capsys, "get", str(app), "invoice", "INV-" + json.loads(
        run(capsys, "query", str(app), "invoice", "--format", "json", *db)[1])[0]["name"][4:], *db)
    assert code == 0 and json.loads(out)["status"] == "sent"
    code, out, _ = run(capsys, "audit", str(app), "--entity", "invoice", "--format", "json", *db)
    assert [e["action"] for e in json.loads(out)] == ["update", "create"]
    code, out, _ = run(capsys, "query", str(app), "invoice", "--format", "csv", *db)
    assert out.splitlines()[0].startswith("id,name")
    code, _, err = run(capsys, "delete", str(app), "invoice", "1", *db)
    assert code == 1 and "bob may not delete invoice" in err  # sales has no delete
    assert run(capsys, "delete", str(app), "invoice", "1", *owner)[0] == 0


@pytest.mark.parametrize("argv,message", [
    (["create", "builtin:starter", "customer", "{not json"], "data is not valid JSON"),
    (["create", "builtin:starter", "customer", '{"code": "bad code"}'], "customer not saved"),
    (["query", "builtin:starter", "customer", "--where", "level = 'vip'"], "invalid filter for customer"),
    (["query", "builtin:starter", "nothing"], "unknown entity 'nothing'"),
    (["query", "builtin:starter", "customer", "--param", "oops"], "expected NAME=VALUE"),
    (["get", "builtin:starter", "customer", "NOPE"], "customer 'NOPE' not found"),
    (["sync", "builtin:starter", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x"], "database problem"),
])
def test_errors_are_one_clear_line(tmp_path, capsys, argv, message):
    if "--db" not in argv:
        assert run(capsys, "sync", "builtin:starter", "--db", str(tmp_path / "x.db"))[0] == 0
        argv = [*argv, "--db", str(tmp_path / "x.db")]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_users_worker_and_queues(tmp_path, capsys):
    db = ["--db", str(tmp_path / "u.db")]
    code, out, _ = run(capsys, "user", "add", "builtin:starter", "carol", "--role", "accountant", "--attrs",
                       '{"region": "north"}', "--unavailable", *db, "--create")
    assert code == 0 and "['accountant']" in out and "unavailable" in out
    code, out, _ = run(capsys, "user", "list", "builtin:starter", *db)
    assert "carol" in out and "alice" in out  # alice is seeded from roles.yaml
    assert run(capsys, "user", "revoke", "builtin:starter", "carol", "--role", "accountant", *db)[0] == 0
    code, out, _ = run(capsys, "worker", "builtin:starter", "--once", *db)
    assert code == 0 and "ran 0 job(s)" in out
    assert run(capsys, "jobs", "builtin:starter", *db)[0] == 0
    assert run(capsys, "outbox", "builtin:starter", *db)[0] == 0
