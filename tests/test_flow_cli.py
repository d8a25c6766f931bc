"""The ``ordo flow`` commands through ``ordo.engine.cli.main``."""

from __future__ import annotations

import json

from ordo.engine.cli import main

from .flowkit import ENTITIES

FLOW = """
name: expense_approval
entity: expense
trigger: {on: create}
state_field: stage
nodes:
  route:
    type: condition
    branches:
      - {when: "amount > 1000", to: director}
    default: manager
  director: {type: approval, approvers: [{role: director}], next: done}
  manager: {type: approval, approvers: [{field: owner.manager}], comment_required: [reject], next: done}
  done: {type: end, outcome: approved}
"""


def app_dir(make_app):
    return str(make_app({**ENTITIES, "flows/expense_approval.yaml": FLOW}))


def test_simulate_prints_the_path_without_writing(make_app, tmp_path, capsys):
    app = app_dir(make_app)
    rec = tmp_path / "r.json"
    rec.write_text(json.dumps({"amount": "5000", "owner": {"name": "E1", "manager": "bob"}}))
    db = tmp_path / "none.db"
    assert main(["flow", "simulate", app, "expense_approval", "--record", str(rec), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "route (condition): goes to director" in out and "asks role:director" in out
    assert "flow ends: approved" in out and not db.exists()
    rec.write_text(json.dumps({"amount": 10, "owner": {"name": "E1", "manager": "bob"}}))
    assert main(["flow", "simulate", app, "expense_approval", "--record", str(rec), "--db", str(db),
                 "--decide", "manager=reject"]) == 0
    out = capsys.readouterr().out
    assert "asks bob" in out and "flow ends: rejected" in out
    assert "assumed rejected" in out
    assert main(["flow", "simulate", app, "expense_approval", "--record", str(rec), "--db", str(db),
                 "--decide", "manager=reject", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "请 bob 审批" in out and "假设驳回" in out and "asks" not in out


def test_simulate_reads_role_members_from_the_database(make_app, tmp_path, capsys):
    app, db = app_dir(make_app), str(tmp_path / "x.db")
    assert main(["create", app, "employee", json.dumps({"code": "E1"}), "--db", db, "--create"]) == 0
    rec = tmp_path / "r.json"
    rec.write_text(json.dumps({"amount": 5000}))
    assert main(["flow", "simulate", app, "expense_approval", "--record", str(rec), "--db", db]) == 0
    assert "asks dora" in capsys.readouterr().out  # roles.yaml grants dora the director role on sync


def test_diagram_svg_and_mermaid(make_app, tmp_path, capsys):
    app = app_dir(make_app)
    out = tmp_path / "flow.svg"
    assert main(["flow", "diagram", app, "expense_approval", "--out", str(out)]) == 0
    svg = out.read_text()
    assert svg.startswith("<svg") and 'id="node-director"' in svg and "amount &gt; 1000" in svg
    assert main(["flow", "diagram", app, "expense_approval", "--format", "mermaid"]) == 0
    text = capsys.readouterr().out
    assert "flowchart TD" in text and "route -->|amount > 1000| director" in text
    assert main(["flow", "diagram", app, "expense_approval", "--format", "mermaid", "--lang", "zh"]) == 0
    text = capsys.readouterr().out  # node types and edge words in Chinese (labels from the definition)
    assert "route -->|默认| manager" in text and "<i>审批</i>" in text and "<i>结束</i>" in text


def test_start_act_inbox_timeline_status(make_app, tmp_path, capsys):
    app, db = app_dir(make_app), str(tmp_path / "c.db")
    assert main(["create", app, "employee", json.dumps({"code": "E1", "manager": "bob"}), "--db", db, "--create",
                 "--user", "root"]) == 0
    for user in ("alice", "bob"):  # --user acts only as users of the directory
        assert main(["user", "add", app, user, "--db", db]) == 0
    assert main(["create", app, "expense", json.dumps({"amount": 50, "owner": "E1"}), "--db", db,
                 "--user", "alice"]) == 0
    capsys.readouterr()
    assert main(["flow", "inbox", app, "--db", db, "--user", "bob"]) == 0
    out = capsys.readouterr().out
    assert "manager" in out and "EXP-00001" in out
    assert main(["flow", "act", app, "1", "reject", "--db", db, "--user", "bob"]) == 1
    assert "comment is required" in capsys.readouterr().err
    assert main(["flow", "act", app, "1", "approve", "--comment", "ok", "--db", db, "--user", "bob"]) == 0
    assert main(["flow", "status", app, "expense", "EXP-00001", "--db", db]) == 0
    assert "completed (approved)" in capsys.readouterr().out
    assert main(["flow", "timeline", app, "expense", "EXP-00001", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "approve" in out and "bob" in out and "ok" in out
