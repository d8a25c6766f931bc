"""``/api/v1/records``: create, read, list (filters, order, paging, fields, expand), change, delete, over HTTP
on SQLite and PostgreSQL, with row rules applied on every path."""

from __future__ import annotations

import pytest

from .api_apps import SHOP, order_body, seed
from .api_kit import bearer, served, sign_in

BASE = "/api/v1/records"


@pytest.fixture
def shop(make_app, db_url):
    with served(make_app(SHOP, name="shop"), db_url) as (app, client):
        tokens = seed(app)
        yield app, client, {u: bearer(t) for u, t in tokens.items()}


def _create(client, headers, **extra):
    r = client.post(f"{BASE}/order", json=order_body(**extra), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_answers_the_committed_record_with_its_location_and_version(shop):
    _, client, h = shop
    r = client.post(f"{BASE}/order", json=order_body(), headers=h["ann"])
    assert r.status_code == 201
    rec = r.json()
    assert r.headers["location"] == f"{BASE}/order/{rec['id']}" and r.headers["etag"] == '"1"'
    assert rec["name"] == "SO-00001" and rec["customer"] == "C1" and rec["status"] == "draft"
    assert rec["total"] == "37.50" and rec["line_total"] == "45.60"  # money as exact strings at scale 2
    assert [(row["product"], row["qty"], row["price"]) for row in rec["lines"]] == [
        ("P1", 3, "12.50"), ("P2", 1, "8.00"), ("P1", 1, "0.10")]
    assert rec["created_by"] == "ann" and "T" in rec["created_at"]
    by_id = client.get(r.headers["location"], headers=h["ann"])
    by_name = client.get(f"{BASE}/order/SO-00001", headers=h["ann"])
    assert by_id.json() == by_name.json() == rec and by_id.headers["etag"] == '"1"'


def test_list_filters_orders_pages_and_counts(shop):
    _, client, h = shop
    for total in ("10", "30", "20", None):
        _create(client, h["ann"], total=total, subject=f"t{total}")
    r = client.get(f"{BASE}/order", params={"where": "total >= :min", "p.min": "15", "order_by": "-total",
                                            "limit": 1}, headers=h["ann"])
    page = r.json()
    assert r.status_code == 200 and page["total"] == 2 and page["limit"] == 1 and page["offset"] == 0
    assert [o["total"] for o in page["items"]] == ["30.00"] and page["next_cursor"]
    assert "lines" not in page["items"][0]
    r = client.get(f"{BASE}/order", params={"order_by": "-total", "offset": 1, "total": "false",
                                            "fields": "name,total,customer.region"}, headers=h["ann"])
    assert r.json()["total"] is None
    assert r.json()["items"] == [{"name": "SO-00002", "total": "30.00", "customer.region": "north"},  # null first
                                 {"name": "SO-00003", "total": "20.00", "customer.region": "north"},
                                 {"name": "SO-00001", "total": "10.00", "customer.region": "north"}]
    rows = client.get(f"{BASE}/order", params={"children": "true", "limit": 1}, headers=h["ann"]).json()["items"]
    assert len(rows[0]["lines"]) == 3
    text = client.get(f"{BASE}/order", params={"where": "subject == :s", "p.s": "t20"}, headers=h["ann"]).json()
    assert [o["subject"] for o in text["items"]] == ["t20"]  # a value that is not JSON is text


def test_nulls_sort_last_ascending_and_first_descending_on_every_database(shop):
    _, client, h = shop
    for total in ("10", None, "5"):
        _create(client, h["ann"], total=total)
    up = client.get(f"{BASE}/order", params={"order_by": "total", "fields": "total"}, headers=h["ann"]).json()
    down = client.get(f"{BASE}/order", params={"order_by": "-total", "fields": "total"}, headers=h["ann"]).json()
    assert [o["total"] for o in up["items"]] == ["5.00", "10.00", None]
    assert [o["total"] for o in down["items"]] == [None, "10.00", "5.00"]


@pytest.mark.parametrize("order_by", ["-total", "total,subject", "placed", "-created_at", "name"])
def test_cursor_pages_neither_repeat_nor_skip_when_records_are_inserted(shop, order_by):
    app, client, h = shop
    totals = ["5", None, "7", "5", None, "9", "1"]
    for i, t in enumerate(totals):
        _create(client, h["ann"], total=t, subject=f"s{i % 3}", placed=None if i % 2 else f"2024-01-0{i + 1}")
    seen, cursor, inserted = [], None, False
    while True:
        params = {"order_by": order_by, "limit": 2, "fields": "name"}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"{BASE}/order", params=params, headers=h["ann"]).json()
        seen += [o["name"] for o in page["items"]]
        if not inserted:  # records inserted before the position must not shift the next pages
            _create(client, h["ann"], total="0", subject="a", placed="2000-01-01")
            _create(client, h["ann"], total=None, subject="a")
            inserted = True
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert {f"SO-{i:05d}" for i in range(1, len(totals) + 1)} <= set(seen)
    everything = client.get(f"{BASE}/order", params={"order_by": order_by, "fields": "name"}, headers=h["ann"])
    in_order = [o["name"] for o in everything.json()["items"]]
    assert [n for n in in_order if n in seen] == seen  # the cursor pages follow the order exactly


