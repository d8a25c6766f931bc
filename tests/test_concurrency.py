"""Concurrency guarantees of the store, proven on PostgreSQL with real concurrent connections."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ordo.engine import Conflict, open_app

APP = {
    "entities/counter.yaml": """
        name: counter
        naming: "C-{#####}"
        fields:
          value: {type: integer, default: 0}
          code: {type: string, unique: true}
    """,
}


def test_no_lost_update_with_expected_version(make_app, pg_url):
    app = open_app(make_app(APP), pg_url)
    rec = app.create("counter", {"value": 0}, "u")
    barrier = threading.Barrier(8)

    def bump(i: int) -> bool:
        barrier.wait()
        try:
            app.update("counter", rec["id"], {"value": i + 1}, f"user{i}", expected_version=1)
            return True
        except Conflict:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(bump, range(8)))
    assert results.count(True) == 1
    final = app.get("counter", rec["id"], "u")
    assert final["version"] == 2
    assert len(app.audit_log(user="u", entity="counter", action="update")) == 1
    app.close()


def test_read_modify_write_loop_loses_nothing(make_app, pg_url):
    app = open_app(make_app(APP), pg_url)
    rec = app.create("counter", {"value": 0}, "u")

    def increment(_: int) -> None:
        while True:
            cur = app.get("counter", rec["id"], "u")
            try:
                app.update("counter", rec["id"], {"value": cur["value"] + 1}, "u", expected_version=cur["version"])
                return
            except Conflict:
                continue

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(increment, range(60)))
    assert app.get("counter", rec["id"], "u")["value"] == 60
    app.close()


def test_names_and_unique_values_under_concurrent_creates(make_app, pg_url):
    app = open_app(make_app(APP), pg_url)

    def create(i: int) -> str | None:
        try:
            return app.create("counter", {"code": f"K{i % 10}"}, "u")["name"]
        except Exception:  # duplicates of a unique code are refused
            return None

    with ThreadPoolExecutor(8) as pool:
        names = [n for n in pool.map(create, range(40)) if n]
    assert len(names) == len(set(names)) == 10
    assert app.count("counter", user="u") == 10
    app.close()
