"""Sign-in, sessions, API tokens, CSRF and throttling through HTTP."""

from __future__ import annotations

import pytest

from ordo.engine import SYSTEM
from ordo.engine.cli import main

from .api_kit import PASSWORD, add_user, bearer, served, sign_in, token_for

APP = {"entities/note.yaml": """
    name: note
    fields:
      text: {type: string}
"""}


@pytest.fixture
def api(make_app, db_url):
    with served(make_app(APP, name="notes"), db_url) as (app, client):
        add_user(app, "ann")
        yield app, client


def test_anonymous_calls_are_refused(api):
    _, client = api
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(api):
    _, client = api
    r = client.post("/api/v1/auth/signin", json={"user": "ann", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"] == "ann"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    csrf = r.json()["csrf_token"]
    me = client.get("/api/v1/me").json()
    assert me["user"] == "ann" and me["csrf_token"] == csrf
    assert client.post("/api/v1/auth/signout").status_code == 403  # no CSRF token
    assert client.post("/api/v1/auth/signout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/v1/me").status_code == 401


def test_a_stolen_cookie_stops_working_after_sign_out(api):
    _, client = api
    csrf = sign_in(client, "ann")
    stolen = dict(client.cookies)
    client.post("/api/v1/auth/signout", headers={"X-CSRF-Token": csrf})
    client.cookies.update(stolen)
    assert client.get("/api/v1/me").status_code == 401


def test_a_forged_cookie_is_refused(api):
    _, client = api
    client.cookies.set("ordo_session", "made-up.value.sig")
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("body", [{"user": "ann", "password": "wrong password"}, {"user": "nobody", "password": "x"},
                                  {"user": "ann"}, {"password": "x"}, {"user": 3, "password": "x"}])
def test_wrong_sign_ins_say_nothing_more(api, body):
    _, client = api
    r = client.post("/api/v1/auth/signin", json=body)
    assert r.status_code in (400, 401) and "Traceback" not in r.text
    if r.status_code == 401:
        assert r.json()["message"] == "wrong user name or password"


def test_failed_sign_ins_are_throttled_per_user(api):
    _, client = api
    for _ in range(5):
        assert client.post("/api/v1/auth/signin", json={"user": "ann", "password": "guess it"}).status_code == 401
    r = client.post("/api/v1/auth/signin", json={"user": "ann", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_failed_sign_ins_are_throttled_per_address(api):
    app, client = api
    for i in range(20):
        client.post("/api/v1/auth/signin", json={"user": f"u{i}", "password": "guess it"})
    add_user(app, "bob")
    assert client.post("/api/v1/auth/signin", json={"user": "bob", "password": PASSWORD}).status_code == 429


def test_disabled_users_cannot_sign_in_or_use_tokens(api):
    app, client = api
    token = token_for(app, "ann")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with app.transaction(SYSTEM) as tx:
        tx.users.save("ann", active=False)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.post("/api/v1/auth/signin", json={"user": "ann", "password": PASSWORD}).status_code == 401


def test_tokens_are_created_used_and_revoked(api):
    app, client = api
    sign_in(client, "ann")
    csrf = client.get("/api/v1/me").json()["csrf_token"]
    r = client.post("/api/v1/auth/tokens", json={"label": "shop"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["token"].startswith("ordo_")
    token, token_id = r.json()["token"], r.json()["id"]
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=bearer(token)).json()["user"] == "ann"
    listed = client.get("/api/v1/auth/tokens", headers=bearer(token)).json()
    assert [t["label"] for t in listed] == ["shop"] and "token" not in listed[0]
    # a token needs no CSRF token (it is not sent by browsers on their own)
    assert client.delete(f"/api/v1/auth/tokens/{token_id}", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_cli_token_commands(make_app, db_url, capsys):
    app_dir = str(make_app(APP, name="notes"))
    assert main(["user", "add", app_dir, "ann", "--db", db_url, "--create"]) == 0
    assert main(["token", "create", app_dir, "nobody", "--db", db_url]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    assert main(["token", "create", app_dir, "ann", "--label", "shop", "--db", db_url]) == 0
    secret = capsys.readouterr().out.splitlines()[0]
    with served(app_dir, db_url) as (_, client):
        assert client.get("/api/v1/me", headers=bearer(secret)).json()["user"] == "ann"
        assert main(["token", "list", app_dir, "--db", db_url]) == 0
        listed = capsys.readouterr().out
        assert "shop" in listed and secret not in listed
        assert main(["token", "revoke", app_dir, "1", "--db", db_url]) == 0
        assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401
        assert main(["token", "revoke", app_dir, "1", "--db", db_url]) == 1
