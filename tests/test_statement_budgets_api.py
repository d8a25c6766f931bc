"""Statement budgets of the API's record list (SQLite and PostgreSQL): exact counts, so the list that
``bench/api.py`` drives cannot silently grow. Transaction control (SQLite's BEGIN) is not counted.

``GET /api/v1/records/order?where=...&order_by=-created_at&limit=50`` by a token costs: the token's holder
with their roles (one statement), the page, the total (``count(*)`` with the same filter and row rule), and
one statement per linked entity whose names the page shows. Row rules, hidden fields and the filter are part
of those statements, never extra ones; the caller's last use of the token is written at most once a minute.
"""

from __future__ import annotations

import pytest

from ordo.engine.stats import count_statements

from .api_apps import SHOP, order_body, seed
from .api_kit import bearer, served

LIST = {"where": "status == 'draft'", "order_by": "-created_at", "limit": "50"}


@pytest.fixture
def shop(make_app, db_url):
    with served(make_app(SHOP), db_url) as (app, client):
        # the once-a-second look for a newly published version is not part of a list's cost: on a loaded
        # machine it would fall inside a measured request
        client.app.state.live.interval = float("inf")
        tokens = seed(app)
        for i in range(12):
            owner = ("ann", "bob")[i % 2]
            client.post("/api/v1/records/order", json=order_body(owner, ("C1", "C2")[i % 2], subject=f"O{i}"),
                        headers=bearer(tokens["max"])).raise_for_status()
        for token in tokens.values():  # each token's first use is recorded (a write); later ones within a minute not
            client.get("/api/v1/me", headers=bearer(token)).raise_for_status()
        yield app, client, tokens


def work(counts) -> list[str]:
    return [text for text in counts.texts if not text.lstrip().upper().startswith("BEGIN")]


def listed(shop, user: str, **params: str):
    app, client, tokens = shop
    with count_statements(app.engine) as counts:
        r = client.get("/api/v1/records/order", params={**LIST, **params}, headers=bearer(tokens[user]))
    assert r.status_code == 200, r.text
    return r.json(), work(counts), counts


def test_a_list_with_a_filter_and_total_costs_four_statements(shop):
    page, texts, counts = listed(shop, "ann")  # a row rule (her own orders) and a link shown by name
    assert len(texts) == 4, texts
    assert all(t.lstrip().upper().startswith("SELECT") for t in texts)
    assert counts.commits <= 2  # reads only: the credentials' and the list's transactions
    assert page["total"] == 6 and len(page["items"]) == 6
    assert {o["owner"] for o in page["items"]} == {"ann"}
    assert {o["customer"] for o in page["items"]} == {"C1"}  # the link by its record's name
    assert {o["total"] for o in page["items"]} == {"37.50"}  # money at its scale
    assert [o["subject"] for o in page["items"]] == [f"O{i}" for i in (10, 8, 6, 4, 2, 0)]  # newest first


def test_the_same_list_for_a_manager_and_without_total(shop):
    page, texts, _ = listed(shop, "max")
    assert len(texts) == 4, texts
    assert page["total"] == 12 and {o["customer"] for o in page["items"]} == {"C1", "C2"}
    page, texts, _ = listed(shop, "max", total="false")
    assert len(texts) == 3, texts
    assert page["total"] is None and len(page["items"]) == 12


def test_a_page_without_links_costs_three_and_hidden_fields_cost_nothing(shop):
    page, texts, _ = listed(shop, "ann", fields="subject,total,status")
    assert len(texts) == 3, texts
    assert set(page["items"][0]) == {"subject", "total", "status"}
    app, client, tokens = shop
    with count_statements(app.engine) as counts:
        r = client.get("/api/v1/records/product", params={"order_by": "-created_at"}, headers=bearer(tokens["ann"]))
    assert r.status_code == 200 and len(work(counts)) == 3, work(counts)
    assert [p["sku"] for p in r.json()["items"]] == ["P2", "P1"]
    assert all("cost" not in p for p in r.json()["items"])  # hidden from sales: never returned


def test_expanded_links_add_one_statement_per_link(shop):
    page, texts, _ = listed(shop, "ann", expand="customer")
    assert page["items"][0]["customer"] == {"id": page["items"][0]["customer"]["id"], "name": "C1", "title": "Acme"}
    assert len(texts) == 6, texts


def test_a_list_records_a_new_tokens_first_use_then_not_again_within_a_minute(shop):
    import sqlalchemy as sa

    from ordo.engine.credentials import Credentials, token_table

    app, client, _ = shop
    with app.transaction("root") as tx:
        fresh = Credentials(tx.conn).create_token("max", tx.now)[1]

    def last_used():
        with app.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(token_table.c.last_used_at))
                                .where(token_table.c.user_name == "max")).scalar()

    before = last_used()
    with count_statements(app.engine) as counts:
        r = client.get("/api/v1/records/order", params=LIST, headers=bearer(fresh))
    assert r.status_code == 200, r.text
    assert any(t.lstrip().upper().startswith("UPDATE ORDO_TOKEN") for t in counts.texts), counts.texts
    assert last_used() is not None and (before is None or last_used() >= before)
    with count_statements(app.engine) as counts:
        assert client.get("/api/v1/records/order", params=LIST, headers=bearer(fresh)).status_code == 200
    assert len(work(counts)) == 4, work(counts)  # the use is not written again within the minute
