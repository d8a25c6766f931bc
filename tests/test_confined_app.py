"""An App running unpublished definitions with another version's authority (``App(authority=...)``, what the
designer's previews and simulations run on): the published roles apply, and the unpublished definitions' own
expressions read only what the acting user may read (links, related aggregates, allocation candidates)."""

from __future__ import annotations

from typing import Any

import pytest

from ordo.dsl.loader import load_app
from ordo.engine import PermissionDenied, open_app
from ordo.engine.actor import User
from ordo.engine.app import App

from .allocation_apps import app_files
from .api_kit import add_user

ENTITIES = {
    "entities/account.yaml": """
        name: account
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          secret: {type: string}
          invoices: {type: related, entity: invoice, where: "account == parent.id"}
    """,
    "entities/invoice.yaml": """
        name: invoice
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          account: {type: link, entity: account}
          region: {type: string}
          amount: {type: integer}
    """,
    "entities/deal.yaml": """
        name: deal
        fields:
          title: {type: string}
          account: {type: link, entity: account}
    """,
}
PUBLISHED_ROLES = """
    roles:
      rep:
        permissions:
          - {entity: account, actions: [read], hidden: [secret]}
          - {entity: invoice, actions: [read], where: "region == user.region"}
          - {entity: deal}
"""
DRAFT_ROLES = """
    roles:
      rep:
        permissions:
          - {entity: account}
          - {entity: invoice}
          - {entity: deal}
"""
PEEK = """
    name: peek
    entity: deal
    trigger: {on: create}
    nodes:
      billed:
        type: condition
        branches:
          - {when: "sum(account.invoices, amount) > 100", to: copy}
        default: copy
      copy:
        type: action
        set: {title: "account.secret"}
        next: done
      done: {type: end}
"""


def _texts(steps: list[Any]) -> str:
    return " | ".join(s.text for s in steps)


def test_links_and_related_aggregates_read_as_the_user(make_app: Any, db_url: str) -> None:
    published = make_app({**ENTITIES, "roles.yaml": PUBLISHED_ROLES})
    draft = make_app({**ENTITIES, "roles.yaml": DRAFT_ROLES, "flows/peek.yaml": PEEK})
    app = open_app(published, db_url)
    try:
        add_user(app, "rita", ("rep",), region="north")
        add_user(app, "root", ("admin",))
        app.create("account", {"code": "A1", "secret": "s3cr3t"}, "root")
        app.create("invoice", {"code": "I1", "account": "A1", "region": "south", "amount": 500}, "root")
        deal = app.create("deal", {"title": "d", "account": "A1"}, "root")
        unconfined = App(load_app(draft), engine=app.engine, sync=False, check=False)
        confined = App(load_app(draft), engine=app.engine, sync=False, check=False, authority=app.definition)
        assert confined.confined and not unconfined.confined
        values = {"title": "d", "account": deal["account"]}
        # what the draft's own roles would let rita see
        assert "s3cr3t" in _texts(unconfined.features["flows"].simulate("peek", values, user="rita"))
        steps = confined.features["flows"].simulate("peek", values, user="rita")
        assert "s3cr3t" not in _texts(steps) and "title = empty" in _texts(steps)
        assert "s3cr3t" in _texts(confined.features["flows"].simulate("peek", values, user="root"))
        # the south invoice is not rita's: the aggregate over it is unknown (null) for her, 500 for root
        with confined.reader("rita") as tx:
            node = confined.features["flows"].flow("peek").nodes["billed"].branches[0][0]
            assert node(dict(values, id=None), tx.env, "rita") is not True
        with confined.reader("root") as tx:
            assert node(dict(values, id=None), tx.env, "root") is True
        # the published roles, not the draft's: rita reads no south invoice
        assert confined.query("invoice", user="rita") == []
        assert confined.get("account", "A1", "rita").get("secret") is None
    finally:
        app.close()


ALLOCATION_ROLES = """
    roles:
      clerk:
        permissions:
          - {entity: order}
          - {entity: allocation}
          - {entity: site, actions: [read]}
          - {entity: product, actions: [read]}
          - {entity: stock, actions: [read, update], hidden: [cost]}
"""


@pytest.mark.parametrize("user, allowed", [("clerk", False), ("root", True)])
def test_an_allocation_needs_whole_reads_of_demand_and_supply(make_app: Any, db_url: str, user: str,
                                                              allowed: bool) -> None:
    root = make_app({**app_files(), "roles.yaml": ALLOCATION_ROLES})
    app = open_app(root, db_url)
    try:
        add_user(app, "clerk", ("clerk",))
        add_user(app, "root", ("admin",))
        app.create("site", {"code": "S1"}, "root")
        app.create("product", {"code": "P1"}, "root")
        app.create("stock", {"site": "S1", "product": "P1", "on_hand": 5, "cost": 3}, "root")
        order = app.create("order", {"lines": [{"product": "P1", "qty": 2}]}, "root")
        confined = App(load_app(root), engine=app.engine, sync=False, check=False, authority=app.definition)
        allocate = confined.features["allocation"].allocate

        def work(tx: Any) -> Any:
            return allocate(tx, "fulfil", order["id"], explain=True)

        if allowed:
            assert confined.run(user, work).status == "allocated"
            return
        with pytest.raises(PermissionDenied, match="stock records they may read only in part"):
            confined.run(user, work)
        # the served App is not confined: there the rule runs with the definition's authority
        served = app.features["allocation"].allocate
        assert app.run(user, lambda tx: served(tx, "fulfil", order["id"])).status == "allocated"
    finally:
        app.close()


MEMO = """
    name: memo
    fields:
      text: {type: string}
"""


def test_a_published_row_rule_the_draft_cannot_compile_allows_no_row(make_app: Any, db_url: str) -> None:
    published = make_app({**ENTITIES, "roles.yaml": PUBLISHED_ROLES})
    no_region = ENTITIES["entities/invoice.yaml"].replace("          region: {type: string}\n", "")
    draft = make_app({**ENTITIES, "entities/invoice.yaml": no_region, "roles.yaml": DRAFT_ROLES})
    app = open_app(published, db_url)
    try:
        add_user(app, "rita", ("rep",), region="north")
        add_user(app, "root", ("admin",))
        app.create("invoice", {"code": "I1", "region": "north", "amount": 5}, "root")
        assert [r["code"] for r in app.query("invoice", user="rita")] == ["I1"]
        confined = App(load_app(draft), engine=app.engine, sync=False, check=False, authority=app.definition)
        assert confined.query("invoice", user="rita") == []  # "region == user.region" names a field it lacks
        # an entity only the draft has: no published role grants it
        memo = make_app({**ENTITIES, "roles.yaml": DRAFT_ROLES, "entities/memo.yaml": MEMO})
        with_memo = App(load_app(memo), engine=app.engine, sync=False, check=False, authority=app.definition)
        rita = User("rita", frozenset({"rep"}))
        assert with_memo.permissions.entity_actions(rita, "memo") == set()
        assert load_app(memo).get("entity", "memo") is not None
    finally:
        app.close()
