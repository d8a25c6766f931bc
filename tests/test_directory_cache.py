"""The directory a process read is kept across transactions and checked by one token per transaction: a change
made anywhere (this process, another connection or process, plain SQL) is seen by the next transaction; a
change rolled back is never seen; a database without the token's triggers is read as before."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ordo.engine import PermissionDenied, directory_cache, open_app
from ordo.engine.stats import count_statements

APP = {
    "entities/note.yaml": """
        name: note
        fields:
          text: {type: string}
    """,
    "roles.yaml": """
        roles:
          admin: {users: [root]}
          writer:
            users: [wes]
            permissions: [{entity: note}]
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    yield a
    a.close()


def _roles(app, name):
    with app.reader(name) as tx:
        return sorted(tx.user.roles)


def _other_connection(app):
    """A connection of its own (another process would have one): plain SQL, outside the engine's pool."""
    return sa.create_engine(app.engine.url)


def _read(counts) -> list[str]:
    return [re.search(r"FROM\s+(\w+)", t)[1] for t in counts.texts if not t.startswith("BEGIN")]


def test_a_kept_directory_costs_one_small_statement_per_transaction(app):
    assert directory_cache.enabled(app.engine)
    _roles(app, "wes")
    with count_statements(app.engine) as counts:
        assert _roles(app, "wes") == ["writer"]
    assert _read(counts) == ["ordo_directory_rev"]  # the token; the user and roles: as read before


def test_a_change_through_the_engine_is_seen_by_the_next_transaction(app):
    assert _roles(app, "wes") == ["writer"]
    with app.users("root") as users:
        users.revoke("wes", "writer")
    assert _roles(app, "wes") == []
    with pytest.raises(PermissionDenied):
        app.create("note", {"text": "x"}, "wes")
    with app.users("root") as users:
        users.grant("wes", "writer")
    assert app.create("note", {"text": "x"}, "wes")["text"] == "x"


def test_a_change_by_plain_sql_elsewhere_is_seen_by_the_next_transaction(app):
    assert _roles(app, "wes") == ["writer"]
    other = _other_connection(app)
    try:
        with other.begin() as c:
            c.exec_driver_sql("DELETE FROM ordo_membership WHERE user_name = 'wes'")
        assert _roles(app, "wes") == []
        with other.begin() as c:
            c.exec_driver_sql("UPDATE ordo_user SET active = false WHERE name = 'wes'")
        with pytest.raises(PermissionDenied, match="disabled"):
            _roles(app, "wes")
    finally:
        other.dispose()


def test_a_change_rolled_back_is_never_seen(app):
    assert _roles(app, "wes") == ["writer"]

    class Undo(Exception):
        pass

    with pytest.raises(Undo), app.users("root") as users:
        users.revoke("wes", "writer")
        assert users.get("wes").roles == []  # its own change, read in its own transaction
        raise Undo
    assert _roles(app, "wes") == ["writer"]
    with app.reader("wes") as tx:
        assert "writer" in tx.user.roles


def test_a_database_without_the_triggers_is_read_each_transaction(app):
    other = _other_connection(app)
    try:
        with other.begin() as c:
            if app.engine.dialect.name == "sqlite":
                for t in directory_cache.WATCHED:
                    for w in ("insert", "update", "delete"):
                        c.exec_driver_sql(f"DROP TRIGGER ordo_dir_{t}_{w}")
            else:
                for t in directory_cache.WATCHED:
                    c.exec_driver_sql(f"DROP TRIGGER ordo_directory_changed ON {t}")
    finally:
        other.dispose()
    assert not directory_cache.enable(app.engine)
    _roles(app, "wes")
    with count_statements(app.engine) as counts:
        assert _roles(app, "wes") == ["writer"]
    assert _read(counts) == ["ordo_user"]  # the user with their roles, as before
    app.sync_schema()  # installs them again
    assert directory_cache.enable(app.engine)
