"""What runs the DRAFT (report and allocation previews, simulate on the API and the page) reads data with the
PUBLISHED version's permissions: a designer who grants themselves more in the draft (a new role grant, a
widened row rule, an unhidden field) sees nothing more before publishing (which is audited). On SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from ordo.designer_api.server import create_server
from ordo.designer_api.settings import Settings
from ordo.engine import open_app
from ordo.engine.definitions import DefinitionStore

from .api_apps import SHOP, seed
from .api_kit import add_user, bearer, token_for
from .web_kit import sign_in, text_of

# published: dee is a salesman (own orders, customers of the north, product costs hidden) and a designer
ROLES = SHOP["roles.yaml"].replace("          manager:\n", "          designers:\n"
                                   "            privileges: [designer]\n          manager:\n")
# the draft: every restriction of sales lifted, and the designers granted everything, a new report included
GREEDY = """roles:
  sales:
    permissions:
      - {entity: order}
      - {entity: customer}
      - {entity: product}
      - {flow: order_approval}
      - {report: orders_by_status}
      - {report: product_costs}
  designers:
    privileges: [designer]
    permissions:
      - {entity: order}
      - {entity: customer}
      - {entity: product}
      - {report: product_costs}
      - {report: orders_by_status}
  manager:
    permissions:
      - {entity: order}
"""
COSTS = """name: product_costs
source: product
dimensions: [sku]
measures:
  - {name: cost, agg: sum, expr: cost}
"""
# the published report, changed in the draft to read the hidden field
COSTS_AS_ORDERS = COSTS.replace("name: product_costs", "name: orders_by_status")
PEEK_FLOW = """name: order_approval
entity: order
trigger: {on: create_or_update, when: "status == 'submitted'"}
nodes:
  peek:
    type: action
    set: {subject: "customer.customer_name"}
    next: done
  done: {type: end, outcome: approved}
"""
PRICE_FLOW = """name: price_check
entity: product
trigger: {on: create}
nodes:
  route:
    type: condition
    branches:
      - {when: "cost > 5", to: expensive}
    default: cheap
  expensive: {type: end, outcome: expensive}
  cheap: {type: end, outcome: cheap}
