"""Reports over HTTP (JSON, CSV, XLSX) and channel intake pushes, with row rules applied."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from .api_apps import SHOP, order_body, seed
from .api_kit import bearer, served


@pytest.fixture
def shop(make_app, db_url):
    with served(make_app(SHOP, name="shop"), db_url) as (app, client):
        tokens = seed(app)
        h = {u: bearer(t) for u, t in tokens.items()}
        for owner, total in (("ann", "10.5"), ("ann", "20"), ("bob", "100")):
            r = client.post("/api/v1/records/order", json=order_body(owner=owner, customer="C1" if owner == "ann"
                                                                     else "C2", total=total), headers=h[owner])
            assert r.status_code == 201, r.text
        yield app, client, h


def test_reports_list_and_run_as_the_user(shop):
    _, client, h = shop
    listed = client.get("/api/v1/reports", params={"lang": "zh"}, headers=h["ann"]).json()
    assert [(r["name"], r["label"]) for r in listed] == [("orders_by_status", "订单状态")]
    assert listed[0]["params"]["min_total"]["type"] == "decimal" and listed[0]["formats"] == ["json", "csv", "xlsx"]
    mine = client.get("/api/v1/reports/orders_by_status", headers=h["ann"]).json()
    assert mine["rows"] == [{"status": "draft", "orders": 2, "revenue": "30.50"}]  # only ann's orders
    assert mine["totals"]["revenue"] == "30.50"
    everything = client.get("/api/v1/reports/orders_by_status", headers=h["max"]).json()
    assert everything["totals"] == {"status": None, "orders": 3, "revenue": "130.50"}
    bigger = client.get("/api/v1/reports/orders_by_status", params={"p.min_total": "15"}, headers=h["max"]).json()
    assert bigger["totals"]["orders"] == 2 and bigger["params"]["min_total"] == "15"


def test_report_exports_are_complete_files(shop):
    _, client, h = shop
    r = client.get("/api/v1/reports/orders_by_status", params={"format": "csv", "lang": "zh"}, headers=h["max"])
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="orders_by_status.csv"'
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][1:] == ["订单数", "销售额"] and rows[1][1:] == ["3", "130.50"] and rows[-1][0] == "合计"
    r = client.get("/api/v1/reports/orders_by_status", params={"format": "xlsx"}, headers=h["max"])
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in sheet[2]][1:] == [3, 130.5]


def test_bad_report_requests_are_refused_naming_the_parameter(shop):
    _, client, h = shop
    assert client.get("/api/v1/reports/nothing", headers=h["ann"]).status_code == 404
    r = client.get("/api/v1/reports/orders_by_status", params={"p.min_total": "lots"}, headers=h["ann"])
    assert r.status_code == 400 and "min_total" in r.json()["message"]
    r = client.get("/api/v1/reports/orders_by_status", params={"p.other": "1"}, headers=h["ann"])
    assert r.status_code == 400 and "other" in r.json()["message"]
    assert client.get("/api/v1/reports/orders_by_status", params={"format": "pdf"}, headers=h["ann"]
                      ).json()["field"] == "format"
    assert client.get("/api/v1/reports/orders_by_status", params={"min_total": "1"}, headers=h["ann"]
                      ).json()["field"] == "min_total"


PUSH = [{"id": "W-1", "subject": "web", "customer": "C1", "total": "9.90", "owner": "ann",
         "items": [{"sku": "P1", "qty": 1, "price": "9.90"}]},
        {"id": "W-2", "subject": "web", "customer": "C1", "total": "5", "owner": "ann",
         "items": [{"sku": "NOPE", "qty": 1, "price": "5"}]}]


def test_intake_pushes_are_idempotent_and_report_every_document(shop):
    app, client, h = shop
    url = "/api/v1/intake/orders"
    r = client.post(url, json=PUSH, headers=h["ann"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["documents"] == 2 and len(body["created"]) == 1 and body["ok"] is False
    [refused] = body["refused"]
    assert refused["key"] == "W-2" and refused["field"] == "lines[0].product" and "NOPE" in refused["reason"]
    again = client.post(url, json=PUSH[:1], headers=h["ann"]).json()
    assert again["created"] == [] and again["duplicates"][0]["existing"] == body["created"][0]
    csv_body = "Order,Subject,Owner,Sku,Qty,Price\nS-1,shop,ann,P1,2,3\nS-1,shop,ann,P2,1,4\n"
    r = client.post(url, content=csv_body.encode(), headers={**h["ann"], "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["shape"] == "shop_csv" and len(r.json()["created"]) == 1
    dry = client.post(url, params={"dry_run": "true"}, json=[{**PUSH[0], "id": "W-3"}], headers=h["ann"]).json()
    assert dry["dry_run"] is True and len(dry["created"]) == 1
    assert app.count("order", "external_id == 'W-3'", user="max") == 0


def test_bad_intake_pushes_are_refused_whole(shop):
    _, client, h = shop
    url = "/api/v1/intake/orders"
    assert client.post(url, content=b"<xml/>", headers={**h["ann"], "Content-Type": "application/xml"}
                       ).status_code == 415
    r = client.post(url, content=b"[{", headers={**h["ann"], "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    r = client.post(url, content=b"Order,Sku\n\xff\xfe,1\n", headers={**h["ann"], "Content-Type": "text/csv"})
    assert r.status_code == 400 and "utf-8" in r.json()["message"]
    assert client.post("/api/v1/intake/nothing", json=[], headers=h["ann"]).status_code == 404
    assert client.post(url, params={"shape": "fax"}, json=[], headers=h["ann"]).status_code == 400
    big = json.dumps([PUSH[0]] * 20_000).encode()
    assert client.post(url, content=big, headers={**h["ann"], "Content-Type": "application/json"}).status_code == 413
    # a sales user may push only their own orders: others are refused one by one
    r = client.post(url, json=[{**PUSH[0], "id": "B-1", "owner": "bob"}], headers=h["ann"]).json()
    assert r["created"] == [] and r["refused"][0]["key"] == "B-1"
