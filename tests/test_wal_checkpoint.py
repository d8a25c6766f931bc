"""SQLite's WAL is checkpointed by a background thread shortly after commits (engine/wal_checkpoint.py)."""

from __future__ import annotations

import shutil
import sqlite3
import time

from ordo.engine import open_app, wal_checkpoint

APP = {"entities/note.yaml": "name: note\nfields:\n  text: {type: string}\n"}


def test_a_commit_reaches_the_database_file_without_a_writer_checkpointing(make_app, tmp_path):
    db = tmp_path / "w.db"
    app = open_app(make_app(APP), f"sqlite:///{db}")
    try:
        app.create("note", {"text": "kept"}, "u")
        copy = tmp_path / "copy.db"
        deadline = time.monotonic() + 10
        while True:  # the database file alone (no WAL beside it) holds the record once the thread has run
            shutil.copyfile(db, copy)
            with sqlite3.connect(copy) as conn:
                found = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'note'").fetchone()[0] and \
                    conn.execute("SELECT count(*) FROM note").fetchone()[0]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert found == 1
    finally:
        app.close()


def test_a_checkpoint_never_creates_a_database(tmp_path):
    missing = tmp_path / "none.db"
    assert wal_checkpoint.checkpoint(str(missing)) is False
    assert not missing.exists()
    wal_checkpoint.committed(str(missing))  # noted, then skipped by the thread without creating anything
    time.sleep(wal_checkpoint.INTERVAL + 0.3)
    assert not missing.exists()
