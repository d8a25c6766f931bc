"""/api/v1/designer/*: the draft, validation, diff, publish, rollback, export and import, on SQLite and
PostgreSQL; running flow instances keep their version; bad input is a 4xx that changes nothing."""

from __future__ import annotations

import io
import zipfile

import pytest

from ordo.dsl.files import read_app_files
from ordo.engine import SYSTEM

from .designer_kit import CLAIMS, FINANCE_FLOW, served

FLOW = "flows/claim_approval.yaml"


@pytest.fixture
def s(make_app, db_url):
    with served(str(make_app(CLAIMS, name="claims")), db_url) as served_app:
        yield served_app


def state(s) -> tuple:
    """Everything the store holds: the versions and the draft's files."""
    versions = s.get("/versions").json()
    files = {p: s.file(p) for p in (f["path"] for f in s.get("/files").json()["files"])}
    return versions["published"], [v["number"] for v in versions["versions"]], files


def claim(s, user: str, amount: int) -> dict:
    r = s.client.post("/api/v1/records/claim", json={"title": "trip", "amount": amount, "status": "submitted"},
                      headers=s.h[user])
    assert r.status_code == 201, r.text
    return r.json()


def tasks(s, user: str) -> list[dict]:
    r = s.client.get("/api/v1/tasks", headers=s.h[user])
    assert r.status_code == 200, r.text
    return r.json()["items"]


def approve(s, user: str) -> None:
    task = tasks(s, user)[0]
    r = s.client.post(f"/api/v1/tasks/{task['id']}/approve", json={}, headers=s.h[user])
    assert r.status_code == 200, r.text


def test_only_designers_reach_the_designer(s):
    for user in ("des", "root"):
        assert s.get("/versions", user).status_code == 200
        paths = s.client.get("/openapi.json", headers=s.h[user]).json()["paths"]
        assert "/api/v1/designer/publish" in paths
    for method, path in (("get", "/versions"), ("get", "/files"), ("get", f"/files/{FLOW}"), ("post", "/publish"),
                         ("post", "/validate"), ("get", "/diff"), ("get", "/export"), ("post", "/rollback")):
        r = getattr(s.client, method)("/api/v1/designer" + path, headers=s.h["bob"])
        assert r.status_code == 403 and "designer privilege" in r.json()["message"], (path, r.text)
        assert getattr(s.client, method)("/api/v1/designer" + path).status_code == 401
    assert not [p for p in s.client.get("/openapi.json", headers=s.h["bob"]).json()["paths"] if "designer" in p]


def test_draft_validate_publish_and_versions(s):
    assert s.get("/versions").json()["published"] == 1
    text = s.file(FLOW)
    assert text.startswith("# Claims are approved by a manager.")
    r = s.put_file(FLOW, text.replace("role: manager", "role: manger"))
    assert r.status_code == 200
    [err] = r.json()["errors"]
    assert err["file"] == FLOW and (err["line"], err["column"]) > (0, 0) and "manger" in err["message"]
    assert s.get("/versions").json()["draft"]["changed"] == {FLOW: "changed"}
    before = state(s)
    r = s.post("/publish", {"note": "typo"})
    assert r.status_code == 422 and r.json()["errors"][0]["text"].startswith(f"{FLOW}:")
    assert state(s) == before  # nothing published, the draft kept as it was
    s.put_file(FLOW, FINANCE_FLOW)
    r = s.post("/validate")
    assert r.json() == {"valid": True, "errors": [], "schema": {"changes": [], "refused": []}}
    r = s.post("/validate", {"files": {FLOW: FINANCE_FLOW.replace("next: done", "next: nowhere")}})
    assert not r.json()["valid"] and any("nowhere" in e["message"] for e in r.json()["errors"])
    r = s.post("/publish", {"note": "finance above 1000"})
    assert r.status_code == 201 and r.json()["version"]["number"] == 2
    versions = s.get("/versions").json()
    assert versions["published"] == versions["served"] == 2 and versions["draft"]["changed"] == {}
    assert [(v["number"], v["created_by"], v["note"]) for v in versions["versions"]][0] == (2, "des",
                                                                                        "finance above 1000")
    assert s.file(FLOW, "1") == text and s.file(FLOW, "2") == FINANCE_FLOW
    assert "finance" in s.served.features["flows"].flow("claim_approval").nodes  # this process serves v2
    assert s.post("/publish", {"note": "again"}).status_code == 409  # nothing to publish
    entries = s.served.audit_log(user=SYSTEM, entity="ordo_definitions")
    assert [(e.action, e.record_id, e.user) for e in entries] == [("publish", 2, "des"), ("save_file", 0, "des"),
                                                                  ("save_file", 0, "des"), ("import", 1, "system")]
    assert entries[0].changes["files"] == [None, [FLOW]]


