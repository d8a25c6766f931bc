"""Splitting and merging records as declared by `split:` and `merge:` on the entity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine import UsageError, ValidationFailed, open_app
from ordo.engine.cli import main

APP = {
    "entities/job.yaml": """
        name: job
        naming: "J-{###}"
        fields:
          client: {type: string, required: true}
          site: {type: string}
          state: {type: enum, options: [draft, approved, done, merged], default: draft}
          parent_job: {type: link, entity: job}
          merged_from: {type: text}
          parts: {type: table, entity: job_part, required: true}
          total: {type: computed, expr: "sum(parts, qty)"}
        split:
          table: parts
          quantity: qty
          when: "state in ['draft', 'approved']"
          origin_field: parent_job
        merge:
          table: parts
          match: [client, site]
          when: "state == 'approved'"
          names_field: merged_from
          mark: {state: merged}
        ---
        name: job_part
        child: true
        fields:
          item: {type: string}
          qty: {type: decimal, scale: 2, min: 0}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    yield a
    a.close()


def job(app, client="c1", site="s1", state="approved", parts=(("a", 2), ("b", 3))):
    return app.create("job", {"client": client, "site": site, "state": state,
                              "parts": [{"item": i, "qty": q} for i, q in parts]}, "u")


def test_split_whole_rows_and_quantities(app):
    j = job(app)
    a, b = j["parts"]
    kept, new = app.split("job", j["name"], [{"id": a["id"], "qty": "0.5"}, b["id"]], "u")
    assert [(p["item"], p["qty"]) for p in kept["parts"]] == [("a", Decimal("1.50"))]
    assert [(p["item"], p["qty"]) for p in new["parts"]] == [("a", Decimal("0.50")), ("b", Decimal("3.00"))]
    assert new["parent_job"] == j["id"] and new["client"] == "c1" and new["total"] == Decimal("3.5")
    with pytest.raises(ValidationFailed, match="at least one row"):
        app.split("job", j["name"], [kept["parts"][0]["id"]], "u")
    with pytest.raises(ValidationFailed, match="at most"):
        app.split("job", j["name"], [{"id": kept["parts"][0]["id"], "qty": 9}], "u")
    app.update("job", j["id"], {"state": "done"}, "u")
    with pytest.raises(ValidationFailed, match="cannot be split now"):
        app.split("job", j["name"], [kept["parts"][0]["id"]], "u")


def test_merge_keeps_original_names(app):
    j1, j2, j3 = job(app), job(app, parts=(("c", 1),)), job(app, site="other")
    with pytest.raises(ValidationFailed, match="site: differs"):
        app.merge("job", [j1["name"], j3["name"]], "u")
    merged = app.merge("job", [j2["name"], j1["name"]], "u")
    assert merged["name"] == j1["name"] and merged["merged_from"] == f"{j1['name']}, {j2['name']}"
    assert [p["item"] for p in merged["parts"]] == ["a", "b", "c"] and merged["total"] == Decimal(6)
    assert app.get("job", j2["id"], "u")["state"] == "merged"


def test_merge_all_groups_by_match_fields(app):
    job(app), job(app), job(app, state="draft"), job(app, client="c2"), job(app, client="c2")
    kept = app.merge_all("job", "u")
    assert sorted(r["merged_from"] for r in kept) == ["J-001, J-002", "J-004, J-005"]
    assert app.merge_all("job", "u") == []


def test_merge_all_does_not_undo_a_split(app):
    j = job(app)
    kept, new = app.split("job", j["name"], [j["parts"][1]["id"]], "u")
    assert app.merge_all("job", "u") == []  # split on purpose: not merged back
    third = job(app, parts=(("c", 1),))
    grandchild = app.split("job", new["name"], [{"id": new["parts"][0]["id"], "qty": 1}], "u")[1]
    merged = app.merge_all("job", "u")  # the unrelated order joins the oldest; the split family stays apart
    assert [(r["name"], r["merged_from"]) for r in merged] == [(j["name"], f"{j['name']}, {third['name']}")]
    assert [r["state"] for r in (app.get("job", k["id"], "u") for k in (new, grandchild))] == ["approved"] * 2
    assert app.merge_all("job", "u") == []
    again = app.merge("job", [new["name"], j["name"]], "u")  # a person may still merge them
    assert again["name"] == j["name"] and [p["item"] for p in again["parts"]] == ["a", "c", "b"]


def test_deleted_records_leave_their_split_family(make_app, db_url):
    a = open_app(make_app({"entities/job.yaml": APP["entities/job.yaml"].replace(
        "          mark: {state: merged}\n", "")}), db_url)
    j = job(a)
    new = a.split("job", j["name"], [j["parts"][1]["id"]], "u")[1]
    a.merge("job", [j["name"], new["name"]], "u")  # without a mark the absorbed record is deleted
    other = job(a)  # may reuse the deleted id on SQLite: it is not in the family
    assert [r["name"] for r in a.merge_all("job", "u")] == [j["name"]]
    assert a.get("job", j["id"], "u")["merged_from"] == f"{j['name']}, {new['name']}, {other['name']}"
    a.close()


def test_split_merge_commands_and_definition_checks(make_app, tmp_path, capsys):
    app_dir = make_app(APP)
    db = ["--db", str(tmp_path / "s.db")]
    data = ('{"client": "c", "site": "s", "state": "approved", '
            '"parts": [{"item": "a", "qty": 4}, {"item": "b", "qty": 1}]}')
    assert main(["create", str(app_dir), "job", data, *db, "--create"]) == 0
    capsys.readouterr()
    assert main(["split", str(app_dir), "job", "J-001", "--row", "1:1", *db]) == 0
    assert "new record J-002" in capsys.readouterr().out
    assert main(["merge", str(app_dir), "job", "--auto", *db]) == 0  # a split is not merged back
    assert "merged into 0 record(s)" in capsys.readouterr().out
    assert main(["create", str(app_dir), "job", data, *db]) == 0
    capsys.readouterr()
    assert main(["merge", str(app_dir), "job", "--auto", *db]) == 0
    assert "merged into 1 record(s): J-001" in capsys.readouterr().out
    assert main(["merge", str(app_dir), "job", "J-001", "J-002", *db]) == 0  # explicitly: yes
    assert "merged into 1 record(s): J-001" in capsys.readouterr().out
    bad = {"entities/job.yaml": APP["entities/job.yaml"].replace("match: [client, site]", "match: [client, sight]")}
    with pytest.raises(DefinitionErrors, match="unknown field 'sight'"):
        load_app(make_app(bad))


def test_entities_without_split_refuse(app, make_app, db_url):
    other = open_app(make_app({"entities/x.yaml": "name: x\nfields: {a: {type: string}}\n"}), db_url)
    other.create("x", {"a": "1"}, "u")
    with pytest.raises(UsageError, match="cannot be split"):
        other.split("x", 1, [1], "u")
    other.close()