def test_bad_list_parameters_are_refused_naming_them(shop):
    _, client, h = shop
    cursor = client.get(f"{BASE}/order", params={"limit": 0, "order_by": "total"}, headers=h["ann"]).json()
    assert cursor["items"] == [] and cursor["next_cursor"] is None
    _create(client, h["ann"])
    _create(client, h["ann"])
    cursor = client.get(f"{BASE}/order", params={"limit": 1, "order_by": "total"}, headers=h["ann"]).json()
    bad = {
        "where": {"where": "total >"},
        "order_by": {"order_by": "lines"},
        "fields": {"fields": "name,nope"},
        "expand": {"expand": "owner"},
        "limit": {"limit": "100000"},
        "offset": {"offset": "-1"},
        "total": {"total": "maybe"},
        "p.min": {"where": "total > :min", "p.min": "1" * 400},
        "sort": {"sort": "name"},
        "cursor": {"cursor": "not-a-cursor"},
    }
    for field, params in bad.items():
        r = client.get(f"{BASE}/order", params=params, headers=h["ann"])
        assert r.status_code == 400 and r.json()["field"] == field, (field, r.text)
    r = client.get(f"{BASE}/order", params={"cursor": cursor["next_cursor"], "order_by": "-total"}, headers=h["ann"])
    assert r.status_code == 400 and "order_by" in r.json()["message"]
    r = client.get(f"{BASE}/order", params={"cursor": cursor["next_cursor"], "offset": 1}, headers=h["ann"])
    assert r.status_code == 400 and r.json()["field"] == "cursor"
    assert client.get(f"{BASE}/nothing", headers=h["ann"]).status_code == 404
    assert client.get(f"{BASE}/order_line", headers=h["ann"]).status_code == 404  # child rows live in orders


def test_a_restricted_user_sees_only_their_rows_everywhere(shop):
    app, client, h = shop
    mine = _create(client, h["ann"])
    theirs = _create(client, h["bob"], owner="bob", customer="C2")
    listed = client.get(f"{BASE}/order", headers=h["ann"]).json()
    assert [o["name"] for o in listed["items"]] == [mine["name"]] and listed["total"] == 1
    everything = client.get(f"{BASE}/order", headers=h["max"]).json()
    assert everything["total"] == 2
    for key in (theirs["id"], theirs["name"]):
        assert client.get(f"{BASE}/order/{key}", headers=h["ann"]).status_code == 404
        assert client.patch(f"{BASE}/order/{key}", json={"subject": "x"}, headers=h["ann"]).status_code == 404
        assert client.delete(f"{BASE}/order/{key}", headers=h["ann"]).status_code == 404
    counted = client.get(f"{BASE}/order", params={"where": "owner == 'bob'"}, headers=h["ann"]).json()
    assert counted["items"] == [] and counted["total"] == 0
    r = client.post(f"{BASE}/customer", json={"code": "C9"}, headers=h["ann"])  # sales may only read customers
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.post(f"{BASE}/order", json=order_body(customer="C2"), headers=h["ann"])  # not in her region
    assert r.status_code == 422 and "C2" in r.text


def test_a_link_the_user_may_not_read_never_shows_its_name(shop):
    app, client, h = shop
    mine = _create(client, h["ann"])
    app.update("order", mine["id"], {"customer": "C2"}, "max")  # a manager links a customer ann may not read
    rec = client.get(f"{BASE}/order/{mine['id']}", headers=h["ann"]).json()
    assert rec["customer"] == "(no access)"
    expanded = client.get(f"{BASE}/order/{mine['id']}", params={"expand": "customer"}, headers=h["ann"]).json()
    assert expanded["customer"] == {"id": None, "name": None, "title": "(no access)"}
    listed = client.get(f"{BASE}/order", params={"expand": "customer", "lang": "zh"}, headers=h["ann"]).json()
    assert listed["items"][0]["customer"] == {"id": None, "name": None, "title": "(无权限)"}
    shown = client.get(f"{BASE}/order/{mine['id']}", params={"expand": "customer"}, headers=h["max"]).json()
    assert shown["customer"]["name"] == "C2" and shown["customer"]["title"] == "Globex"
    assert isinstance(shown["customer"]["id"], int)
    # what ann got back saves back unchanged: the link stays
    r = client.patch(f"{BASE}/order/{mine['id']}", json={**rec, "subject": "kept"}, headers=h["ann"])
    assert r.status_code == 200, r.text
    assert app.get("order", mine["id"], "max")["customer"] == shown["customer"]["id"]


