"""Helpers for the designer API tests: a small claims app with an approval flow, served in-process with its
definitions stored in its database (as ``ordo serve`` does)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from starlette.testclient import TestClient

from ordo.designer_api.server import create_server, open_for_serving
from ordo.designer_api.settings import Settings

from .api_kit import add_user, bearer, token_for

# comments and formatting on purpose: exports must keep them byte for byte
CLAIMS = {
    "entities/claim.yaml": """
        # A claim for money back.
        name: claim
        naming: "CL-{####}"
        fields:
          title: {type: string}
          amount: {type: money, default: 0}   # in the company's currency
          status: {type: string, default: draft}
    """,
    "roles.yaml": """
        roles:
          designer: {privileges: [designer]}
          manager: {}
          finance: {}
          everyone:
            permissions:
              - {entity: claim}
              - {flow: claim_approval, actions: [start, withdraw]}
    """,
    "flows/claim_approval.yaml": """
        # Claims are approved by a manager.
        name: claim_approval
        entity: claim
        trigger: {on: create_or_update, when: "status == 'submitted'"}
        nodes:
          review:
            type: approval
            approvers: [{role: manager}]
            next: done
          done: {type: end, outcome: approved}
    """,
}

# v2 of the flow: claims above 1000 also go to finance
FINANCE_FLOW = """# Claims are approved by a manager.
name: claim_approval
entity: claim
trigger: {on: create_or_update, when: "status == 'submitted'"}
nodes:
  review:
    type: approval
    approvers: [{role: manager}]
    next: big
  big:
    type: condition
    branches:
      - {when: "amount > 1000", to: finance}
    default: done
  finance:
    type: approval
    approvers: [{role: finance}]
    next: done
  done: {type: end, outcome: approved}
"""


class Served:
    """An app served in-process; ``h[user]`` are the users' request headers."""

    def __init__(self, app: Any, client: TestClient) -> None:
        self.app = app
        self.client = client
        self.h: dict[str, dict[str, str]] = {}

    @property
    def served(self) -> Any:
        return self.client.app.state.ordo  # type: ignore[attr-defined]

    def user(self, name: str, *roles: str) -> dict[str, str]:
        add_user(self.app, name, roles)
        self.h[name] = bearer(token_for(self.app, name))
        return self.h[name]

    def get(self, path: str, user: str = "des", **kw: Any) -> Any:
        return self.client.get("/api/v1/designer" + path, headers=self.h[user], **kw)

    def post(self, path: str, body: Any = None, user: str = "des", **kw: Any) -> Any:
        return self.client.post("/api/v1/designer" + path, json=body, headers=self.h[user], **kw)

    def put_file(self, path: str, text: str, user: str = "des") -> Any:
        return self.client.put(f"/api/v1/designer/files/{path}", json={"text": text}, headers=self.h[user])

    def file(self, path: str, version: str = "draft") -> str:
        r = self.get(f"/files/{path}", params={"version": version})
        assert r.status_code == 200, r.text
        return r.json()["text"]


@contextlib.contextmanager
def served(folder: str, db_url: str) -> Iterator[Served]:
    settings = Settings(app=folder, db=db_url, create=True)
    app = open_for_serving(settings)
    try:
        with TestClient(create_server(app, settings)) as client:
            s = Served(app, client)
            s.user("des", "designer")
            s.user("root", "admin")
            s.user("mia", "manager")
            s.user("fin", "finance")
            s.user("bob")
            yield s
    finally:
        app.close()
