"""Pages of an app served under a prefix (several apps in one server, designer_api/site.py): every link,
form, redirect and script stays under the app's prefix."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from ordo.designer_api.settings import Settings
from ordo.designer_api.site import create_site_server
from ordo.engine import open_app

from .api_apps import SHOP, order_body, seed
from .api_kit import PASSWORD


def test_pages_under_a_prefix(make_app, tmp_path):
    root = make_app(SHOP)
    app = open_app(root, f"sqlite:///{tmp_path / 'acme.db'}")
    try:
        seed(app)
        app.create("order", order_body(status="submitted"), "ann")
        server = create_site_server({"acme": app}, Settings())
        with TestClient(server, follow_redirects=False) as c:
            r = c.get("/acme/home")
            assert r.status_code == 303 and r.headers["location"] == "/acme/signin?next=/home"
            r = c.post("/acme/signin", data={"user": "max", "password": PASSWORD, "next": "/home"})
            assert r.status_code == 303 and r.headers["location"] == "/acme/home"
            home = c.get("/acme/home").text
            assert 'href="/acme/app/order"' in home and 'href="/acme/static/ordo.css"' in home
            links = re.findall(r'(?:href|action|src)="(/[^"]*)"', home)
            assert links and all(link.startswith("/acme/") for link in links), links
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
            form = c.get("/acme/app/order/new").text
            assert 'action="/acme/app/order/new"' in form and 'data-ordo-api="/acme/api/v1/records"' in form
            r = c.post("/acme/app/order/new", data={"csrf_token": csrf, "customer": "C1", "total": "5",
                                                    "lines.0.product": "P1", "lines.0.qty": "1",
                                                    "lines.0.price": "5"})
            assert r.status_code == 303 and r.headers["location"].startswith("/acme/app/order/")
            assert c.get(r.headers["location"]).status_code == 200
            assert c.get("/acme/static/ordo.js").status_code == 200
            assert c.get("/acme/pick/customer?term=").json()["items"][0]["name"] == "C1"
            r = c.get("/acme/lang?to=zh&next=/app/order")
            assert r.headers["location"] == "/acme/app/order"
            assert "订单" in c.get("/acme/app/order").text
            r = c.post("/acme/signout", data={"csrf_token": csrf})
            assert r.headers["location"] == "/acme/signin"
    finally:
        app.close()
