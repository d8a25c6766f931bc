"""Flow and report actions granted per role, and the command line's user rules: ``--user`` acts only as
an existing, enabled user; ``ordo user passwd`` / ``disable`` / ``enable``."""

from __future__ import annotations

import io

import pytest

from ordo.engine import NotFound, PermissionDenied, open_app
from ordo.engine.cli import main
from ordo.engine.credentials import Credentials

from .api_kit import served

APP = {
    "entities/request.yaml": """
        name: request
        naming: "R-{###}"
        fields:
          title: {type: string}
          region: {type: string}
          stage: {type: string}
    """,
    "flows/review.yaml": """
        name: review
        entity: request
        trigger: {on: manual}
        state_field: stage
        nodes:
          ask: {type: approval, approvers: [{role: boss}], next: done}
          done: {type: end, outcome: approved}
    """,
    "reports/by_region.yaml": """
        name: by_region
        source: request
        dimensions: [region]
        measures: [{name: requests, agg: count}]
    """,
    "roles.yaml": """
        roles:
          admin: {users: [root]}
          boss: {users: [bo]}
          clerk:
            permissions:
              - {entity: request, actions: [read, create], where: "region == user.region"}
              - {flow: review, actions: [start, withdraw]}
              - {report: by_region, actions: [run]}
          lead:
            permissions:
              - {entity: request, actions: [read]}
              - {flow: review, actions: [cancel, cancel_task]}
              - {report: by_region}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    with a.users("root") as users:
        for name, role, region in (("cleo", "clerk", "north"), ("lou", "lead", None), ("sid", "clerk", "south"),
                                   ("nob", None, None)):
            users.save(name, attrs={"region": region} if region else None)
            if role:
                users.grant(name, role)
    a.create("request", {"title": "north", "region": "north"}, "cleo")
    a.create("request", {"title": "south", "region": "south"}, "sid")
    yield a
    a.close()


def flow(app, user, method, *args):
    with app.transaction(user) as tx:
        return getattr(app.features["flows"], method)(tx, *args)


def test_flow_actions_follow_the_roles(app):
    perms = app.permissions
    with app.reader("cleo") as tx:
        assert perms.may_flow(tx.user, "review", "start") and not perms.may_flow(tx.user, "review", "cancel")
    with pytest.raises(PermissionDenied, match="nob may not start flow review"):
        flow(app, "nob", "start", "review", "R-001")
    with pytest.raises(NotFound):  # a record the user may not read: not there, whatever the grant
        flow(app, "cleo", "start", "review", "R-002")
    first = flow(app, "cleo", "start", "review", "R-001")
    with pytest.raises(PermissionDenied, match="only its submitter"):
        flow(app, "lou", "withdraw", first)
    flow(app, "cleo", "withdraw", first)
    second = flow(app, "cleo", "start", "review", "R-001")
    with pytest.raises(PermissionDenied, match="cleo may not cancel flow instance"):
        flow(app, "cleo", "cancel", second)
    task = flow(app, "bo", "inbox")[0].id
    with pytest.raises(PermissionDenied, match="cleo may not cancel task"):
        flow(app, "cleo", "cancel_task", task)
    flow(app, "lou", "cancel", second)  # the lead's role grants cancel: no admin needed
    with app.reader("root") as tx:
        assert app.features["flows"].status(tx, "request", "R-001").status == "cancelled"
    third = flow(app, "sid", "start", "review", "R-002")
    with pytest.raises(NotFound):  # cleo may not read R-002: its case is not there for her
        flow(app, "cleo", "cancel", third)
    with pytest.raises(PermissionDenied, match="bo may not withdraw"):  # assignees act on tasks, nothing more
        flow(app, "bo", "withdraw", third)


def test_task_and_case_ids_cannot_be_probed(app):
    """A task or case one has nothing to do with answers exactly like one that does not exist; a refusal
    never names the other people involved."""
    case = flow(app, "sid", "start", "review", "R-002")
    task = flow(app, "bo", "inbox")[0].id
    for method, real, missing in (("approve", task, 99999), ("urge", case, 99999), ("withdraw", case, 99999),
                                  ("comment", case, 99999)):
        args = ("hello",) if method == "comment" else ()
        with pytest.raises(NotFound) as hidden:
            flow(app, "cleo", method, real, *args)
        with pytest.raises(NotFound) as absent:
            flow(app, "cleo", method, missing, *args)
        assert str(hidden.value).replace(str(real), "N") == str(absent.value).replace(str(missing), "N")
    with pytest.raises(PermissionDenied) as refused:  # lou may read R-002 but the task is not hers
        flow(app, "lou", "approve", task)
    assert "bo" not in str(refused.value).split("task")[-1] and "someone else" in str(refused.value)


def test_report_actions_follow_the_roles(app, make_app, db_url, tmp_path, capsys):
    reports = app.features["reports"]
    with pytest.raises(PermissionDenied, match="nob may not run report by_region"):
        reports.report("by_region", user="nob")
    mine = reports.report("by_region", user="cleo")
    assert [(r["region"], r["requests"]) for r in mine.rows] == [("north", 1)]  # row rule applies too
    assert '"requests": 1' in reports.export(mine, "json")  # viewing
    with pytest.raises(PermissionDenied, match="cleo may not export report by_region"):
        reports.export(mine, "csv")
    assert reports.export(reports.report("by_region", user="lou"), "csv").startswith("Region")
    root = str(make_app(APP))
    capsys.readouterr()
    assert main(["report", root, "by_region", "--db", db_url, "--user", "cleo", "--format", "xlsx",
                 "--out", str(tmp_path / "r.xlsx")]) == 1
    assert "may not export report by_region" in capsys.readouterr().err and not (tmp_path / "r.xlsx").exists()
    assert main(["report", root, "by_region", "--db", db_url, "--user", "nob"]) == 1
    assert "nob may not run report by_region" in capsys.readouterr().err


def test_cli_acts_only_as_existing_enabled_users(app, make_app, db_url, capsys, monkeypatch):
    root = str(make_app(APP))
    capsys.readouterr()
    assert main(["query", root, "request", "--db", db_url, "--user", "ghost"]) == 1
    err = capsys.readouterr().err
    assert "--user ghost: no such user" in err and "ordo user add" in err and "Traceback" not in err
    monkeypatch.setenv("ORDO_USER", "ghost")  # the default user is held to the same rule
    assert main(["query", root, "request", "--db", db_url]) == 1
    monkeypatch.delenv("ORDO_USER")
    assert main(["user", "disable", root, "cleo", "--db", db_url]) == 0
    assert "cleo disabled" in capsys.readouterr().out
    assert main(["query", root, "request", "--db", db_url, "--user", "cleo"]) == 1
    assert "--user cleo: the user is disabled" in capsys.readouterr().err
    assert main(["user", "enable", root, "cleo", "--db", db_url]) == 0
    assert main(["query", root, "request", "--db", db_url, "--user", "cleo", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "north" in out and "south" not in out  # exports follow the row rule
    assert main(["user", "add", root, "nob", "--role", "everyone", "--db", db_url]) == 1
    assert "it is not granted" in capsys.readouterr().err
    assert main(["user", "add", root, "nob", "--role", "nope", "--db", db_url]) == 1
    assert "unknown role 'nope' (known: admin, boss, clerk, lead)" in capsys.readouterr().err
    assert main(["user", "disable", root, "ghost", "--db", db_url]) == 1  # never creates a user
    assert "user 'ghost' not found" in capsys.readouterr().err
    assert main(["user", "disable", root, "lou", "--db", db_url, "--user", "cleo"]) == 1
    assert "cleo may not change the active of lou" in capsys.readouterr().err


def test_passwd_and_disable_end_sessions(make_app, db_url, capsys, monkeypatch):
    root = make_app(APP)
    with served(root, db_url) as (app, client):
        with app.users("root") as users:
            users.save("ann")
        args = ["user", "passwd", str(root), "ann", "--db", db_url]
        monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
        assert main([*args, "--password-stdin"]) == 1
        assert "at least 8 characters" in capsys.readouterr().err
        monkeypatch.setattr("sys.stdin", io.StringIO("first secret\n"))
        assert main([*args, "--password-stdin"]) == 0
        assert "password of ann set" in capsys.readouterr().out
        signin = {"user": "ann", "password": "first secret"}
        assert client.post("/api/v1/auth/signin", json=signin).status_code == 200
        assert client.get("/api/v1/me").status_code == 200
        typed = iter(["second secret", "second secret"])
        monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
        assert main(args) == 0  # asked twice on the terminal; the old sessions end
        assert client.get("/api/v1/me").status_code == 401
        typed = iter(["third secret", "other secret"])
        assert main(args) == 1 and "the two passwords differ" in capsys.readouterr().err
        with app.reader("root") as tx:
            creds = Credentials(tx.conn)
            assert creds.verify_password("ann", "second secret") and not creds.verify_password("ann", "third secret")
        assert main([*args, "--user", "bo"]) == 1  # nobody else sets ann's password but an admin or a manager
        assert "bo may not set the password of ann" in capsys.readouterr().err
        typed = iter(["bo's own secret", "bo's own secret"])
        assert main(["user", "passwd", str(root), "bo", "--db", db_url, "--user", "bo"]) == 0  # one's own
        signin["password"] = "second secret"
        assert client.post("/api/v1/auth/signin", json=signin).status_code == 200
        assert main(["user", "disable", str(root), "ann", "--db", db_url]) == 0
        assert client.get("/api/v1/me").status_code == 401  # the session ended
        assert client.post("/api/v1/auth/signin", json=signin).status_code == 401
        assert main(["user", "enable", str(root), "ann", "--db", db_url]) == 0
        assert client.post("/api/v1/auth/signin", json=signin).status_code == 200


def test_python_api_refuses_a_disabled_user(app):
    """The engine API refuses a disabled user by name as the CLI and the server do."""
    with app.users("root") as users:
        users.set_active("cleo", False)
    with pytest.raises(PermissionDenied, match="the user 'cleo' is disabled"):
        app.query("request", user="cleo")
    with pytest.raises(PermissionDenied, match="disabled"):
        app.create("request", {"title": "x", "region": "north"}, user="cleo")
    assert app.count("request", user="root") == 2  # nothing written
    with app.users("root") as users:
        users.set_active("cleo", True)
    assert [r["title"] for r in app.query("request", user="cleo")] == ["north"]
