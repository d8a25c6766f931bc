"""Helpers for the flow tests: a small expense app, users and a fixed, movable clock."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

from ordo.dsl.expr import Clock
from ordo.engine import open_app

T0 = dt.datetime(2026, 3, 16, 9, 0)

ENTITIES = {
    "entities/employee.yaml": """
        name: employee
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          manager: {type: string}
    """,
    "entities/expense.yaml": """
        name: expense
        naming: "EXP-{#####}"
        fields:
          title: {type: string}
          amount: {type: money, default: 0}
          owner: {type: link, entity: employee}
          stage: {type: string}
          approved_on: {type: date}
          paid: {type: boolean, default: false}
          reviewers: {type: json}
    """,
    "entities/payment.yaml": """
        name: payment
        fields:
          expense: {type: link, entity: expense}
          amount: {type: money}
    """,
}

# roles assign tasks; access is default deny once roles are declared, so everyone may work with the records
# and start and withdraw the flows (see roles_yaml)
ROLES = """
roles:
  director: {users: [dora]}
  finance: {users: [fin1, fin2]}
  clerk: {users: [carl]}
  admin: {users: [root]}
  everyone:
    permissions:
      - {entity: employee}
      - {entity: expense}
      - {entity: payment}
"""


ENTITIES["roles.yaml"] = ROLES


def roles_yaml(flows: list[str]) -> str:
    """The kit's roles, with everyone granted to start and withdraw ``flows``."""
    return ROLES + "".join(f"      - {{flow: {name}, actions: [start, withdraw]}}\n" for name in flows)

USERS = ["alice", "bob", "carol", "dave", "erin", "dora", "fin1", "fin2", "carl", "root"]


class Kit:
    """One app on one database with helpers to act as users."""

    def __init__(self, app: Any, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.flows = app.features["flows"]
        with app.users("root") as d:
            for u in USERS:
                d.save(u, email=f"{u}@example.com")
        if not self.app.count("employee", user="root"):
            self.app.create("employee", {"code": "E1", "manager": "bob"}, "root")

    def expense(self, amount: Any = 100, user: str = "alice", **values: Any) -> dict:
        return self.app.create("expense", {"title": "trip", "amount": amount, "owner": "E1", **values}, user)

    def run(self, user: str, method: str, *args: Any, **kwargs: Any) -> Any:
        with self.app.transaction(user) as tx:
            return getattr(self.flows, method)(tx, *args, **kwargs)

    def inbox(self, user: str) -> list:
        return self.run(user, "inbox")

    def task(self, user: str, node: str | None = None) -> int:
        tasks = [t for t in self.inbox(user) if node is None or t.node == node]
        assert tasks, f"{user} has no task" + (f" at {node}" if node else "")
        return tasks[0].id

    def approve(self, user: str, node: str | None = None, comment: str | None = None) -> None:
        self.run(user, "approve", self.task(user, node), comment)

    def reject(self, user: str, node: str | None = None, comment: str | None = None, to: str | None = None) -> None:
        self.run(user, "reject", self.task(user, node), comment, to)

    def status(self, rec: dict) -> Any:
        return self.run("root", "status", "expense", rec["id"])

    def timeline(self, rec: dict) -> list:
        return self.run("root", "timeline", "expense", rec["id"])

    def actions(self, rec: dict) -> list[tuple[str, str | None]]:
        return [(e.action, e.node) for e in self.timeline(rec)]

    def get(self, rec: dict) -> dict:
        return self.app.get("expense", rec["id"], "root")

    def advance(self, **delta: float) -> int:
        self.clock.fixed = self.clock.fixed + dt.timedelta(**delta)
        return self.app.jobs.run_due("w1", now=self.clock.fixed)

    def outbox(self, recipient: str | None = None) -> list:
        from ordo.engine import outbox

        with self.app.engine.connect() as conn:
            return outbox.messages(conn, recipient=recipient, limit=1000)


def make_kit(make_app, db_url: str, flows: dict[str, str], extra: dict[str, str] | None = None) -> Kit:
    files = {**ENTITIES, "roles.yaml": roles_yaml(list(flows)), **(extra or {})}
    for name, text in flows.items():
        files[f"flows/{name}.yaml"] = f"name: {name}\n" + textwrap.dedent(text).lstrip("\n")
    clock = Clock(T0)
    app = open_app(make_app(files), db_url, clock=clock)
    return Kit(app, clock)
