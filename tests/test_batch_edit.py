"""Batch edits and state-dependent editability (`editable_if`)."""

from __future__ import annotations

import pytest

from ordo.engine import ValidationFailed, open_app
from ordo.engine.cli import main

APP = {
    "entities/ticket.yaml": """
        name: ticket
        naming: "TK-{###}"
        fields:
          state: {type: enum, options: [open, closed], default: open}
          priority: {type: integer, default: 3, min: 1, max: 5}
          team: {type: string, editable_if: "state == 'open'"}
          items: {type: table, entity: ticket_item, editable_if: "state == 'open'"}
        ---
        name: ticket_item
        child: true
        fields:
          text: {type: string}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    for team in ("a", "a", "b"):
        a.create("ticket", {"team": team, "items": [{"text": "x"}]}, "u")
    yield a
    a.close()


def test_editable_if_guards_fields_and_tables(app):
    t = app.update("ticket", "TK-001", {"team": "c", "items": [{"text": "y"}]}, "u")
    app.update("ticket", t["id"], {"state": "closed"}, "u")
    with pytest.raises(ValidationFailed, match="team: cannot be changed now"):
        app.update("ticket", t["id"], {"team": "d"}, "u")
    with pytest.raises(ValidationFailed, match="items: cannot be changed now"):
        app.update("ticket", t["id"], {"items": []}, "u")
    assert app.update("ticket", t["id"], {"priority": 1, "team": "c"}, "u")["priority"] == 1  # unchanged team is fine


def test_update_many_is_all_or_nothing(app):
    changed = app.update_many("ticket", "team == :t", {"priority": 5}, "u", params={"t": "a"})
    assert [r["name"] for r in changed] == ["TK-001", "TK-002"]
    with pytest.raises(ValidationFailed, match="TK-001.priority"):
        app.update_many("ticket", None, {"priority": 9}, "u")
    assert [r["priority"] for r in app.query("ticket", user="u")] == [5, 5, 3]
    assert len(app.audit_log(user="u", entity="ticket", action="update")) == 2


def test_update_many_command(make_app, tmp_path, capsys):
    app_dir = make_app(APP)
    db = ["--db", str(tmp_path / "b.db")]
    for team in ("a", "b"):
        assert main(["create", str(app_dir), "ticket", f'{{"team": "{team}"}}', *db, "--create"]) == 0
    capsys.readouterr()
    assert main(["update-many", str(app_dir), "ticket", "--where", "team == 'a'", "--set", "priority=1", *db]) == 0
    assert "updated 1 ticket record(s): TK-001" in capsys.readouterr().out
    assert main(["update-many", str(app_dir), "ticket", "--set", "priority=0", *db]) == 1
    assert "must be at least 1" in capsys.readouterr().err


def test_update_many_updates_every_match_page_by_page(app, monkeypatch):
    """More matches than one page: every one is updated, also when the update makes them stop matching."""
    from ordo.engine import records

    monkeypatch.setattr(records, "UPDATE_PAGE", 2)
    for team in ("c", "c", "c"):
        app.create("ticket", {"team": team}, "u")
    changed = app.update_many("ticket", "priority == :p", {"priority": 4}, "u", params={"p": 3})
    assert [r["name"] for r in changed] == [f"TK-00{i}" for i in range(1, 7)]
    assert {r["priority"] for r in app.query("ticket", user="u")} == {4}
    assert len(app.update_many("ticket", None, {"team": "z"}, "u")) == 6
    with app.transaction("u") as tx:
        assert len(tx.update_many("ticket", None, {"priority": 2}, limit=3)) == 3


def test_update_many_reads_each_page_once(app):
    """The records of a page (and their child rows) are read with one statement each, locked on PostgreSQL, not
    once per record: 20 records cost the acting user, the page's query, its records, their items and one UPDATE
    each."""
    from ordo.engine.stats import count_statements

    with app.transaction("u") as tx:
        for _ in range(17):
            tx.create("ticket", {"team": "c", "items": [{"text": "y"}]})
    with count_statements(app.engine) as counts:
        changed = app.update_many("ticket", None, {"priority": 4}, "u")
    assert len(changed) == 20 and {r["priority"] for r in app.query("ticket", user="u", limit=None)} == {4}
    kinds = counts.by_kind()
    assert kinds["SELECT"] == 4 and kinds["UPDATE"] == 20, kinds
    if app.engine.dialect.name == "postgresql":
        assert sum("FOR UPDATE" in t for t in counts.texts) == 1