def test_a_flow_started_on_v1_finishes_on_v1_after_v2_is_published(s):
    old = claim(s, "bob", 5000)
    assert len(tasks(s, "mia")) == 1
    s.put_file(FLOW, FINANCE_FLOW)
    assert s.post("/publish", {"note": "finance"}).status_code == 201
    new = claim(s, "bob", 5000)
    approve(s, "mia")  # the oldest task first: the claim started on v1
    approve(s, "mia")
    with s.served.reader(SYSTEM) as tx:
        flows = tx.app.features["flows"]
        assert flows.status(tx, "claim", old["id"]).status == "completed"
        assert flows.status(tx, "claim", new["id"]).status == "running"
    assert len(tasks(s, "fin")) == 1  # only the claim started on v2 goes to finance
    approve(s, "fin")
    with s.served.reader(SYSTEM) as tx:
        assert tx.app.features["flows"].status(tx, "claim", new["id"]).status == "completed"


def test_rollback_publishes_an_earlier_version_again(s):
    s.put_file(FLOW, FINANCE_FLOW)
    s.post("/publish", {"note": "finance"})
    assert s.post("/rollback", {"version": 9}).status_code == 404
    assert s.post("/rollback", {"version": 2}).status_code == 409  # already published
    assert s.post("/rollback", {"version": "x"}).status_code == 400
    r = s.post("/rollback", {"version": 1, "note": "too slow"})
    assert r.status_code == 201 and r.json()["version"] == {**r.json()["version"], "number": 3, "action": "rollback",
                                                             "based_on": 1}
    assert "finance" not in s.served.features["flows"].flow("claim_approval").nodes
    assert s.file(FLOW, "published") == s.file(FLOW, "1")
    actions = [e.action for e in s.served.audit_log(user=SYSTEM, entity="ordo_definitions") if e.record_id]
    assert actions == ["rollback", "publish", "import"]


def test_diff_item_by_item(s):
    s.put_file(FLOW, FINANCE_FLOW)
    r = s.get("/diff")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "v1" and body["to"] == "draft" and body["files"] == {FLOW: "changed"}
    added = {tuple(c["path"]) for c in body["changes"] if c["kind"] == "flow" and c["action"] == "added"}
    assert any("finance" in p for p in added), body["changes"]
    assert all(c["text"] for c in body["changes"])
    s.post("/publish", {"note": "v2"})
    assert s.get("/diff", params={"from": "1", "to": "2"}).json()["changes"] == body["changes"]
    assert s.get("/diff", params={"from": "2", "to": "draft"}).json()["changes"] == []
    assert s.get("/diff", params={"from": "7"}).status_code == 404
    assert s.get("/diff", params={"to": "latest!"}).status_code == 400
    assert s.get("/diff", params={"frm": "1"}).status_code == 400


def test_structured_edit_changes_only_its_line(s):
    before = s.file("entities/claim.yaml")
    r = s.post("/edit", {"file": "entities/claim.yaml",
                         "edits": [{"op": "set", "path": ["fields", "amount", "default"], "value": 10}]})
    assert r.status_code == 200, r.text
    after = r.json()["text"]
    assert r.json()["errors"] == [] and s.file("entities/claim.yaml") == after
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and "10" in changed[0][1] and "# in the company's currency" in changed[0][1]
    bad = s.post("/edit", {"file": "entities/claim.yaml", "edits": [{"op": "set", "path": ["nope", 3], "value": 1}]})
    assert bad.status_code == 400 and s.file("entities/claim.yaml") == after
    assert s.post("/edit", {"file": "entities/nope.yaml", "edits": [{"op": "delete", "path": ["a"]}]}).status_code \
        == 404
    assert s.post("/edit", {"file": "entities/claim.yaml", "edits": []}).status_code == 400
    assert s.post("/edit", {"file": FLOW, "edits": [{"op": "remove_node", "flow": "claim_approval"}]}).status_code \
        == 400


