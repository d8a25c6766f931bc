"""Row-level permissions declared on roles, applied to reads (in SQL) and writes."""

from __future__ import annotations

import pytest

from ordo.engine import NotFound, PermissionDenied, open_app

APP = {
    "entities/account.yaml": """
        name: account
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          region: {type: string}
          owner: {type: string}
    """,
    "entities/note.yaml": """
        name: note
        fields:
          text: {type: string}
    """,
    "roles.yaml": """
        roles:
          regional:
            permissions:
              - entity: account
                actions: [read, update]
                where: "region == user.region"
          owner:
            permissions:
              - entity: account
                where: "owner == user.name"
          admin:
            users: [root]
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    with a.users("root") as users:
        users.save("nora", attrs={"region": "north"})
        users.grant("nora", "regional")
        users.save("sam", attrs={"region": "south"})
        users.grant("sam", "regional")
        users.grant("sam", "owner")
        users.save("zed")
    for code, region, owner in (("A1", "north", "x"), ("A2", "south", "x"), ("A3", "north", "sam")):
        a.create("account", {"code": code, "region": region, "owner": owner}, "root")
    yield a
    a.close()


def codes(rows):
    return sorted(r["code"] for r in rows)


def test_reads_are_filtered_in_sql(app):
    assert codes(app.query("account", user="nora")) == ["A1", "A3"]
    assert codes(app.query("account", user="sam")) == ["A2", "A3"]  # region OR ownership
    assert app.count("account", user="zed") == 0  # no role: nothing
    assert app.count("account", user="root") == 3  # admin
    with pytest.raises(PermissionDenied):  # default deny: no role grants notes
        app.create("note", {"text": "hi"}, "nora")
    assert app.count("note", user="nora") == 0


def test_get_and_writes_are_checked(app):
    with pytest.raises(NotFound, match="^account 'A2' not found$"):  # unreadable: as if it did not exist
        app.get("account", "A2", "nora")
    app.update("account", "A1", {"owner": "nora"}, "nora")
    with pytest.raises(PermissionDenied):
        app.update("account", "A1", {"region": "south"}, "nora")  # would move the row out of reach
    with pytest.raises(PermissionDenied):
        app.create("account", {"code": "A9", "region": "north"}, "nora")  # 'regional' has no create
    with pytest.raises(PermissionDenied):
        app.delete("account", "A1", "nora")
    assert app.get("account", "A1", "root")["region"] == "north"


def test_membership_changes_apply_at_once(app):
    with app.users("root") as users:
        users.revoke("nora", "regional")
    assert app.count("account", user="nora") == 0


def test_a_writer_gets_back_what_they_created_even_outside_their_read_rule(make_app, db_url):
    files = {**APP, "roles.yaml": """
        roles:
          clerk:
            permissions:
              - {entity: account, actions: [create]}
              - {entity: account, actions: [read], where: "owner == user.name"}
          admin:
            users: [root]
    """}
    with open_app(make_app(files), db_url) as a:
        with a.users("root") as users:
            users.grant("cleo", "clerk")
        created = a.create("account", {"code": "B1", "owner": "someone else"}, "cleo")
        assert created["code"] == "B1" and created["version"] == 1
        with pytest.raises(NotFound):  # once written, their read rule applies
            a.get("account", "B1", "cleo")
