"""One server, several customer apps (a site file): each under /NAME/ with its own database, users,
tokens and sessions."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from ordo.designer_api.settings import Settings
from ordo.designer_api.site import create_site_server, load_site, open_site
from ordo.dsl.errors import DefinitionErrors
from ordo.engine.cli import main

from .api_kit import PASSWORD, add_user, bearer, token_for
from .conftest import write_app
from .overlay_apps import BASE, overlay


@pytest.fixture
def site(tmp_path):
    write_app(tmp_path / "base", BASE, "base")
    write_app(tmp_path / "cust", overlay({"entities/order.yaml": "name: order\nfields:\n  rush: {type: boolean}\n"}),
              "cust")
    file = tmp_path / "site.yaml"
    file.write_text(f"apps:\n  plain: {{app: base, db: 'sqlite:///{tmp_path}/plain.db'}}\n"
                    f"  acme: {{app: cust, db: 'sqlite:///{tmp_path}/acme.db'}}\n")
    settings = Settings(site=str(file), create=True)
    apps = open_site(load_site(file), settings)
    with TestClient(create_site_server(apps, settings, close_apps=True)) as client:
        yield apps, client


def test_each_app_under_its_prefix_on_its_own_database(site):
    apps, client = site
    assert [a["name"] for a in client.get("/").json()["apps"]] == ["plain", "acme"]
    assert client.get("/plain/api/v1/health").json()["app"] == "base"
    assert client.get("/acme/api/v1/health").json()["app"] == "cust"
    for app in apps.values():
        add_user(app, "ann", ("admin",))
    token = token_for(apps["acme"], "ann")
    r = client.post("/acme/api/v1/records/order", json={"code": "A1", "rush": True}, headers=bearer(token))
    assert r.status_code == 201, r.text
    assert client.get("/plain/api/v1/records/order", headers=bearer(token)).status_code == 401  # not its token
    assert apps["plain"].query("order", user="admin") == []
    assert client.get("/nowhere/api/v1/health").status_code == 404


def test_sessions_and_api_docs_stay_within_their_app(site):
    apps, client = site
    add_user(apps["acme"], "ann", ("admin",))
    add_user(apps["plain"], "ann", ("admin",), password="another password")
    r = client.post("/acme/api/v1/auth/signin", json={"user": "ann", "password": PASSWORD})
    assert r.status_code == 200 and "Path=/acme" in r.headers["set-cookie"]
    assert client.get("/acme/api/v1/me").status_code == 200
    assert client.get("/plain/api/v1/me").status_code == 401
    page = client.get("/acme/api/docs").text
    assert 'href="/acme/api/docs/assets/swagger-ui.css"' in page
    assert client.get("/acme/api/docs/assets/swagger-ui.css").status_code == 200
    assert client.get("/acme/api/docs/init.js").text.startswith('var ROOT = "/acme";')
    assert client.get("/acme/openapi.json").json()["servers"] == [{"url": "/acme/"}]


def test_a_bad_site_file_is_refused_with_its_line(tmp_path, capsys):
    file = tmp_path / "site.yaml"
    file.write_text("apps:\n  a: {app: x, db: 'sqlite:///one.db'}\n  B!: {app: y, db: 'sqlite:///two.db'}\n"
                    "  c: {app: z, db: 'sqlite:///one.db'}\n  d: {app: z}\n")
    with pytest.raises(DefinitionErrors) as e:
        load_site(file)
    text = str(e.value)
    assert "site.yaml:3:3: apps.B!: 'B!' cannot be a URL prefix" in text
    assert "site.yaml:2:19: apps.a.db: each app needs its own database" in text
    assert "site.yaml:5:6: apps.d: each app needs exactly 'app'" in text
    assert main(["serve", "--site", str(file)]) == 1
    assert "cannot be a URL prefix" in capsys.readouterr().err
