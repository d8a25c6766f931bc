"""A SQLite database made before record tables were AUTOINCREMENT: schema sync rebuilds its tables, rows, child
rows, indexes and links kept, and from then on no id is given again, not even the id of a newest record
deleted before the rebuild (the audit log names it). PostgreSQL: nothing to rebuild."""

from __future__ import annotations

from ordo.engine import held_inserts, open_app, schema_rebuild, schema_sync, tables
from ordo.engine.cli import main

from .test_record_ids import FILES


def _made_before(monkeypatch) -> None:
    """New tables are made as before AUTOINCREMENT (SQLite's default: the largest id given again)."""
    build = tables.build_table

    def old_style(spec, metadata):
        table = build(spec, metadata)
        table.dialect_options["sqlite"]["autoincrement"] = False
        return table

    monkeypatch.setattr(schema_sync, "build_table", old_style)
    monkeypatch.setattr(schema_rebuild, "rebuild", lambda engine, compiled: [])  # (as before it existed)


def _ddl(app, kind: str) -> dict[str, str]:
    with app.engine.connect() as c:
        return dict(c.exec_driver_sql(f"SELECT name, sql FROM sqlite_master WHERE type = '{kind}' "
                                      "AND tbl_name LIKE 'note%'").all())


def test_sync_rebuilds_tables_made_before_autoincrement(make_app, tmp_path, monkeypatch):
    folder, url = make_app(FILES), f"sqlite:///{tmp_path / 'old.db'}"
    with monkeypatch.context() as m:
        _made_before(m)
        app = open_app(folder, url, check=False, sync=True)
    with app:
        assert "AUTOINCREMENT" not in _ddl(app, "table")["note"].upper()
        kept = app.create("note", {"text": "kept", "parts": [{"label": "a"}, {"label": "b"}]}, "admin")
        gone = app.create("note", {"text": "gone"}, "admin")
        app.delete("note", gone["id"], "admin")  # the newest: SQLite would give its id again
        indexes = set(_ddl(app, "index"))
        assert app.sync_schema(dry_run=True) == [
            "rebuild table note: ids of deleted records never given again (SQLite AUTOINCREMENT)",
            "rebuild table note__parts: ids of deleted records never given again (SQLite AUTOINCREMENT)"]
        assert "AUTOINCREMENT" not in _ddl(app, "table")["note"].upper()  # a dry run changes nothing
    with open_app(folder, url) as app:  # opening syncs: rebuilt
        ddl = _ddl(app, "table")
        assert all("AUTOINCREMENT" in ddl[t].upper() for t in ("note", "note__parts")), ddl
        assert set(_ddl(app, "index")) == indexes
        assert app.sync_schema() == []  # once
        again = app.get("note", kept["id"], "admin")
        assert [p["label"] for p in again["parts"]] == ["a", "b"] and again["text"] == "kept"
        made = app.create("note", {"text": "new"}, "admin")
        assert made["id"] > gone["id"]
        log = app.audit_log(user="admin", entity="note", record=made["id"])
        assert [e.action for e in log] == ["create"]
        app.delete("note", kept["id"], "admin")  # its child rows go with it: the link to the parent holds
        with app.engine.connect() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM note__parts").scalar() == 0
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_ordo_sync_lists_and_makes_the_rebuild(make_app, tmp_path, monkeypatch, capsys):
    folder, db = make_app(FILES), str(tmp_path / "old.db")
    with monkeypatch.context() as m:
        _made_before(m)
        open_app(folder, f"sqlite:///{db}").close()
    assert main(["sync", str(folder), "--db", db, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "rebuild table note: ids of deleted records never given again" in out and "would apply 2" in out
    assert main(["sync", str(folder), "--db", db]) == 0
    assert "rebuilt table note__parts" in capsys.readouterr().out
    assert main(["sync", str(folder), "--db", db]) == 0
    assert "schema is up to date" in capsys.readouterr().out


def test_nothing_to_rebuild_on_a_new_database(make_app, db_url):
    with open_app(make_app(FILES), db_url) as app:
        assert not [s for s in app.sync_schema(dry_run=True) if s.startswith("rebuild")]
        assert app.sync_schema() == []


def test_a_rebuild_in_process_is_learnt_by_the_held_inserts(make_app, tmp_path, monkeypatch):
    """A process that wrote before rebuilding reads again which tables are AUTOINCREMENT: the rebuilt ones
    hold their creates' INSERTs from then on (see held_inserts), not only after a restart."""
    folder, url = make_app(FILES), f"sqlite:///{tmp_path / 'old.db'}"
    with monkeypatch.context() as m:
        _made_before(m)
        app = open_app(folder, url, check=False, sync=True)
    with app:
        with app.engine.connect() as c:  # as a create's flow writing it again notes it (held_inserts.rewritten)
            held_inserts._AUTOINCREMENT[app.engine] = tables.sqlite_autoincrement(c.exec_driver_sql(tables.SQLITE_TABLES))
        assert held_inserts._AUTOINCREMENT[app.engine]["note"] is False
        assert app.sync_schema()  # rebuilt
        assert app.engine not in held_inserts._AUTOINCREMENT  # read again at the next create that may hold


def test_autoincrement_is_read_from_the_key_not_from_a_column_name():
    rows = [("new", "CREATE TABLE new (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tnote VARCHAR)"),
            ("old", 'CREATE TABLE old (\n\tid INTEGER NOT NULL, \n\t"autoincrement" VARCHAR, \n\tPRIMARY KEY (id))'),
            ("noted", "CREATE TABLE noted (id INTEGER NOT NULL PRIMARY KEY, autoincrement_note VARCHAR)"),
            ("view_like", None)]
    assert tables.sqlite_autoincrement(rows) == {"new": True, "old": False, "noted": False, "view_like": False}
