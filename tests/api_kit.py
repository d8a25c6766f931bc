"""Helpers for API tests: an app served in-process (Starlette TestClient), users with passwords."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from ordo.designer_api.server import create_server
from ordo.designer_api.settings import Settings
from ordo.engine import SYSTEM, open_app
from ordo.engine.credentials import Credentials

PASSWORD = "correct horse battery"


def add_user(app: Any, name: str, roles: tuple[str, ...] = (), password: str | None = PASSWORD,
             **attrs: Any) -> None:
    with app.transaction(SYSTEM) as tx:
        tx.users.save(name, attrs=attrs or None)
        for role in roles:
            tx.users.grant(name, role)
        if password is not None:
            Credentials(tx.conn).set_password(name, password, tx.now)


def token_for(app: Any, name: str) -> str:
    with app.transaction(SYSTEM) as tx:
        return Credentials(tx.conn).create_token(name, tx.now)[1]


@contextlib.contextmanager
def served(app_dir: str | Path, db_url: str, **settings: Any) -> Iterator[tuple[Any, TestClient]]:
    """(app, client) for ``app_dir`` on ``db_url``; the client raises on any server error (500)."""
    app = open_app(app_dir, db_url)
    try:
        server = create_server(app, Settings(app=str(app_dir), db=db_url, **settings))
        with TestClient(server) as client:
            yield app, client
    finally:
        app.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in (it keeps the cookie); return the CSRF token."""
    r = client.post("/api/v1/auth/signin", json={"user": user, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]
