"""Approval flows over HTTP: inboxes, task and instance actions, timelines, with row rules applied."""

from __future__ import annotations

import pytest

from ordo.engine.errors import UsageError

from .api_apps import SHOP, order_body, seed
from .api_kit import add_user, bearer, served


@pytest.fixture
def shop(make_app, db_url):
    with served(make_app(SHOP, name="shop"), db_url) as (app, client):
        tokens = seed(app)
        add_user(app, "mia", ("manager",))
        yield app, client, {u: bearer(t) for u, t in tokens.items()}


def _submit(client, h, owner="bob", customer="C2"):
    r = client.post("/api/v1/records/order", json=order_body(owner=owner, customer=customer, status="submitted"),
                    headers=h[owner])
    assert r.status_code == 201, r.text
    return r.json()


def test_the_inbox_says_what_is_waiting_and_why(shop):
    _, client, h = shop
    order = _submit(client, h)
    r = client.get("/api/v1/tasks", params={"lang": "zh"}, headers=h["max"])
    assert r.status_code == 200
    [task] = r.json()["items"]
    assert task["flow"] == {"name": "order_approval", "label": "订单审批"}
    assert task["step"] == {"name": "review", "label": "经理审核"}
    assert task["record"]["name"] == order["name"] and task["record"]["title"] == "Mugs"
    assert task["record"]["facts"] == [{"field": "customer", "label": "客户", "value": "Globex"},
                                       {"field": "total", "label": "Total", "value": "37.50"},
                                       {"field": "status", "label": "Status", "value": "已提交"}]
    assert task["why"] == {"code": "role", "role": "manager", "text": "您的角色 经理 的任务"}
    assert client.get("/api/v1/tasks", headers=h["ann"]).json()["items"] == []
    assert client.get("/api/v1/tasks", params={"limit": 0}, headers=h["max"]).json()["more"] is True
    assert client.get("/api/v1/tasks", params={"offset": "x"}, headers=h["max"]).json()["field"] == "offset"


def test_approving_a_task_completes_the_flow_and_the_timeline_shows_it(shop):
    _, client, h = shop
    order = _submit(client, h)
    task = client.get("/api/v1/tasks", headers=h["max"]).json()["items"][0]
    r = client.post(f"/api/v1/tasks/{task['id']}/approve", json={"comment": "fine"}, headers=h["max"])
    assert r.status_code == 200, r.text
    assert r.json()["flow"]["status"] == "completed" and r.json()["flow"]["outcome"] == "approved"
    again = client.post(f"/api/v1/tasks/{task['id']}/approve", headers=h["max"])
    assert again.status_code == 409
    r = client.get(f"/api/v1/records/order/{order['name']}/timeline", headers=h["bob"])
    assert r.status_code == 200
    body = r.json()
    assert body["record"]["title"] == "Mugs" and body["flow"]["status"] == "completed"
    assert [(e["action"], e["user"], e["comment"]) for e in body["events"]] == [
        ("start", "bob", None), ("assigned", "bob", None), ("approve", "max", "fine"), ("approved", "max", None),
        ("completed", "max", None)]
    # ann may not read bob's order: its timeline is not found, like the order itself
    assert client.get(f"/api/v1/records/order/{order['name']}/timeline", headers=h["ann"]).status_code == 404


def test_reject_send_back_transfer_and_add_approver(shop):
    app, client, h = shop
    _submit(client, h)

    def task_of(user):
        return client.get("/api/v1/tasks", headers=h[user]).json()["items"][0]["id"]

    tid = task_of("max")
    r = client.post(f"/api/v1/tasks/{tid}/transfer", json={"to": "mia", "comment": "yours"}, headers=h["max"])
    assert r.status_code == 200 and isinstance(r.json()["new_task"], int)
    mia = bearer(_token(app, "mia"))
    mine = client.get("/api/v1/tasks", headers=mia).json()["items"][0]
    assert mine["why"]["code"] == "assigned" and mine["id"] == r.json()["new_task"]
    r = client.post(f"/api/v1/tasks/{mine['id']}/add_approver", json={"to": "max", "position": "after"}, headers=mia)
    assert r.status_code == 200
    assert client.post(f"/api/v1/tasks/{mine['id']}/send_back", json={}, headers=mia).json()["field"] == "to"
    assert client.post(f"/api/v1/tasks/{mine['id']}/transfer", json={}, headers=mia).json()["field"] == "to"
    assert client.post(f"/api/v1/tasks/{mine['id']}/fly", headers=mia).status_code == 404
    assert client.post(f"/api/v1/tasks/{mine['id']}/approve", json={"comment": 5}, headers=mia).json()["field"] \
        == "comment"
    r = client.post(f"/api/v1/tasks/{mine['id']}/reject", json={"comment": "no"}, headers=mia)
    assert r.status_code == 200 and r.json()["flow"]["status"] == "rejected"


