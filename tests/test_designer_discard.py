"""Discard the draft's changes (back to the published version) through the API and the designer home page,
on SQLite and PostgreSQL: designers only, confirmed, refused when there is nothing to discard or when the
draft changed since it was read (nothing changed), audited. The CLI: tests/test_definitions_cli.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ordo.engine import SYSTEM

from .designer_kit import CLAIMS, FINANCE_FLOW, served
from .test_designer_pages import FLOW as SHOP_FLOW
from .test_designer_pages import served as served_shop
from .web_kit import sign_in, text_of

FLOW = "flows/claim_approval.yaml"


@pytest.fixture
def s(make_app, db_url):
    with served(str(make_app(CLAIMS, name="claims")), db_url) as served_app:
        yield served_app


def draft_of(s) -> tuple[str, dict[str, str]]:
    """The draft's digest (as a client reads it) and its files."""
    digest = s.get("/versions").json()["draft"]["digest"]
    return digest, {f["path"]: s.file(f["path"]) for f in s.get("/files").json()["files"]}


def test_discard_through_the_api(s):
    published = {p: s.file(p, "published") for p in draft_of(s)[1]}
    r = s.post("/draft/discard", {})
    assert r.status_code == 409 and r.json()["code"] == "nothing_to_discard" and "v1" in r.json()["message"]
    s.put_file(FLOW, FINANCE_FLOW)
    s.put_file("flows/extra.yaml", "# nothing yet\n")
    assert s.client.delete("/api/v1/designer/files/roles.yaml", headers=s.h["des"]).status_code == 200
    seen, files = draft_of(s)
    s.put_file(FLOW, FINANCE_FLOW.replace("role: finance", "role: manager"), "root")  # someone else, meanwhile
    after = draft_of(s)
    r = s.post("/draft/discard", {"base": seen})
    assert r.status_code == 409 and r.json()["code"] == "conflict" and "nothing was discarded" in r.json()["message"]
    assert draft_of(s) == after != (seen, files)  # their change kept
    for body in ({"base": 3}, {"base": "x" * 65}, {"note": "?"}, [1]):
        assert s.post("/draft/discard", body).status_code == 400, body
    assert s.client.post("/api/v1/designer/draft/discard?x=1", json={}, headers=s.h["des"]).status_code == 400
    assert draft_of(s) == after
    r = s.post("/draft/discard", {"base": after[0]})
    assert r.status_code == 200, r.text
    assert r.json()["discarded"] == {FLOW: "changed", "flows/extra.yaml": "added", "roles.yaml": "removed"}
    assert r.json()["version"]["digest"] == s.get("/versions").json()["versions"][0]["digest"]
    assert draft_of(s)[1] == published
    assert s.get("/versions").json()["draft"]["changed"] == {}
    [entry, *_] = s.get("/versions").json()["draft"]["edits"]
    assert (entry["user"], entry["action"]) == ("des", "discard_draft")
    assert entry["changes"]["files"] == [None, [FLOW, "flows/extra.yaml", "roles.yaml"]]
    assert entry["changes"]["digest"] == [after[0], r.json()["version"]["digest"]]
    logged = [e for e in s.served.audit_log(user=SYSTEM, entity="ordo_definitions") if e.action == "discard_draft"]
    assert [e.user for e in logged] == ["des"]
    assert s.post("/draft/discard").json()["code"] == "nothing_to_discard"  # no body at all: no base check
    s.put_file(FLOW, FINANCE_FLOW)
    assert s.post("/draft/discard").status_code == 200  # without a base: whatever the draft is
    assert s.get("/versions").json()["published"] == 1  # nothing was published


def test_only_designers_discard(s):
    s.put_file(FLOW, FINANCE_FLOW)
    before = draft_of(s)
    assert s.post("/draft/discard", {}, "bob").status_code == 403
    assert s.client.post("/api/v1/designer/draft/discard", json={}).status_code == 401
    assert draft_of(s) == before
    paths = s.client.get("/openapi.json", headers=s.h["des"]).json()["paths"]
    op = paths["/api/v1/designer/draft/discard"]["post"]
    assert "409" in op["responses"] and "base" in op["requestBody"]["content"]["application/json"]["schema"][
        "properties"]
    assert "/api/v1/designer/draft/discard" not in s.client.get("/openapi.json", headers=s.h["bob"]).json()["paths"]


def _form(html: str) -> dict[str, str]:
    form = html.split('id="discard"')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_discard_button_on_the_home_page(make_app: Any, db_url: str) -> None:
    with served_shop(make_app, db_url) as (_, client, store):
        csrf = sign_in(client, "root")
        assert 'action="/designer/discard"' not in client.get("/designer").text  # nothing to discard
        r = client.post("/designer/discard", data={"csrf_token": csrf, "confirm": "yes",
                                                   "draft": store.version("draft").digest})
        assert r.status_code == 409 and "nothing to discard" in text_of(r.text)
        published = store.files(1)
        store.save_file(SHOP_FLOW, published[SHOP_FLOW].replace("Manager review", "Manager check"), "root")
        page = client.get("/designer").text
        assert "Discard changes" in text_of(page) and "changes to 1 file(s)" in text_of(page)
        fields = _form(page)
        assert fields["csrf_token"] == csrf and fields["draft"] == store.version("draft").digest
        edited = store.draft()
        r = client.post("/designer/discard", data=fields)  # the box not ticked
        assert r.status_code == 400 and "tick the box" in text_of(r.text) and store.draft() == edited
        assert client.post("/designer/discard", data={"csrf_token": csrf, "confirm": "yes"}).status_code == 400
        store.save_file("reports/extra.yaml", "# later\n", "max")  # someone else, after the page was loaded
        later = store.draft()
        r = client.post("/designer/discard", data={**fields, "confirm": "yes"})
        assert r.status_code == 409 and "Someone changed the draft" in text_of(r.text) and store.draft() == later
        assert "changes to 2 file(s)" in text_of(r.text)  # the page as the draft is now
        r = client.post("/designer/discard", data={**_form(r.text), "confirm": "yes"})
        assert r.status_code == 303 and store.draft() == published and store.published() == 1
        home = client.get(r.headers["location"]).text
        assert "discarded: it is version 1 again" in text_of(home) and 'action="/designer/discard"' not in home
        assert [(e.user, e.action) for e in store.draft_edits()][0] == ("root", "discard_draft")


def test_discard_on_the_page_needs_the_privilege_csrf_and_speaks_chinese(make_app: Any, tmp_path: Any) -> None:
    with served_shop(make_app, f"sqlite:///{tmp_path / 'shop.db'}") as (_, client, store):
        store.save_file(SHOP_FLOW, store.draft()[SHOP_FLOW].replace("Manager review", "Manager check"), "root")
        edited = store.draft()
        csrf = sign_in(client, "ann")
        data = {"csrf_token": csrf, "confirm": "yes", "draft": store.version("draft").digest}
        assert client.post("/designer/discard", data=data).status_code == 403
        csrf = sign_in(client, "root")
        assert client.post("/designer/discard", data={**data, "csrf_token": "nope"}).status_code == 403
        zh = text_of(client.get("/designer?lang=zh").text)
        assert "放弃修改" in zh and "确认放弃对 1 个文件的修改" in zh
        assert store.draft() == edited
        r = client.post("/designer/discard?lang=zh", data={**data, "csrf_token": csrf, "confirm": ""})
        assert r.status_code == 400 and "请勾选确认框" in text_of(r.text) and store.draft() == edited
