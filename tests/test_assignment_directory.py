"""The user directory keeps what a transaction read of users and memberships (engine/users.py, in the unit
of work): an assignment after a grant, revoke or user change in the same transaction sees the change, and a
savepoint rolled back forgets what was read inside it. SQLite and PostgreSQL."""

from __future__ import annotations

from ordo.engine import SYSTEM
from ordo.engine.stats import count_statements

from .test_assignment import claim, make

EVERY_CLERK = """
    kind: assignment
    name: approver
    entity: claim
    rules:
      - {strategy: all, to: {role: clerk}}
    fallback: {role: lead}
"""


def _assign(tx, rec):
    return tx.app.features["assignment"].assign(tx, "approver", "claim", rec)


def test_grant_and_revoke_in_the_same_transaction_are_seen_by_the_next_assignment(make_app, db_url):
    app = make(make_app, db_url, EVERY_CLERK)
    recs = [claim(app) for _ in range(5)]
    with app.transaction("admin") as tx:
        assert _assign(tx, recs[0]) == ["ann", "bob", "cid"]
        tx.users.grant("dan", "clerk")  # a new user, granted the role
        assert _assign(tx, recs[1]) == ["ann", "bob", "cid", "dan"]
        tx.users.revoke("ann", "clerk")
        assert _assign(tx, recs[2]) == ["bob", "cid", "dan"]
        tx.users.set_active("bob", False)
        assert _assign(tx, recs[3]) == ["cid", "dan"]
        tx.users.save("cid", available=False)
        assert _assign(tx, recs[4]) == ["dan"]
        assert tx.users.members("clerk") == ["cid", "dan"]
        assert "clerk" not in tx.users.get("ann").roles and "clerk" in tx.users.get("dan").roles
    with app.reader("admin") as tx:  # committed as seen
        assert tx.users.members("clerk") == ["cid", "dan"]
    app.close()


def test_a_rolled_back_savepoint_forgets_what_was_read_inside(make_app, db_url):
    app = make(make_app, db_url, EVERY_CLERK)
    rec = claim(app)
    with app.transaction("admin") as tx:
        sp = tx.conn.begin_nested()
        tx.users.revoke("ann", "clerk")
        assert tx.users.members("clerk") == ["bob", "cid"]
        sp.rollback()
        assert _assign(tx, rec) == ["ann", "bob", "cid"]
    app.close()


def test_members_and_users_are_read_once_per_transaction(make_app, db_url):
    app = make(make_app, db_url, EVERY_CLERK)
    recs = [claim(app) for _ in range(3)]
    with app.transaction("admin") as tx:
        _assign(tx, recs[0])
        tx.users.get("ann")
        with count_statements(app.engine) as counts:
            for r in recs[1:]:
                assert _assign(tx, r) == ["ann", "bob", "cid"]
            copy = tx.users.get("ann")
            copy.roles.append("lead")  # a copy: what the directory keeps is unchanged
        assert tx.users.get("ann").roles == ["clerk"]
    directory = [t for t in counts.texts if "ordo_membership" in t or "ordo_user" in t]
    assert directory == [], directory
    app.close()


def test_a_directory_without_a_transaction_keeps_nothing(make_app, db_url):
    app = make(make_app, db_url, EVERY_CLERK)
    with app.engine.connect() as conn:
        from ordo.engine.users import Directory

        assert Directory(conn).members("clerk") == ["ann", "bob", "cid"]
    with app.users(SYSTEM) as d:
        d.revoke("ann", "clerk")
        assert d.members("clerk") == ["bob", "cid"]
    app.close()