def _token(app, user):
    from .api_kit import token_for

    return token_for(app, user)


def test_the_submitter_urges_and_withdraws_on_the_instance(shop):
    _, client, h = shop
    order = _submit(client, h)
    instance = client.get(f"/api/v1/records/order/{order['id']}/timeline", headers=h["bob"]).json()["flow"]["instance"]
    r = client.post(f"/api/v1/flows/instances/{instance}/urge", json={"comment": "please"}, headers=h["bob"])
    assert r.status_code == 200
    assert client.post(f"/api/v1/flows/instances/{instance}/withdraw", headers=h["max"]).status_code == 403
    r = client.post(f"/api/v1/flows/instances/{instance}/withdraw", json={"comment": "not needed"}, headers=h["bob"])
    assert r.status_code == 200 and r.json()["flow"]["status"] == "withdrawn"
    assert client.post(f"/api/v1/flows/instances/{instance}/cancel", headers=h["bob"]).status_code in (403, 409)
    assert client.post(f"/api/v1/flows/instances/{instance}/explode", headers=h["bob"]).status_code == 404


def test_tasks_and_instances_of_records_a_user_may_not_read_are_not_found(shop):
    _, client, h = shop
    order = _submit(client, h)
    task = client.get("/api/v1/tasks", headers=h["max"]).json()["items"][0]
    for action in ("approve", "reject", "urge", "comment"):
        r = client.post(f"/api/v1/tasks/{task['id']}/{action}", json={"comment": "x"}, headers=h["ann"])
        assert r.status_code == 404 and "max" not in r.text and "manager" not in r.text, r.text
    r = client.post(f"/api/v1/flows/instances/{task['instance']}/withdraw", headers=h["ann"])
    assert r.status_code == 404 and "bob" not in r.text
    assert client.post("/api/v1/tasks/999999/approve", headers=h["max"]).status_code == 404
    assert client.post("/api/v1/tasks/１/approve", headers=h["max"]).status_code == 400
    assert client.get(f"/api/v1/records/order/{order['id']}/timeline", headers=h["ann"]).status_code == 404


def test_every_pending_task_or_a_page_of_them_never_a_silent_cut(shop, monkeypatch):
    """The engine's inbox gives every pending task (read a page at a time) unless a page is asked for; the API
    pages with limit and offset in SQL and says whether there are more."""
    from ordo.engine.flows import inbox as flow_inbox

    app, client, h = shop
    monkeypatch.setattr(flow_inbox, "PAGE", 2)
    names = [_submit(client, h)["name"] for _ in range(5)]
    flows = app.features["flows"]
    with app.reader("max") as tx:
        every = flows.inbox(tx)
        assert sorted(t.record_name for t in every) == sorted(names)  # 5 tasks over pages of 2
        assert [t.id for t in flows.inbox(tx, limit=2, offset=3)] == [t.id for t in every[3:5]]
        with pytest.raises(UsageError, match="inbox limit"):
            flows.inbox(tx, limit=-1)
    pages = [client.get("/api/v1/tasks", params={"limit": 2, "offset": o}, headers=h["max"]).json()
             for o in (0, 2, 4)]
    assert [[t["id"] for t in p["items"]] for p in pages] == [[t.id for t in every[i:i + 2]] for i in (0, 2, 4)]
    assert [p["more"] for p in pages] == [True, True, False]
    far = client.get("/api/v1/tasks", params={"offset": 100_000}, headers=h["max"])  # any page is reachable
    assert far.status_code == 200 and far.json()["items"] == [] and far.json()["more"] is False
