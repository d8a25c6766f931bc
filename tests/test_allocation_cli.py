"""``ordo allocate`` and ``ordo assign`` on the command line."""

from __future__ import annotations

import json

from ordo.engine import SYSTEM, open_app
from ordo.engine.cli import main

from .allocation_apps import app_files

ASSIGN = """
    kind: assignment
    name: picker
    entity: order
    rules:
      - {strategy: round_robin, to: {role: picker}}
"""


def setup(make_app, tmp_path):
    root = make_app({**app_files(strategy="fewest_splits", partial=True), "rules/picker.yaml": ASSIGN,
                     "roles.yaml": "roles:\n  picker: {}\n  admin: {users: [admin]}\n"})
    db = str(tmp_path / "cli.db")
    app = open_app(root, db)
    app.create("site", {"code": "A", "lat": "48.8", "lon": "2.3"}, "admin")
    app.create("product", {"code": "P1"}, "admin")
    app.create("stock", {"site": "A", "product": "P1", "on_hand": 4}, "admin")
    oid = app.create("order", {"lat": "48", "lon": "2", "lines": [{"product": "P1", "qty": 6}]}, "admin")
    with app.users(SYSTEM) as d:
        d.grant("pia", "picker")
    app.close()
    return str(root), db, oid


def test_allocate_explain_release_consume(make_app, tmp_path, capsys):
    root, db, oid = setup(make_app, tmp_path)
    assert main(["allocate", root, "fulfil", oid["name"], "--db", db, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "partial" in out and "dry run" in out and "chosen: 4 of 4 available" in out
    assert main(["allocate", root, "fulfil", str(oid["id"]), "--db", db, "--explain"]) == 0
    out = capsys.readouterr().out
    assert "line 1 P1 x 6: filled 4, backorder 2" in out and "rank keys: site.priority, km" in out
    assert main(["allocate", root, "fulfil", oid["name"], "--db", db, "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)  # nothing left: the 2 stay backordered
    assert again["status"] == "partial" and again["lines"][0]["backorder"] == 2
    assert again["lines"][0]["allocated"] == []
    assert main(["allocate", root, "fulfil", oid["name"], "--db", db, "--consume"]) == 0
    assert "consumed" in capsys.readouterr().out
    assert main(["allocate", root, "fulfil", oid["name"], "--db", db, "--release"]) == 0
    out = capsys.readouterr().out
    assert "released" in out


def test_allocate_errors_are_clear(make_app, tmp_path, capsys):
    root, db, oid = setup(make_app, tmp_path)
    assert main(["allocate", root, "nope", oid["name"], "--db", db]) == 1
    assert "unknown allocation rule 'nope'" in capsys.readouterr().err
    assert main(["allocate", root, "fulfil", "ORDER-9999", "--db", db]) == 1
    assert "not found" in capsys.readouterr().err


def test_assign_command(make_app, tmp_path, capsys):
    root, db, oid = setup(make_app, tmp_path)
    assert main(["assign", root, "picker", oid["name"], "--db", db]) == 0
    assert "assigned pia" in capsys.readouterr().out
    assert main(["assign", root, "picker", oid["name"], "--db", db, "--show", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["assigned"] == ["pia"]
    assert main(["assign", root, "picker", oid["name"], "--db", db, "--unassign"]) == 0
    assert "unassigned pia" in capsys.readouterr().out
    assert main(["user", "add", root, "pia", "--calendar", "office", "--db", db]) == 0
    app = open_app(root, db)
    with app.users(SYSTEM) as d:
        assert d.get("pia").calendar == "office"
    app.close()
