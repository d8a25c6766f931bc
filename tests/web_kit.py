"""Helpers for page tests: the API test app served in-process, signing in through the sign-in page."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from starlette.testclient import TestClient

from ordo.designer_api.server import create_server
from ordo.designer_api.settings import Settings
from ordo.engine import open_app

from .api_apps import SHOP, seed
from .api_kit import PASSWORD


@contextlib.contextmanager
def shop(make_app: Any, db_url: str) -> Iterator[tuple[Any, TestClient]]:
    """(app, client) of the shop app with its users and master data; the client does not follow redirects
    and raises on a server error."""
    root = make_app(SHOP)
    app = open_app(root, db_url)
    try:
        seed(app)
        with TestClient(create_server(app, Settings(app=str(root), db=db_url)), follow_redirects=False) as client:
            yield app, client
    finally:
        app.close()


def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> str:
    """Sign in through the page; return the CSRF token of the session (as the pages' forms carry it)."""
    r = client.post("/signin", data={"user": user, "password": password, "next": "/home"})
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/home").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def text_of(html: str) -> str:
    """The page's text without tags and with spaces collapsed (for assertions on what a user reads)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
