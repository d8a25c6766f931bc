"""The designer's pages over HTTP (no browser): who may reach them, CSRF on every post, bad input as a clear
4xx, Chinese labels, and each page doing its job on the shop app's stored definitions (draft -> edits ->
validate -> simulate -> publish -> rollback)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from ordo.designer_api.server import create_server
from ordo.designer_api.settings import Settings
from ordo.engine import open_app
from ordo.engine.definitions import DefinitionStore

from .api_apps import SHOP, seed
from .web_kit import sign_in, text_of

FLOW = "flows/order_approval.yaml"


@contextlib.contextmanager
def served(make_app: Any, db_url: str) -> Iterator[tuple[Any, TestClient, Any]]:
    root = make_app(SHOP)
    app = open_app(root, db_url)
    try:
        seed(app)
        store = DefinitionStore(app.engine, root=root, label=app.name)
        if not store.stored():
            store.import_folder(root, "root", "first import")
        with TestClient(create_server(app, Settings(app=str(root), db=db_url)), follow_redirects=False) as client:
            yield app, client, store
    finally:
        app.close()


@pytest.fixture
def shop(make_app: Any, tmp_path: Any) -> Iterator[tuple[Any, TestClient, Any]]:
    with served(make_app, f"sqlite:///{tmp_path / 'shop.db'}") as found:
        yield found


def csrf_on(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


POSTS = ["/designer/publish", "/designer/rollback", "/designer/discard", "/designer/file", "/designer/validate",
         "/designer/check-expr", "/designer/flow/order_approval/node", "/designer/flow/order_approval/insert",
         "/designer/flow/order_approval/remove", "/designer/flow/order_approval/reconnect",
         "/designer/flow/order_approval/simulate"]
GETS = ["/designer", f"/designer/file?path={FLOW}", "/designer/flow/order_approval",
        "/designer/flow/order_approval/simulate"]


def test_only_designers_reach_the_pages(shop: Any) -> None:
    app, client, _ = shop
    assert client.get("/designer").status_code == 303  # anonymous: to the sign-in page
    csrf = sign_in(client, "ann")
    for path in GETS:
        r = client.get(path)
        assert r.status_code == 403, path
        assert "designer privilege" in text_of(r.text)
    for path in POSTS:
        assert client.post(path, data={"csrf_token": csrf, "note": "x"}).status_code == 403, path
    assert "/designer" not in client.get("/home").text  # not linked for them
    sign_in(client, "root")
    for path in GETS:
        assert client.get(path).status_code == 200, path
    assert 'href="/designer"' in client.get("/home").text


def test_every_post_needs_the_csrf_token(shop: Any) -> None:
    _, client, store = shop
    sign_in(client, "root")
    before = store.draft()
    for path in POSTS:
        r = client.post(path, data={"path": FLOW, "text": "x", "note": "n", "node": "review"})
        assert r.status_code == 403, path
    assert store.draft() == before and store.published() == 1


def test_home_lists_definitions_versions_and_chinese_labels(shop: Any) -> None:
    _, client, _ = shop
    sign_in(client, "root")
    page = text_of(client.get("/designer").text)
    assert "Order approval" in page and FLOW in page and "first import" in page
    zh = text_of(client.get("/designer?lang=zh").text)
    assert "设计器" in zh and "订单审批" in zh and "版本" in zh and "发布" in zh and "流程" in zh and "实体" in zh


def test_yaml_tab_saves_validates_and_shows_errors_at_their_line(shop: Any) -> None:
    _, client, store = shop
    csrf = sign_in(client, "root")
    text = store.draft()[FLOW]
    bad = text.replace("approvers: [{role: manager}]", "approvers: [{role: manager}]\n    mode: sometimes")
    r = client.post("/designer/validate", data={"csrf_token": csrf, "path": FLOW, "text": bad})
    assert r.status_code == 200
    errors = r.json()["errors"]
    assert errors and errors[0]["line"] == bad.splitlines().index("    mode: sometimes") + 1
    assert errors[0]["file"] == FLOW and "sequential" in errors[0]["message"]
    assert store.draft()[FLOW] == text  # validating saves nothing
    r = client.post("/designer/file", data={"csrf_token": csrf, "path": FLOW, "text": bad})
    assert r.status_code == 303
    assert store.draft()[FLOW] == bad
    page = client.get(f"/designer/file?path={FLOW}").text
    assert f"{FLOW}:" in text_of(page) and "#L" in page
    flow_page = client.get("/designer/flow/order_approval")  # the draft does not load: the YAML tab
    assert flow_page.status_code == 200 and "mode: sometimes" in flow_page.text and 'id="published-diagram"' not in flow_page.text
    r = client.post("/designer/flow/order_approval/simulate", data={"csrf_token": csrf, "sample": "{}"})
    assert r.status_code == 400 and "sequential" in text_of(r.text)
    assert client.get("/designer/form/order_form").status_code == 409
    r = client.post("/designer/publish", data={"csrf_token": csrf, "note": "typo"})
    assert r.status_code == 422 and f"{FLOW}:" in text_of(r.text)
    assert store.published() == 1


def test_bad_input_is_a_clear_4xx(shop: Any) -> None:
    _, client, store = shop
    csrf = sign_in(client, "root")
    assert client.get("/designer/file?path=../etc/passwd").status_code == 404
    assert client.get("/designer/file").status_code == 400
    assert client.get("/designer/flow/nope").status_code == 404
    r = client.post("/designer/rollback", data={"csrf_token": csrf, "version": "x"})
    assert r.status_code == 400 and "version" in text_of(r.text)
    assert client.post("/designer/rollback", data={"csrf_token": csrf, "version": "99"}).status_code == 404
    r = client.post("/designer/flow/order_approval/node", data={"csrf_token": csrf, "node": "nope"})
    assert r.status_code == 400 and "nope" in text_of(r.text)
    r = client.post("/designer/flow/order_approval/simulate", data={"csrf_token": csrf, "sample": "{not json"})
    assert r.status_code == 400 and "JSON" in text_of(r.text)
    r = client.post("/designer/check-expr", data={"csrf_token": csrf, "flow": "nope", "text": "1"})
    assert r.status_code == 404 and r.json()["message"]
    r = client.post("/designer/publish", data={"csrf_token": csrf, "note": "nothing"})
    assert r.status_code == 409  # the draft is the published version
    assert store.published() == 1


def test_expression_box_checks_against_the_flow_entity(shop: Any) -> None:
    _, client, _ = shop
    csrf = sign_in(client, "root")
    ok = client.post("/designer/check-expr", data={"csrf_token": csrf, "flow": "order_approval",
                                                   "text": "total > 50000", "expect": "boolean"}).json()
    assert ok["ok"] is True
    bad = client.post("/designer/check-expr", data={"csrf_token": csrf, "flow": "order_approval",
                                                    "text": "totl > 50000", "expect": "boolean"}).json()
    assert bad["ok"] is False and "totl" in bad["message"] and bad["column"] == 1


def test_simulate_runs_the_draft(shop: Any) -> None:
    _, client, store = shop
    csrf = sign_in(client, "root")
    r = client.post("/designer/flow/order_approval/simulate",
                    data={"csrf_token": csrf, "sample": '{"customer": "C1", "owner": "ann", "total": 10}'})
    assert r.status_code == 200, text_of(r.text)
    page = text_of(r.text)
    assert "review" in page and "max" in page  # the manager is asked
    zh = client.post("/designer/flow/order_approval/simulate?lang=zh",
                     data={"csrf_token": csrf, "sample": '{"customer": "C1", "owner": "ann", "total": 10}'})
    assert "草稿流程将经过的路径" in zh.text and "审批" in zh.text and "任务处理人" in zh.text


def test_publish_and_rollback(shop: Any) -> None:
    _, client, store = shop
    csrf = sign_in(client, "root")
    text = store.draft()[FLOW].replace("Manager review", "Manager check")
    client.post("/designer/file", data={"csrf_token": csrf, "path": FLOW, "text": text})
    home = text_of(client.get("/designer").text)
    assert "changed since published" in home
    r = client.post("/designer/publish", data={"csrf_token": csrf, "note": "renamed the step"})
    assert r.status_code == 303 and store.published() == 2
    home = text_of(client.get(r.headers["location"]).text)
    assert "Published as version 2" in home and "renamed the step" in home
    compared = text_of(client.get("/designer?from=1&to=2").text)
    assert "node review" in compared and "Manager check" in compared
    assert "No differences" in text_of(client.get("/designer?from=2&to=draft").text)
    assert client.get("/designer?from=1&to=x").status_code == 400
    assert client.get("/designer?from=1&to=7").status_code == 404
    r = client.post("/designer/rollback", data={"csrf_token": csrf, "version": "1", "note": "back"})
    assert r.status_code == 303 and store.published() == 3
    assert store.files(3) == store.files(1)


def test_flow_designer_edits_only_the_affected_lines(shop: Any) -> None:
    _, client, store = shop
    csrf = sign_in(client, "root")
    page = client.get("/designer/flow/order_approval?node=review").text
    assert "<svg" in page and 'id="node-form"' in page and 'value="Manager review"' in page and 'id="pick-node"' in page
    original = store.draft()[FLOW]
    r = client.post("/designer/flow/order_approval/insert",
                    data={"csrf_token": csrf, "anchor": "done", "position": "before", "new_name": "finance",
                          "label_en": "Finance", "label_zh": "财务", "approver_kind": "user", "approver_value": "root",
                          "mode": "any", "when": "total > 50000"})
    assert r.status_code == 303, text_of(r.text)
    text = store.draft()[FLOW]
    assert "finance_check:" in text and "total > 50000" in text and "next: finance_check" in text
    added = text[text.index("  finance_check:"):text.index("  done:")]
    assert text.replace(added, "").replace("next: finance_check", "next: done") == original  # nothing else changed
    assert not client.get("/designer").text.count("alert error")  # the draft validates
    r = client.post("/designer/flow/order_approval/node",
                    data={"csrf_token": csrf, "node": "finance", "label_en": "Finance", "label_zh": "财务审批",
                          "approver_kind": ["role", "role"], "approver_value": ["manager", ""], "mode": "quorum",
                          "min_approvals": "2", "on_reject": "", "timeout_after": "2d",
                          "timeout_action": "escalate", "escalate_role": "manager", "next": "done"})
    assert r.status_code == 303, text_of(r.text)
    text = store.draft()[FLOW]
    assert "min_approvals: 2" in text and "zh: 财务审批" in text and "escalate" in text
    sim = client.post("/designer/flow/order_approval/simulate",
                      data={"csrf_token": csrf, "sample": '{"customer": "C1", "owner": "ann", "total": 60000}'})
    assert "finance" in text_of(sim.text)
    r = client.post("/designer/flow/order_approval/reconnect",
                    data={"csrf_token": csrf, "node": "finance_check", "edge": "default", "target": "review"})
    assert r.status_code == 303
    r = client.post("/designer/flow/order_approval/remove", data={"csrf_token": csrf, "node": "nope"})
    assert r.status_code == 400
    yaml_tab = client.get("/designer/flow/order_approval?tab=yaml").text
    assert "finance_check" in yaml_tab and "<textarea" in yaml_tab


def test_form_designer(shop: Any) -> None:
    _, client, store = shop
    csrf = sign_in(client, "root")
    page = client.get("/designer/form/order_form").text
    assert 'id="preview"' in page and "customer" in page
    form_file = next(p for p in store.draft() if p.startswith("forms/"))
    r = client.post("/designer/form/order_form/edit", data={"csrf_token": csrf, "action": "move_field", "section": "0",
                                                       "index": "0", "to_section": "0", "to_index": "1"})
    assert r.status_code == 303, text_of(r.text)
    assert "fields: [total, customer, status]" in store.draft()[form_file]
    r = client.post("/designer/form/order_form/edit", data={"csrf_token": csrf, "action": "add_field", "field": "priority",
                                                       "type": "enum", "options": "low, high", "label_en": "Priority",
                                                       "label_zh": "优先级", "section": "0"})
    assert r.status_code == 303, text_of(r.text)
    assert "priority" in store.draft()[form_file]
    entity_text = next(t for p, t in store.draft().items() if "priority:" in t and p != form_file)
    assert "low" in entity_text and "优先级" in entity_text
    r = client.post("/designer/form/order_form/edit", data={"csrf_token": csrf, "action": "field", "field": "priority",
                                                       "label_en": "Priority", "label_zh": "优先级",
                                                       "required_if": "total > 100", "visible_if": "",
                                                       "read_only_if": ""})
    assert r.status_code == 303, text_of(r.text)
    assert "required_if: total > 100" in "".join(store.draft().values()).replace("'", "").replace('"', "")
    zh = client.get("/designer/form/order_form?lang=zh").text
    assert "表单设计" in zh and "优先级" in zh
    r = client.post("/designer/form/order_form/edit", data={"csrf_token": csrf, "action": "explode"})
    assert r.status_code == 400


def test_report_preview_runs_the_draft(shop: Any) -> None:
    app, client, store = shop
    csrf = sign_in(client, "root")
    app.create("order", {"subject": "A", "customer": "C1", "owner": "ann", "total": "12"}, "root")
    page = client.get("/designer/file?path=reports/orders.yaml").text
    assert "/designer/preview/report/orders_by_status" in page
    text = store.draft()["reports/orders.yaml"].replace("label: {en: Orders, zh: 订单数}", "label: {en: Order count, zh: 订单数}")
    client.post("/designer/file", data={"csrf_token": csrf, "path": "reports/orders.yaml", "text": text})
    r = client.get("/designer/preview/report/orders_by_status")
    assert r.status_code == 200, text_of(r.text)
    assert "Order count" in text_of(r.text) and "12" in text_of(r.text)  # the draft's label, the live data
    assert client.get("/designer/preview/report/nope").status_code == 404
    assert client.get("/designer/preview/allocation/nope").status_code == 404


def test_clone_a_template_into_a_new_app(shop: Any, tmp_path: Any) -> None:
    import io
    import zipfile

    from ordo.dsl.loader import load_app

    _, client, _ = shop
    csrf = sign_in(client, "root")
    assert "builtin:oms" in client.get("/designer/clone").text
    r = client.post("/designer/clone", data={"csrf_token": csrf, "base": "builtin:oms", "name": "acme"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(tmp_path)
    app = load_app(tmp_path / "acme")
    assert app.name == "acme" and app.get("flow", "order_lifecycle") is not None
    r = client.post("/designer/clone", data={"csrf_token": csrf, "base": "builtin:oms", "name": "9 bad"})
    assert r.status_code == 400 and "must start with a letter" in text_of(r.text)
    r = client.post("/designer/clone", data={"csrf_token": csrf, "base": "/etc", "name": "acme"})
    assert r.status_code == 400


def test_a_designer_who_is_not_an_admin_publishes(make_app: Any, db_url: str) -> None:
    """The designer privilege on a role (no admin rights), on SQLite and PostgreSQL."""
    from .api_kit import add_user

    roles = SHOP["roles.yaml"].replace("          manager:\n", "          designers:\n"
                                       "            privileges: [designer]\n          manager:\n")
    root = make_app({**SHOP, "roles.yaml": roles})
    app = open_app(root, db_url)
    try:
        seed(app)
        add_user(app, "dee", ("designers",))
        store = DefinitionStore(app.engine, root=root, label=app.name)
        store.import_folder(root, "root", "first import")
        with TestClient(create_server(app, Settings(app=str(root), db=db_url)), follow_redirects=False) as client:
            csrf = sign_in(client, "dee")
            assert 'href="/designer"' in client.get("/home").text
            text = store.draft()[FLOW].replace("Manager review", "Manager check")
            assert client.post("/designer/file", data={"csrf_token": csrf, "path": FLOW, "text": text}).status_code == 303
            r = client.post("/designer/publish", data={"csrf_token": csrf, "note": "by dee"})
            assert r.status_code == 303 and store.published() == 2
            assert store.versions()[0].created_by == "dee"
            page = client.get("/designer/flow/order_approval").text
            assert "Manager check" in page.split('id="published-diagram"')[1]  # served at once
    finally:
        app.close()


def test_a_file_saved_meanwhile_is_not_overwritten(shop: Any) -> None:
    _, client, store = shop
    csrf = sign_in(client, "root")
    page = client.get(f"/designer/file?path={FLOW}").text
    opened = re.search(r'name="opened" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    theirs = store.draft()[FLOW].replace("Manager review", "Their review")
    store.save_file(FLOW, theirs, "max")
    mine = theirs.replace("Their review", "My review").replace("Their", "Mine")
    r = client.post("/designer/file", data={"csrf_token": csrf, "path": FLOW, "text": mine, "opened": opened})
    assert r.status_code == 409 and "Someone saved this file" in text_of(r.text)
    assert "My review" in r.text and "Their review" in r.text  # both texts kept on the page
    assert store.draft()[FLOW] == theirs
    opened = re.search(r'name="opened" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = client.post("/designer/file", data={"csrf_token": csrf, "path": FLOW, "text": mine, "opened": opened})
    assert r.status_code == 303 and store.draft()[FLOW] == mine


def test_a_structured_edit_on_a_file_changed_meanwhile_is_refused(shop: Any, monkeypatch: Any) -> None:
    """The flow designer read the file, someone saved it before the edit was written: 409, theirs kept."""
    from ordo.designer_api.designer_web import drafts

    _, client, store = shop
    csrf = sign_in(client, "root")
    theirs = store.draft()[FLOW].replace("Manager review", "Their review")
    real = drafts.draft

    def late(app: Any) -> Any:  # the draft as read just before someone else saved
        d = real(app)
        store.save_file(FLOW, theirs, "max")
        return d

    monkeypatch.setattr(drafts, "draft", late)
    r = client.post("/designer/flow/order_approval/node",
                    data={"csrf_token": csrf, "node": "review", "label_en": "Mine", "label_zh": "",
                          "approver_kind": "role", "approver_value": "manager", "mode": "any", "next": "done"})
    assert r.status_code == 409 and "changed in the draft" in text_of(r.text)
    assert store.draft()[FLOW] == theirs
