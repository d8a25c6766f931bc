"""Round robin under concurrent assignments on PostgreSQL: an even spread, no duplicate turns."""

from __future__ import annotations

import threading
from collections import Counter

import sqlalchemy as sa

from ordo.engine import SYSTEM, open_app
from ordo.engine.assignment.store import assignment_table, cursor_table

RULE = """
    kind: assignment
    name: handler
    entity: ticket
    field: owner
    rules:
      - {strategy: round_robin, to: {role: agent}}
"""
TICKET = """
    name: ticket
    fields:
      title: {type: string}
      owner: {type: string}
"""
AGENTS = ["a1", "a2", "a3", "a4", "a5"]
THREADS = 40


def test_concurrent_round_robin_is_even_and_never_duplicates(make_app, pg_url):
    app = open_app(make_app({"entities/ticket.yaml": TICKET, "rules/handler.yaml": RULE,
                             "roles.yaml": "roles:\n  agent: {}\n  admin: {users: [admin]}\n"}), pg_url)
    with app.users(SYSTEM) as d:
        for a in AGENTS:
            d.grant(a, "agent")
    ids = [app.create("ticket", {"title": f"t{i}"}, "admin")["id"] for i in range(THREADS)]
    service = app.features["assignment"]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(tid: int) -> None:
        try:
            barrier.wait()
            with app.transaction(SYSTEM) as tx:
                service.assign(tx, "handler", "ticket", tid)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    owners = [r["owner"] for r in app.query("ticket", user="admin", limit=1000)]
    assert Counter(owners) == {a: THREADS // len(AGENTS) for a in AGENTS}
    with app.engine.connect() as conn:  # every assignment took exactly one turn of the cursor
        turns = conn.execute(sa.select(cursor_table.c.turns)).scalar_one()
        picks = conn.execute(sa.select(sa.func.count()).select_from(assignment_table)).scalar_one()
    assert turns == picks == THREADS
    app.close()
