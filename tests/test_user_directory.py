"""Managing users and roles needs the admin role or the manage_users privilege; nobody grants themselves
anything; users may change their own display name, email and availability."""

from __future__ import annotations

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine import PermissionDenied, UsageError, open_app
from ordo.engine.cli import main

APP = {
    "entities/account.yaml": """
        name: account
        fields:
          region: {type: string}
    """,
    "roles.yaml": """
        roles:
          admin:
            users: [root]
          support:
            label: User support
            users: [sue]
            privileges: [manage_users]
          sales:
            permissions:
              - {entity: account, where: "region == user.region"}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    with a.users("root") as users:
        users.save("nora", attrs={"region": "north"})
        users.grant("nora", "sales")
    yield a
    a.close()


def info(app, name):
    with app.users("root") as users:
        return users.require(name)


def test_users_cannot_grant_themselves_anything(app):
    for attempt in (lambda d: d.grant("nora", "admin"), lambda d: d.grant("nora", "support"),
                    lambda d: d.save("nora", attrs={"region": "south"}), lambda d: d.save("nora", active=True),
                    lambda d: d.save("nora", calendar="x"), lambda d: d.revoke("nora", "sales"),
                    lambda d: d.grant("nora", "north", "group"), lambda d: d.save("max"),
                    lambda d: d.grant("max", "sales"), lambda d: d.save("root", email="x@y")):
        with pytest.raises(PermissionDenied, match="nora may not"), app.users("nora") as users:
            attempt(users)
    nora = info(app, "nora")
    assert nora.roles == ["sales"] and nora.attrs == {"region": "north"} and nora.groups == []
    assert info(app, "root").email is None
    with app.users("ghost") as users, pytest.raises(PermissionDenied):  # not in the directory: creates nobody
        users.save("ghost", email="g@x")
    with app.users("root") as users:
        assert users.get("max") is None and users.get("ghost") is None


def test_users_change_their_own_name_email_and_availability(app):
    with app.users("nora") as users:
        users.save("nora", display_name="Nora N", email="nora@example.com", available=False)
        assert users.get("root").name == "root"  # reading the directory is open
    nora = info(app, "nora")
    assert (nora.display_name, nora.email, nora.available) == ("Nora N", "nora@example.com", False)


def test_unknown_roles_are_refused_naming_the_known_ones(app):
    with pytest.raises(UsageError, match=r"unknown role 'superuser' \(known: admin, sales, support\)"), \
            app.users("root") as users:
        users.grant("nora", "superuser")
    with app.users("root") as users:
        users.grant("nora", "any-team", "group")  # groups are free-form
        users.grant("nora", "admin")
    assert sorted(info(app, "nora").roles) == ["admin", "sales"] and info(app, "nora").groups == ["any-team"]


def test_the_manage_users_privilege(app):
    with app.users("sue") as users:
        users.save("max", email="max@example.com", attrs={"region": "south"})
        users.grant("max", "sales")
        users.grant("max", "night", "group")
        users.save("nora", attrs={"region": "west"}, calendar="paris", active=True)
        users.revoke("nora", "sales")
    assert info(app, "max").roles == ["sales"] and info(app, "max").attrs == {"region": "south"}
    assert info(app, "nora").roles == [] and info(app, "nora").attrs == {"region": "west"}
    assert app.count("account", user="max") == 0  # max has the role's rules, sees his region only
    for attempt, message in ((lambda d: d.grant("max", "admin"), "admin role"),
                             (lambda d: d.grant("sue", "sales"), "their own roles"),
                             (lambda d: d.save("sue", attrs={"region": "all"}), "their own attrs"),
                             (lambda d: d.save("root", active=False), "admin root"),
                             (lambda d: d.revoke("root", "admin"), "admin role")):
        with pytest.raises(PermissionDenied, match=message), app.users("sue") as users:
            attempt(users)
    assert info(app, "root").roles == ["admin"] and info(app, "root").active is True
    assert info(app, "sue").roles == ["support"] and info(app, "sue").attrs == {}


def test_the_cli_checks_the_acting_user(app, make_app, db_url, capsys):
    root = str(make_app(APP))

    def user(*argv):
        return main(["user", *argv[:1], root, *argv[1:], "--db", db_url])

    capsys.readouterr()
    assert user("add", "nora", "--role", "admin", "--user", "nora") == 1
    assert "nora may not grant roles" in capsys.readouterr().err
    assert user("add", "nora", "--attrs", '{"region": "south"}', "--user", "nora") == 1
    assert "nora may not change the attrs of nora" in capsys.readouterr().err
    assert user("add", "nora", "--email", "n@example.com", "--unavailable", "--user", "nora") == 0
    assert user("add", "nora", "--role", "nope") == 1  # the database owner: still only declared roles
    assert "unknown role 'nope' (known: admin, sales, support)" in capsys.readouterr().err
    assert user("add", "max", "--role", "sales", "--user", "sue") == 0
    assert user("revoke", "max", "--role", "sales", "--user", "nora") == 1
    assert user("add", "nora", "--role", "admin") == 0  # the owner may
    nora, max_ = info(app, "nora"), info(app, "max")
    assert sorted(nora.roles) == ["admin", "sales"] and nora.attrs == {"region": "north"} and nora.email == "n@example.com"
    assert max_.roles == ["sales"]


def test_privileges_are_validated(make_app):
    bad = {**APP, "roles.yaml": "roles:\n  support:\n    privileges: [fly]\n"}
    with pytest.raises(DefinitionErrors, match="privileges"):
        load_app(make_app(bad))
