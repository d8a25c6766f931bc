"""Opening a database: nothing is created that the user did not ask for; a wrong database is named."""

from __future__ import annotations

import sqlalchemy as sa

from ordo.engine import open_app
from ordo.engine.cli import main

SHOP = {"entities/item.yaml": """
    name: item
    fields:
      title: {type: string}
"""}
OTHER = {"entities/thing.yaml": """
    name: thing
    fields:
      label: {type: string}
"""}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_missing_file_or_folder_is_refused_and_not_created(make_app, tmp_path, capsys):
    app = str(make_app(SHOP))
    typo = tmp_path / "shpo.db"
    for argv in (["query", app, "item"], ["get", app, "item", "1"], ["audit", app],
                 ["create", app, "item", '{"title": "x"}'], ["user", "list", app]):
        code, out, err = run(capsys, *argv, "--db", str(typo))
        assert code == 1 and "does not exist" in err and "shpo.db" in err and "Traceback" not in err, argv
        assert not typo.exists()
    nowhere = tmp_path / "no" / "such" / "dir" / "x.db"
    for argv in (["query", app, "item"], ["create", app, "item", "{}", "--create"], ["sync", app]):
        code, _, err = run(capsys, *argv, "--db", str(nowhere))
        assert code == 1 and "does not exist" in err, argv
        assert not (tmp_path / "no").exists()


def test_create_is_explicit(make_app, tmp_path, capsys):
    app, db = str(make_app(SHOP)), tmp_path / "shop.db"
    code, out, _ = run(capsys, "create", app, "item", '{"title": "mug"}', "--db", str(db), "--create")
    assert code == 0 and db.exists()
    code, out, _ = run(capsys, "query", app, "item", "--db", str(db))
    assert code == 0 and "mug" in out


def test_a_file_that_is_not_a_database(make_app, tmp_path, capsys):
    app = str(make_app(SHOP))
    junk = tmp_path / "notes.txt"
    junk.write_text("hello, this is not SQLite\n")
    for argv in (["query", app, "item"], ["sync", app], ["create", app, "item", "{}", "--create"]):
        code, _, err = run(capsys, *argv, "--db", str(junk))
        assert code == 1 and "not a SQLite database" in err and "internal error" not in err, argv
    assert junk.read_text() == "hello, this is not SQLite\n"


def test_another_apps_database_is_named(make_app, db_url, capsys):
    shop, other = str(make_app(SHOP, name="shop")), str(make_app(OTHER, name="other"))
    assert run(capsys, "sync", other, "--db", db_url)[0] == 0
    before = tables(db_url)
    for argv in (["query", shop, "item"], ["sync", shop], ["create", shop, "item", "{}", "--create"]):
        code, _, err = run(capsys, *argv, "--db", db_url)
        assert code == 1 and "holds the app 'other', not 'shop'" in err, argv
    assert tables(db_url) == before


def test_reads_never_change_tables(make_app, db_url, capsys):
    app = make_app(SHOP, name="shop")
    assert run(capsys, "sync", str(app), "--db", db_url)[0] == 0
    (app / "entities" / "tag.yaml").write_text("name: tag\nfields:\n  label: {type: string}\n")
    before = tables(db_url)
    code, _, err = run(capsys, "query", str(app), "item", "--db", db_url)
    assert code == 1 and "create table tag" in err and "ordo sync" in err
    assert tables(db_url) == before
    code, out, _ = run(capsys, "sync", str(app), "--db", db_url, "--dry-run")
    assert code == 0 and "create table tag" in out and tables(db_url) == before
    assert run(capsys, "sync", str(app), "--db", db_url)[0] == 0
    assert "tag" in tables(db_url)
    assert run(capsys, "query", str(app), "tag", "--db", db_url)[0] == 0


def test_an_empty_database_holds_no_app(make_app, db_url, capsys):
    sa.create_engine(db_url).connect().close()  # an empty SQLite file, or an empty PostgreSQL schema
    code, _, err = run(capsys, "query", str(make_app(SHOP)), "item", "--db", db_url)
    assert code == 1 and "holds no Ordo app" in err
    assert tables(db_url) == set()


def test_python_api_opens_without_sync(make_app, db_url):
    app_dir = make_app(SHOP, name="shop")
    with open_app(app_dir, db_url) as app:  # embedding: create and sync by default
        app.create("item", {"title": "x"}, user="admin")
    with open_app(app_dir, db_url, sync=False) as app:
        assert app.count("item", user="admin") == 1


def test_postgresql_keeps_an_apps_statements_prepared(pg_url):
    """Statements are built once and run lean: psycopg keeps more prepared per connection than its default
    100, which one app's statements exceed (they would be evicted and prepared again)."""
    from ordo.engine.db import PREPARED_MAX, make_engine

    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.connection.driver_connection.prepared_max == PREPARED_MAX >= 500
    finally:
        engine.dispose()


def test_a_sqlite_file_is_opened_with_wal_and_a_32_mib_page_cache(tmp_path):
    from ordo.engine.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                       for p in ("journal_mode", "synchronous", "cache_size", "wal_autocheckpoint", "foreign_keys")}
        assert pragmas == {"journal_mode": "wal", "synchronous": 1, "cache_size": -32768,
                           "wal_autocheckpoint": 10000, "foreign_keys": 1}
    finally:
        engine.dispose()
