"""An id is never given again once its record (or child row) was deleted: what names it (the audit log, a
link to a child row) keeps naming what it named. SQLite would give the largest id again (AUTOINCREMENT on
the tables of entities and their child rows); PostgreSQL's sequences never do. Both databases."""

from __future__ import annotations

import pytest

from ordo.engine import open_app

FILES = {
    "entities/note.yaml": """
        name: note
        fields:
          text: {type: string}
          parts: {type: table, entity: note_part}
    """,
    "entities/note_part.yaml": """
        name: note_part
        child: true
        fields:
          label: {type: string}
    """,
    "roles.yaml": "roles:\n  admin: {users: [admin]}\n",
}


@pytest.fixture
def app(make_app, db_url):
    with open_app(make_app(FILES), db_url) as app:
        yield app


def test_the_newest_record_deleted_leaves_its_id_and_history_to_nobody(app):
    first = app.create("note", {"text": "one"}, "admin")
    newest = app.create("note", {"text": "two"}, "admin")
    app.update("note", newest["id"], {"text": "two, edited"}, "admin")
    app.delete("note", newest["id"], "admin")
    made = app.create("note", {"text": "three"}, "admin")
    assert made["id"] not in (first["id"], newest["id"])
    log = app.audit_log(user="admin", entity="note", record=made["id"])
    assert [(e.action, e.record_name) for e in log] == [("create", made["name"])]


def test_a_child_row_removed_leaves_its_id_to_nobody(app):
    rec = app.create("note", {"text": "n", "parts": [{"label": "a"}, {"label": "b"}]}, "admin")
    a, b = rec["parts"]
    kept = app.update("note", rec["id"], {"parts": [{"id": a["id"], "label": "a"}]}, "admin")
    assert [p["id"] for p in kept["parts"]] == [a["id"]]
    again = app.update("note", rec["id"], {"parts": [{"id": a["id"], "label": "a"}, {"label": "c"}]}, "admin")
    assert again["parts"][1]["id"] not in (a["id"], b["id"])