def test_optimistic_locking_with_if_match_or_the_body_version(shop):
    _, client, h = shop
    rec = _create(client, h["ann"])
    url = f"{BASE}/order/{rec['id']}"
    r = client.patch(url, json={"subject": "v2"}, headers={**h["ann"], "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"' and r.json()["version"] == 2
    stale = client.patch(url, json={"subject": "lost"}, headers={**h["ann"], "If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["field"] == "version"
    assert "version 2" in stale.json()["message"] and stale.headers["etag"] == '"2"'
    stale = client.patch(url, json={"subject": "lost", "version": 1}, headers=h["ann"])
    assert stale.status_code == 409 and stale.headers["etag"] == '"2"'
    assert client.patch(url, json={"subject": "x", "version": 2}, headers={**h["ann"], "If-Match": '"1"'}
                        ).status_code == 400
    assert client.patch(url, json={"subject": "x"}, headers={**h["ann"], "If-Match": "soon"}).json()["field"] \
        == "If-Match"
    lines = client.get(url, headers=h["ann"]).json()["lines"]
    r = client.patch(url, json={"version": 2, "lines": [{"id": lines[0]["id"], "qty": 5}, lines[1]]},
                     headers=h["ann"])
    assert r.status_code == 200, r.text
    assert [(row["id"], row["qty"]) for row in r.json()["lines"]] == [(lines[0]["id"], 5), (lines[1]["id"], 1)]
    assert client.get(url, headers=h["ann"]).json()["subject"] == "v2"
    assert client.delete(url, headers={**h["ann"], "If-Match": '"2"'}).status_code == 409
    assert client.delete(url, headers={**h["ann"], "If-Match": '"3"'}).status_code == 204
    assert client.get(url, headers=h["ann"]).status_code == 404


def test_refused_writes_name_every_field_and_change_nothing(shop):
    app, client, h = shop
    r = client.post(f"{BASE}/order", json={**order_body(), "total": "-1", "lines": [{"product": "P1", "qty": 0,
                                                                                      "price": 1}]},
                    headers=h["ann"])
    body = r.json()
    assert r.status_code == 422 and body["code"] == "validation_failed"
    assert {e["field"] for e in body["errors"]} == {"total", "lines[0].qty"}
    assert client.post(f"{BASE}/order", json={"nope": 1}, headers=h["ann"]).json()["errors"][0]["field"] == "nope"
    assert client.post(f"{BASE}/order", content=b"{", headers={**h["ann"], "Content-Type": "application/json"}
                       ).status_code == 400
    assert client.post(f"{BASE}/order", content=b"a,b", headers={**h["ann"], "Content-Type": "text/csv"}
                       ).status_code == 415
    assert client.post(f"{BASE}/order", json=[1], headers=h["ann"]).status_code == 400
    big = {"subject": "x" * 2_000_000}
    assert client.post(f"{BASE}/order", json=big, headers=h["ann"]).status_code == 413
    assert app.count("order", user="max") == 0


def test_session_writes_need_the_csrf_token(shop):
    _, client, _ = shop
    csrf = sign_in(client, "ann")
    r = client.post(f"{BASE}/order", json=order_body())
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = client.post(f"{BASE}/order", json=order_body(), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert client.get(r.headers["location"]).json()["created_by"] == "ann"
    assert client.delete(r.headers["location"]).status_code == 403


def test_arithmetic_beyond_64_bits_in_a_filter_is_the_callers_error(shop):
    """PostgreSQL refuses whole-number overflow at run time (SQLite computes in floating point): a 400 naming
    the cause, never a 500."""
    _, client, h = shop
    _create(client, h["ann"])
    _create(client, h["ann"])
    r = client.get(f"{BASE}/order", params={"where": "id * 9223372036854775807 > 0"}, headers=h["ann"])
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert "out of range" in r.json()["message"] and "Traceback" not in r.text