"""


@contextlib.contextmanager
def served(make_app: Any, db_url: str) -> Iterator[tuple[Any, TestClient, DefinitionStore, dict[str, str]]]:
    root = make_app({**SHOP, "roles.yaml": ROLES})
    app = open_app(root, db_url)
    try:
        seed(app)
        add_user(app, "dee", ("sales", "designers"), region="north")
        app.create("order", {"subject": "Ann's", "customer": "C1", "owner": "ann", "total": "777"}, "root")
        app.create("order", {"subject": "Dee's", "customer": "C2", "owner": "dee", "total": "5"}, "root")
        store = DefinitionStore(app.engine, root=root, label=app.name)
        store.import_folder(root, "root", "first import")
        tokens = {u: token_for(app, u) for u in ("dee", "root")}
        with TestClient(create_server(app, Settings(app=str(root), db=db_url)), follow_redirects=False) as client:
            yield app, client, store, tokens
    finally:
        app.close()


@pytest.fixture
def shop(make_app: Any, db_url: str) -> Iterator[tuple[Any, TestClient, DefinitionStore, dict[str, str]]]:
    with served(make_app, db_url) as found:
        yield found


def _greedy_draft(store: DefinitionStore, **files: str) -> None:
    store.save_file("roles.yaml", GREEDY, "dee")
    store.save_file("reports/costs.yaml", COSTS, "dee")
    for path, text in files.items():
        store.save_file(path, text, "dee")
    assert not store.validate(), store.validate()


def _simulate(client: TestClient, token: str, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/designer/simulate", json=body, headers=bearer(token))


def test_report_preview_reads_with_the_published_permissions(shop: Any) -> None:
    app, client, store, _ = shop
    sign_in(client, "dee")
    _greedy_draft(store)
    r = client.get("/designer/preview/report/orders_by_status")
    assert r.status_code == 200, text_of(r.text)
    page = text_of(r.text)
    assert "5" in page and "777" not in page  # dee's own order only: the draft's wider row rule is not applied
    # a report new in the draft: the published roles do not grant it
    r = client.get("/designer/preview/report/product_costs")
    assert r.status_code == 403, text_of(r.text)
    assert "10.00" not in text_of(r.text)
    # a published report changed to read a field hidden from dee: refused, though the draft unhides it
    store.save_file("reports/orders.yaml", COSTS_AS_ORDERS, "dee")
    r = client.get("/designer/preview/report/orders_by_status")
    assert r.status_code == 403, text_of(r.text)
    assert "10.00" not in text_of(r.text)


def test_an_admin_previews_what_the_draft_adds(shop: Any) -> None:
    _, client, store, _ = shop
    sign_in(client, "root")
    _greedy_draft(store)
    r = client.get("/designer/preview/report/product_costs")
    assert r.status_code == 200, text_of(r.text)
    assert "6.00" in text_of(r.text)


def test_simulate_reads_the_record_with_the_published_permissions(shop: Any) -> None:
    _, client, store, tokens = shop
    csrf = sign_in(client, "dee")
    _greedy_draft(store)
    ann_order = "SO-00001"
    # the API: a record dee may not read is not found, whatever the draft grants
    r = _simulate(client, tokens["dee"], {"flow": "order_approval", "record": ann_order})
    assert r.status_code == 404, r.text
    assert _simulate(client, tokens["root"], {"flow": "order_approval", "record": ann_order}).status_code == 200
    # the page: the same
    r = client.post("/designer/flow/order_approval/simulate", data={"csrf_token": csrf, "record": ann_order})
    assert r.status_code == 400 and "SO-00001&#39; not found" in r.text, text_of(r.text)
    # a sample linking a customer dee may not read (C2 is in the south): refused as unknown
    r = _simulate(client, tokens["dee"], {"flow": "order_approval", "values": {"customer": "C2", "owner": "dee"}})
    assert r.status_code in (400, 422) and "Globex" not in r.text, r.text


def test_the_drafts_expressions_read_only_what_the_user_may_read(shop: Any) -> None:
    _, client, store, tokens = shop
    csrf = sign_in(client, "dee")
    _greedy_draft(store, **{"flows/order_approval.yaml": PEEK_FLOW, "flows/price_check.yaml": PRICE_FLOW})
    dee_order = "SO-00002"  # dee's own order, linking a customer dee may not read
    # an action of the draft flow copying the linked customer's name: the link reads as empty for dee
    root = _simulate(client, tokens["root"], {"flow": "order_approval", "record": dee_order})
    assert root.status_code == 200 and "Globex" in root.text, root.text
    r = _simulate(client, tokens["dee"], {"flow": "order_approval", "record": dee_order})
    assert r.status_code == 400 and "Globex" not in r.text, r.text  # as a new record: a link dee may not make
    r = client.post("/designer/flow/order_approval/simulate", data={"csrf_token": csrf, "record": dee_order})
    assert r.status_code == 200, text_of(r.text)
    assert "Globex" not in text_of(r.text) and "subject = empty" in text_of(r.text)
    # a field hidden from dee (product cost) stays hidden though the draft unhides it: the condition sees none
    root = _simulate(client, tokens["root"], {"flow": "price_check", "record": "P2"})
    assert "goes to expensive" in root.text, root.text
    r = _simulate(client, tokens["dee"], {"flow": "price_check", "record": "P2"})
    assert r.status_code == 200 and "goes to cheap" in r.text, r.text
    r = client.post("/designer/flow/price_check/simulate", data={"csrf_token": csrf, "record": "P2"})
    assert r.status_code == 200 and "goes to cheap" in text_of(r.text), text_of(r.text)


def test_one_app_per_draft_content_under_concurrent_requests(shop: Any) -> None:
    """Live.app_for from many threads at once: no error, one App per content, the cache bounded."""
    _, client, store, _ = shop
    live = client.app.state.live  # type: ignore[attr-defined]
    _greedy_draft(store)
    found: list[Any] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            found.append(live.app_for("draft"))
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len({id(a) for a in found}) == 1
    assert found[0].confined and found[0] is not live.app
    report = store.draft()["reports/orders.yaml"]
    for i in range(12):  # every content its own App; only the last few are kept
        store.save_file("reports/orders.yaml", f"{report}\n# {i}\n", "dee")
        live.app_for("draft")
    assert len(live.versions._cache) <= live.versions.keep
