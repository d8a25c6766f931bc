"""Field rules over HTTP: a hidden field is never returned, sorted or filtered on, nor described;
a read-only field is refused on write with its name."""

from __future__ import annotations

import pytest

from .api_apps import SHOP, seed
from .api_kit import bearer, served


@pytest.fixture
def shop(make_app, db_url):
    with served(make_app(SHOP, name="shop"), db_url) as (app, client):
        tokens = seed(app)
        yield app, client, {u: bearer(t) for u, t in tokens.items()}


def test_hidden_fields_never_show(shop):
    _, client, h = shop
    listed = client.get("/api/v1/records/product", headers=h["ann"]).json()["items"]
    assert listed and all("cost" not in r for r in listed) and "price" in listed[0]
    one = client.get("/api/v1/records/product/P1", headers=h["ann"]).json()
    assert "cost" not in one
    assert client.get("/api/v1/records/product/P1", headers=h["max"]).json()["cost"] == "4.00"
    unknown = client.get("/api/v1/records/product", params={"order_by": "nothing"}, headers=h["ann"]).json()
    hidden = client.get("/api/v1/records/product", params={"order_by": "cost"}, headers=h["ann"]).json()
    assert hidden["code"] == unknown["code"] == "bad_request"
    assert hidden["message"].replace("cost", "X") == unknown["message"].replace("nothing", "X")
    r = client.get("/api/v1/records/product", params={"where": "cost > 5"}, headers=h["ann"])
    assert r.status_code == 400 and "unknown field 'cost'" in r.json()["message"]
    r = client.get("/api/v1/records/product", params={"fields": "sku,cost"}, headers=h["ann"])
    assert r.status_code == 400 and "fields" == r.json()["field"]


def test_read_only_fields_are_refused_by_name(shop):
    _, client, h = shop
    r = client.patch("/api/v1/records/product/P1", json={"price": "1.00"}, headers=h["ann"])
    assert r.status_code == 422 and r.json()["field"] == "price" and "read-only" in r.json()["message"]
    r = client.patch("/api/v1/records/product/P1", json={"title": "Big mug"}, headers=h["ann"])
    assert r.status_code == 200 and r.json()["title"] == "Big mug" and "cost" not in r.json()


def test_openapi_describes_only_permitted_fields(shop):
    _, client, h = shop
    spec = client.get("/openapi.json", headers=h["ann"]).json()
    schemas = spec["components"]["schemas"]
    product = [s for name, s in schemas.items() if name.lower().startswith("product")]
    assert product and all("cost" not in s.get("properties", {}) for s in product)
    full = client.get("/openapi.json", headers=h["max"]).json()["components"]["schemas"]
    assert any("cost" in s.get("properties", {}) for name, s in full.items() if name.lower().startswith("product"))
