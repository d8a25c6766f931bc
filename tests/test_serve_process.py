"""`ordo serve` as a real process: uvicorn on a free port, one worker on SQLite, several on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest

from ordo.engine import open_app
from ordo.engine.cli import main

from .api_kit import PASSWORD, add_user

APP = {"entities/note.yaml": """
    name: note
    fields:
      text: {type: string}
"""}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(*argv: str, env: dict[str, str] | None = None) -> Iterator[str]:
    with serving_command("serve", *argv, env=env) as base:
        yield base


@contextlib.contextmanager
def serving_command(*argv: str, env: dict[str, str] | None = None, timeout: float = 30) -> Iterator[str]:
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # a pipe nobody reads could fill up and block the server
    proc = subprocess.Popen([sys.executable, "-m", "ordo", *argv, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"ordo {argv[0]} exited: {log.read()[-3000:]}")
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"ordo {argv[0]} did not answer within {timeout} s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
        log.close()


def test_serve_refuses_a_missing_database(make_app, tmp_path, capsys):
    app_dir = str(make_app(APP, name="notes"))
    assert main(["serve", app_dir, "--db", str(tmp_path / "nope.db")]) == 1
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "nope.db").exists()


def test_serve_on_sqlite_with_create(make_app, tmp_path):
    app_dir, db = str(make_app(APP, name="notes")), str(tmp_path / "notes.db")
    with serving(app_dir, "--db", db, "--create") as base:
        with open_app(app_dir, db, sync=False) as app:
            add_user(app, "ann")
        r = httpx.post(base + "/api/v1/auth/signin", json={"user": "ann", "password": PASSWORD})
        assert r.status_code == 200 and "ordo_session" in r.cookies
        assert httpx.get(base + "/api/v1/me", cookies=r.cookies).json()["user"] == "ann"


def test_several_workers_share_sessions_on_postgresql(make_app, pg_url):
    app_dir = str(make_app(APP, name="notes"))
    assert main(["sync", app_dir, "--db", pg_url]) == 0
    with open_app(app_dir, pg_url, sync=False) as app:
        add_user(app, "ann")
    with serving(app_dir, "--db", pg_url, "--workers", "2") as base:
        with httpx.Client(base_url=base) as client:
            csrf = client.post("/api/v1/auth/signin", json={"user": "ann", "password": PASSWORD}).json()["csrf_token"]
            # many requests: they land on both workers, which agree on the session and the signing key
            assert all(client.get("/api/v1/me").status_code == 200 for _ in range(20))
            assert client.post("/api/v1/auth/signout", headers={"X-CSRF-Token": csrf}).status_code == 200
            assert all(client.get("/api/v1/me").status_code == 401 for _ in range(10))


@pytest.mark.parametrize("env", [{"ORDO_PORT": "0"}, {"ORDO_WORKERS": "many"}])
def test_bad_settings_are_named(make_app, tmp_path, capsys, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    app_dir = str(make_app(APP, name="notes"))
    assert main(["serve", app_dir, "--db", str(tmp_path / "x.db"), "--create"]) == 1
    err = capsys.readouterr().err
    assert ("port" in err or "ORDO_WORKERS" in err) and "Traceback" not in err


def test_demo_then_serve(tmp_path):
    """The README's main job: play the demo, then serve it; demo users sign in with the demo password."""
    db = str(tmp_path / "demo.db")
    with serving_command("demo", "--serve", "--db", db, timeout=240) as base:
        r = httpx.post(base + "/api/v1/auth/signin", json={"user": "cathy", "password": "ordo-demo"})
        assert r.status_code == 200, r.text
        assert httpx.get(base + "/api/v1/me", cookies=r.cookies).json()["user"] == "cathy"
