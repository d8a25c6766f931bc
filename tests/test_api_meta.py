"""``/api/v1/meta``, ``/openapi.json`` (per user) and the interactive page ``/api/docs``."""

from __future__ import annotations

from pathlib import Path

import pytest
from swagger_ui_bundle import swagger_ui_path

from .api_apps import SHOP, seed
from .api_kit import bearer, served, sign_in


@pytest.fixture
def shop(make_app, db_url):
    with served(make_app(SHOP, name="shop"), db_url) as (app, client):
        tokens = seed(app)
        yield app, client, {u: bearer(t) for u, t in tokens.items()}


def test_meta_describes_what_the_user_may_use_in_their_language(shop):
    _, client, h = shop
    meta = client.get("/api/v1/meta", params={"lang": "zh"}, headers=h["ann"]).json()
    entities = {e["name"]: e for e in meta["entities"]}
    assert set(entities) == {"customer", "order", "product", "order_line"}
    order = entities["order"]
    assert order["label"] == "订单" and order["actions"] == ["read", "create", "update", "delete"]
    assert entities["customer"]["actions"] == ["read"] and "actions" not in entities["order_line"]
    fields = {f["name"]: f for f in order["fields"]}
    assert fields["status"]["options"][0] == {"value": "draft", "label": "草稿"}
    assert fields["customer"]["link"] == "customer" and fields["customer"]["label"] == "客户"
    assert fields["lines"]["table"] == "order_line" and fields["total"]["scale"] == 2
    assert fields["line_total"]["read_only"] is True and fields["subject"]["read_only"] is False
    assert meta["forms"][0]["sections"][0]["fields"] == ["customer", "total", "status"]
    assert meta["flows"][0]["steps"][0] == {"name": "review", "type": "approval", "label": "经理审核"}
    assert [r["name"] for r in meta["reports"]] == ["orders_by_status"]
    assert meta["intakes"][0]["name"] == "orders" and meta["user"] == {"name": "ann", "roles": ["sales"],
                                                                       "admin": False}
    english = client.get("/api/v1/meta", headers={**h["ann"], "Accept-Language": "en-GB"}).json()
    assert {e["name"]: e["label"] for e in english["entities"]}["order"] == "Order"
    assert client.get("/api/v1/meta").status_code == 401
    assert client.get("/api/v1/meta", params={"x": 1}, headers=h["ann"]).json()["field"] == "x"


def test_openapi_is_per_user_and_anonymous_callers_see_the_public_parts(shop):
    _, client, h = shop
    anonymous = client.get("/openapi.json").json()
    assert anonymous["openapi"] == "3.0.3"
    assert "/api/v1/auth/signin" in anonymous["paths"] and not any("records" in p for p in anonymous["paths"])
    assert "Order" not in anonymous["components"]["schemas"]
    ann = client.get("/openapi.json", headers=h["ann"]).json()
    assert set(ann["paths"]["/api/v1/records/order"]) == {"get", "post"}
    assert set(ann["paths"]["/api/v1/records/customer"]) == {"get"}  # sales may only read customers
    assert set(ann["paths"]["/api/v1/records/order/{key}"]) == {"get", "patch", "delete"}
    schemas = ann["components"]["schemas"]
    order = schemas["Order"]["properties"]
    assert order["total"]["type"] == "string" and order["lines"]["type"] == "array"
    assert order["customer"]["anyOf"][1] == {"$ref": "#/components/schemas/Link"}
    create = schemas["OrderCreate"]
    assert create["properties"]["status"]["enum"][:2] == ["draft", "submitted"]
    assert create["properties"]["line_total"]["readOnly"] is True
    assert "version" in schemas["OrderChange"]["properties"] and "required" not in schemas["OrderChange"]
    listing = ann["paths"]["/api/v1/records/order"]["get"]
    assert {"400", "401", "403", "404", "503"} <= set(listing["responses"])
    assert ann["components"]["responses"]["BadRequest"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    report = ann["paths"]["/api/v1/reports/orders_by_status"]["get"]
    assert {p["name"] for p in report["parameters"] if "name" in p} >= {"p.min_total", "format"}
    assert "/api/v1/intake/orders" in ann["paths"]
    # a session sees its own description too
    sign_in(client, "max")
    assert set(client.get("/openapi.json").json()["paths"]["/api/v1/records/customer"]) == {"get", "post"}
    client.cookies.clear()
    assert client.get("/openapi.json", headers={"Authorization": "Bearer wrong"}).status_code == 401
    client.cookies.set("ordo_session", "ended.session")  # a browser with an old cookie reads the public parts
    assert not any("records" in p for p in client.get("/openapi.json").json()["paths"])


def test_the_interactive_page_uses_the_installed_swagger_ui(shop):
    _, client, _ = shop
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http" not in page.text  # nothing from a CDN
    for src in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert f"/api/docs/assets/{src}" in page.text
        served_file = client.get(f"/api/docs/assets/{src}")
        assert served_file.status_code == 200 and served_file.content == (Path(swagger_ui_path) / src).read_bytes()
    init = client.get("/api/docs/init.js")
    assert "/openapi.json" in init.text and "X-CSRF-Token" in init.text
    assert client.get("/api/docs/assets/../server.py").status_code == 404
    assert not list((Path(__file__).parents[1] / "designer_api").rglob("swagger-ui*"))  # not copied into the package
