"""The definition store's refusals change nothing: a publish that loses the race leaves the schema and the
versions as they were; a refused import+publish leaves the draft as it was."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ordo.engine.db import make_engine
from ordo.engine.definitions import DefinitionStore
from ordo.engine.definitions import publish as publishing
from ordo.engine.errors import Conflict

from .designer_kit import CLAIMS

CLAIM = "entities/claim.yaml"


def _columns(engine: sa.Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def _with_field(store: DefinitionStore, field: str) -> dict[str, str]:
    files = store.files("published")
    return {**files, CLAIM: files[CLAIM] + f"  {field}: {{type: integer}}\n"}


@pytest.fixture
def stored(make_app, db_url):
    folder = make_app(CLAIMS, name="claims")
    engine = make_engine(db_url, create=True)
    store = DefinitionStore(engine, root=folder)
    store.import_folder(folder, "alice", "first")
    yield folder, store
    engine.dispose()


def test_a_publish_that_loses_the_race_changes_no_schema_and_no_version(stored, monkeypatch):
    _, store = stored
    store.save_file(CLAIM, _with_field(store, "priority")[CLAIM], "alice")
    draft = store.draft()
    real = publishing.prepare
    other = _with_field(store, "urgent")

    def prepare_then_race(s, files, app=None):  # another process publishes while this one validates
        out = real(s, files, app)
        monkeypatch.setattr(publishing, "prepare", real)
        publishing.publish(store, "bob", "meanwhile", files=other)
        return out

    monkeypatch.setattr(publishing, "prepare", prepare_then_race)
    with pytest.raises(Conflict, match="published meanwhile"):
        store.publish("alice", "priority")
    columns = _columns(store.engine, "claim")
    assert "urgent" in columns and "priority" not in columns
    assert [(v.number, v.created_by) for v in store.versions()] == [(2, "bob"), (1, "alice")]
    assert store.draft() == draft  # the draft is kept: review it and publish again


def test_a_draft_saved_while_publishing_is_not_published_over(stored, monkeypatch):
    _, store = stored
    store.save_file(CLAIM, _with_field(store, "priority")[CLAIM], "alice")
    real = publishing.prepare

    def prepare_then_edit(s, files, app=None):
        out = real(s, files, app)
        store.save_file(CLAIM, _with_field(store, "later")[CLAIM], "bob")
        return out

    monkeypatch.setattr(publishing, "prepare", prepare_then_edit)
    with pytest.raises(Conflict, match="draft was changed meanwhile"):
        store.publish("alice", "priority")
    assert "priority" not in _columns(store.engine, "claim")
    assert [v.number for v in store.versions()] == [1]
    assert "later" in store.draft()[CLAIM]


def test_discarding_the_draft_is_audited(stored):
    _, store = stored
    edited = _with_field(store, "priority")
    store.save_file(CLAIM, edited[CLAIM], "alice")
    store.discard_draft("bob")
    assert store.draft() == store.files(1)
    edits = store.draft_edits()
    assert [(e.user, e.action) for e in edits] == [("bob", "discard_draft"), ("alice", "save_file")]
    assert edits[0].changes["files"] == [None, [CLAIM]]
    assert edits[0].changes["digest"][1] == store.version(1).digest