def test_schema_changes_additive_applied_destructive_refused(s):
    claim_yaml = s.file("entities/claim.yaml")
    s.put_file("entities/claim.yaml", claim_yaml + "  priority: {type: integer}\n")
    r = s.post("/validate").json()
    assert r["valid"] and any("priority" in c for c in r["schema"]["changes"])
    assert s.post("/publish", {"note": "priority"}).status_code == 201
    r = s.client.post("/api/v1/records/claim", json={"title": "x", "priority": 2}, headers=s.h["bob"])
    assert r.status_code == 201 and r.json()["priority"] == 2
    s.put_file("entities/claim.yaml", s.file("entities/claim.yaml").replace("  title: {type: string}\n", ""))
    assert "title" in s.post("/validate").json()["schema"]["refused"][0]
    before = state(s)
    r = s.post("/publish", {"note": "drop title"})
    assert r.status_code == 409 and r.json()["code"] == "schema_change_refused"
    assert state(s) == before


def test_export_is_byte_for_byte_and_import_round_trips(s, make_app):
    folder = read_app_files(s.app.definition.root)
    r = s.get("/export", params={"version": "1"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert {n: z.read(n).decode() for n in z.namelist()} == folder
    assert s.get("/export", params={"version": "1"}).content == r.content  # the same bytes every time
    files = {**folder, FLOW: FINANCE_FLOW}
    bad = s.post("/import", {"files": {**files, FLOW: "name: [oops"}, "publish": True})
    assert bad.status_code == 422 and s.get("/versions").json()["published"] == 1
    assert s.post("/import", {"files": {**files, "../x.yaml": "a: 1"}}).status_code == 400
    r = s.post("/import", {"files": files, "publish": True, "note": "from git"})
    assert r.status_code == 201 and r.json()["version"]["number"] == 2
    assert s.get("/versions").json()["versions"][0]["note"] == "from git"
    r = s.client.post("/api/v1/designer/import", content=s.get("/export", params={"version": "1"}).content,
                      headers={**s.h["des"], "content-type": "application/zip"})
    assert r.status_code == 200 and s.get("/versions").json()["draft"]["changed"] == {FLOW: "changed"}
    r = s.client.post("/api/v1/designer/import", content=b"not a zip",
                      headers={**s.h["des"], "content-type": "application/zip"})
    assert r.status_code == 400


def test_bad_input_is_a_4xx_and_changes_nothing(s):
    before = state(s)
    for path, text, status in (("../x.yaml", "a: 1", (400, 404)), ("%2e%2e/x.yaml", "a: 1", (400,)),
                               ("notes.txt", "hello", (400,)), ("flows/big.yaml", "#" * 600_000, (400, 413)),
                               ("flows/x.yaml", 5, (400,))):
        r = s.client.put(f"/api/v1/designer/files/{path}", json={"text": text}, headers=s.h["des"])
        assert r.status_code in status, (path, r.status_code, r.text)
    assert s.client.put(f"/api/v1/designer/files/{FLOW}", json={"txt": "a"}, headers=s.h["des"]).status_code == 400
    assert s.client.delete("/api/v1/designer/files/app.yaml", headers=s.h["des"]).status_code == 400
    assert s.client.delete("/api/v1/designer/files/flows/none.yaml", headers=s.h["des"]).status_code == 404
    assert s.get("/files", params={"version": "12"}).status_code == 404
    assert s.get("/files", params={"version": "-1"}).status_code == 400
    assert s.get(f"/files/{FLOW}", params={"version": "99999999999"}).status_code == 400
    assert s.get("/files/flows/none.yaml").status_code == 404
    assert s.get("/export", params={"version": "3"}).status_code == 404
    assert s.post("/publish", {"note": 5}).status_code == 400
    assert s.post("/publish", {"note": "x", "force": True}).status_code == 400
    assert s.post("/publish", {"note": "x"}).status_code == 409  # the draft is the published version
    assert s.client.post("/api/v1/designer/publish", content=b"{", headers={**s.h["des"],
                                                                           "content-type": "application/json"}) \
        .status_code == 400
    assert state(s) == before


def test_simulate_the_draft(s):
    s.put_file(FLOW, FINANCE_FLOW)
    r = s.post("/simulate", {"flow": "claim_approval", "values": {"title": "t", "amount": 5000}})
    assert r.status_code == 200, r.text
    assert [st["node"] for st in r.json()["steps"]][:3] == ["review", "big", "finance"]
    r = s.post("/simulate", {"flow": "claim_approval", "values": {"amount": 5}, "version": "1"})
    assert "finance" not in [st["node"] for st in r.json()["steps"]]
    rec = claim(s, "bob", 2000)
    r = s.post("/simulate", {"flow": "claim_approval", "record": rec["name"]})
    assert r.status_code == 200 and "finance" in [st["node"] for st in r.json()["steps"]]
    assert s.post("/simulate", {"flow": "nope", "values": {}}).status_code == 404
    assert s.post("/simulate", {"flow": "claim_approval"}).status_code == 400
    assert s.post("/simulate", {"flow": "claim_approval", "record": "CL-9999"}).status_code == 404


def test_a_stale_edit_is_refused_and_publishes_are_audited_for_designers_only(s):
    r = s.get(f"/files/{FLOW}")
    sha = r.json()["sha"]
    first = s.client.put(f"/api/v1/designer/files/{FLOW}", json={"text": FINANCE_FLOW, "base": sha},
                         headers=s.h["des"])
    assert first.status_code == 200 and first.json()["sha"] != sha
    before = state(s)
    stale = s.client.put(f"/api/v1/designer/files/{FLOW}", json={"text": "name: x\n", "base": sha},
                         headers=s.h["root"])
    assert stale.status_code == 409 and "changed in the draft" in stale.json()["message"]
    new = s.client.put("/api/v1/designer/files/flows/new.yaml", json={"text": "# empty\n", "base": "x"},
                       headers=s.h["des"])
    assert new.status_code == 409
    bad = s.client.put(f"/api/v1/designer/files/{FLOW}", content=b'{"text": "name: \\ud800"}',
                       headers={**s.h["des"], "content-type": "application/json"})
    assert bad.status_code == 400
    assert state(s) == before
    assert s.post("/publish", {"note": "finance"}).status_code == 201
    entries = s.served.audit_log(user="des", entity="ordo_definitions")
    assert [(e.action, e.record_id) for e in entries] == [("publish", 2), ("save_file", 0), ("import", 1)]
    assert s.served.audit_log(user="bob", entity="ordo_definitions") == []
    assert s.served.audit_log(user="bob") == [] or all(e.entity != "ordo_definitions"
                                                      for e in s.served.audit_log(user="bob"))


def test_field_and_flow_operations_through_the_edit_endpoint(s):
    r = s.post("/edit", {"file": "entities/claim.yaml", "edits": [
        {"op": "add_field", "entity": "claim", "name": "priority", "type": "integer", "after": "amount"},
        {"op": "set_field_label", "entity": "claim", "field": "priority", "lang": "zh", "label": "优先级"},
        {"op": "set_field_rule", "entity": "claim", "field": "title", "rule": "required_if", "expression": "amount > 0"},
    ]})
    assert r.status_code == 200 and r.json()["errors"] == [], r.text
    text = r.json()["text"]
    assert "priority" in text and "优先级" in text and "# in the company's currency" in text
    r = s.post("/edit", {"file": FLOW, "edits": [
        {"op": "insert_node", "flow": "claim_approval", "name": "finance", "after": "review",
         "node": {"type": "approval", "approvers": [{"role": "finance"}]}}]})
    assert r.status_code == 200 and r.json()["errors"] == [], r.text
    assert s.post("/publish", {"note": "priority and finance"}).status_code == 201
    for bad in ({"op": "add_field", "entity": "claim", "name": "x"}, {"op": "set_field", "entity": "claim",
                                                                     "field": "title", "props": 5},
                {"op": "move_section", "form": "nope", "from": 0, "to": 99},
                {"op": "set_field_rule", "entity": "claim", "field": "title", "rule": "when", "expression": "x"},
                {"op": "add_field", "entity": "claim", "name": "y", "type": "integer", "required": "yes"}):
        r = s.post("/edit", {"file": "entities/claim.yaml", "edits": [bad]})
        assert r.status_code in (400, 404), (bad, r.text)


def test_an_import_lists_every_file_refused_with_its_path_and_line(s):
    before = state(s)
    files = {**read_app_files(s.app.definition.root), "../x.yaml": "a: 1", "notes.txt": "hi",
             "entities/bin.yaml": "name: bin\nfields:\n  x: {type: string}\x00\n"}
    r = s.post("/import", {"files": files})
    assert r.status_code == 400 and r.json()["field"] == "files", r.text
    errors = {e["file"]: e for e in r.json()["errors"]}
    assert set(errors) == {"../x.yaml", "notes.txt", "entities/bin.yaml"}
    assert (errors["entities/bin.yaml"]["line"], errors["entities/bin.yaml"]["column"]) == (3, 20)
    assert "NUL" in errors["entities/bin.yaml"]["message"] and "(and 2 more)" in r.json()["message"]
    r = s.post("/import", {"files": {"entities/claim.yaml": "name: claim\n"}})
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == "the files hold no app.yaml"
    assert state(s) == before


def test_draft_edits_are_audited_and_listed_with_the_versions(s):
    import hashlib

    def sha(text):
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    old = s.file(FLOW)
    assert s.put_file(FLOW, FINANCE_FLOW).status_code == 200
    r = s.post("/edit", {"file": FLOW, "edits": [{"op": "set", "path": ["nodes", "finance", "approvers"],
                                                   "value": [{"role": "manager"}]}]})
    assert r.status_code == 200, r.text
    edited = r.json()["text"]
    assert s.put_file("flows/extra.yaml", "# nothing yet\n").status_code == 200
    assert s.client.delete("/api/v1/designer/files/flows/extra.yaml", headers=s.h["des"]).status_code == 200
    edits = s.get("/versions").json()["draft"]["edits"]
    assert [(e["user"], e["action"], e["changes"]["file"]) for e in edits] == [
        ("des", "delete_file", ["flows/extra.yaml", None]), ("des", "save_file", [None, "flows/extra.yaml"]),
        ("des", "edit_file", [None, FLOW]), ("des", "save_file", [None, FLOW])]
    assert edits[3]["changes"]["sha"] == [sha(old), sha(FINANCE_FLOW)]
    assert edits[2]["changes"]["sha"] == [sha(FINANCE_FLOW), sha(edited)]
    assert edits[1]["changes"]["sha"] == [None, sha("# nothing yet\n")]
    assert s.get("/versions", "bob").status_code == 403
    assert s.served.audit_log(user="bob", entity="ordo_definitions") == []  # designers only
    r = s.post("/import", {"files": {**read_app_files(s.app.definition.root), FLOW: FINANCE_FLOW}})
    assert r.status_code == 200
    entry = s.get("/versions").json()["draft"]["edits"][0]
    assert entry["action"] == "import_draft" and entry["changes"]["files"] == [None, [FLOW]]
    assert s.post("/publish", {"note": "finance"}).status_code == 201
    assert s.get("/versions").json()["draft"]["edits"] == []  # only the edits since the published version
    log = s.served.audit_log(user="des", entity="ordo_definitions", record=0)
    assert [e.action for e in log] == ["import_draft", "delete_file", "save_file", "edit_file", "save_file"]


def test_edit_errors_name_the_edit_file_and_line_and_batches_are_bounded(s):
    from ordo.dsl.yaml_edit import MAX_EDITS

    before = state(s)
    r = s.post("/edit", {"file": FLOW, "edits": [
        {"op": "set_node", "flow": "claim_approval", "name": "review", "props": {"label": "Review"}},
        {"op": "remove_node", "flow": "claim_approval", "name": "nope"}]})
    assert r.status_code == 400 and r.json()["field"] == "edits", r.text
    error = r.json()["errors"][0]
    assert (error["file"], error["line"]) == (FLOW, 5) and "edit 2 (remove_node)" in error["message"], error
    assert r.json()["message"].startswith(f"{FLOW}:5:1: edit 2 (remove_node): flow claim_approval: no node 'nope'")
    one = {"op": "set", "path": ["fields", "amount", "default"], "value": 1}
    r = s.post("/edit", {"file": "entities/claim.yaml", "edits": [one] * (MAX_EDITS + 1)})
    assert r.status_code == 400 and f"1 to {MAX_EDITS} edits" in r.json()["message"]
    big = s.file("entities/claim.yaml") + ("# padding " + "." * 70 + "\n") * 2000  # ~160 KB
    assert s.put_file("entities/claim.yaml", big).status_code == 200
    r = s.post("/edit", {"file": "entities/claim.yaml", "edits": [one] * 20})
    assert r.status_code == 400 and "edits at once for a file this size" in r.json()["message"], r.text
    assert state(s)[:2] == before[:2]
