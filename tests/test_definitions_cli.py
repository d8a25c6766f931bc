"""`ordo import-app`, `export`, `versions`, `publish`, `discard`, `rollback`; a commented app edited through the API
and exported: `git diff` shows exactly the edited lines, the comments survive."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from ordo.engine.cli import main

from .designer_kit import CLAIMS, FINANCE_FLOW, served

FLOW = "flows/claim_approval.yaml"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def git(folder, *argv: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *argv], check=True, capture_output=True, text=True).stdout


def commit_all(folder) -> None:
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "start")


def test_import_publish_rollback_export(make_app, tmp_path, capsys, db_url):
    folder = make_app(CLAIMS, name="claims")
    app = str(folder)
    code, _, err = run(capsys, "versions", app, "--db", db_url)
    assert code == 1 and ("does not exist" in err or "holds no Ordo app" in err)
    assert run(capsys, "import-app", app, "--db", db_url, "--create")[1].startswith(f"stored {app} as version 1")
    code, out, _ = run(capsys, "versions", app, "--db", db_url)
    assert code == 0 and "import" in out and "the draft is the published version v1" in out
    (folder / FLOW).write_text(FINANCE_FLOW)
    code, out, _ = run(capsys, "import-app", app, "--db", db_url, "--note", "finance")
    assert code == 0 and "as the draft" in out and f"changed: {FLOW}" in out
    out = run(capsys, "versions", app, "--db", db_url)[1]
    assert "changed: " + FLOW in out and "draft edits since v1 (newest first):" in out
    assert f"import_draft {FLOW}" in out
    code, out, _ = run(capsys, "versions", app, "--db", db_url, "--diff", "published", "draft")
    assert code == 0 and out.startswith("v1 -> draft: 1 file(s)") and "finance" in out
    code, out, _ = run(capsys, "versions", app, "--db", db_url, "--diff", "1", "draft", "--lang", "zh")
    assert code == 0 and "finance" in out
    code, out, _ = run(capsys, "publish", app, "--db", db_url, "--note", "finance above 1000")
    assert code == 0 and out.strip() == "published version 2"
    code, out, _ = run(capsys, "rollback", app, "1", "--db", db_url, "--note", "too slow")
    assert code == 0 and "as version 3" in out
    code, out, _ = run(capsys, "versions", app, "--db", db_url, "--format", "json")
    assert '"rollback"' in out and '"too slow"' in out
    assert run(capsys, "publish", app, "--db", db_url, "--note", "nothing")[0] == 1  # nothing to publish
    code, _, err = run(capsys, "rollback", app, "9", "--db", db_url)
    assert code == 1 and "no version 9" in err
    out_zip = tmp_path / "v2.zip"
    assert run(capsys, "export", app, str(out_zip), "--db", db_url, "--version", "2")[0] == 0
    exported = tmp_path / "exported"
    assert run(capsys, "export", app, str(exported), "--db", db_url, "--version", "1")[0] == 0
    for rel in [*CLAIMS, "app.yaml"]:
        if rel != FLOW:
            assert (exported / rel).read_bytes() == (folder / rel).read_bytes()
    assert (exported / FLOW).read_text() != FINANCE_FLOW
    code, _, err = run(capsys, "export", app, str(tmp_path / "no" / "such" / "x"), "--db", db_url)
    assert code == 1 and "does not exist" in err
    code, _, err = run(capsys, "export", app, str(exported), "--db", db_url, "--version", "draftt")
    assert code == 1 and "unknown version" in err


def test_import_of_an_invalid_folder_changes_nothing(make_app, capsys, db_url):
    folder = make_app(CLAIMS, name="claims")
    assert run(capsys, "import-app", str(folder), "--db", db_url, "--create")[0] == 0
    (folder / FLOW).write_text(FINANCE_FLOW.replace("role: finance", "role: financ"))
    code, _, err = run(capsys, "import-app", str(folder), "--db", db_url, "--publish")
    assert code == 1 and f"{FLOW}:" in err and "financ" in err
    assert "the draft is the published version v1" in run(capsys, "versions", str(folder), "--db", db_url)[1]


COMMENTED = {
    **CLAIMS,
    "entities/limits.yaml": """
        # Limits the business changes often.
        name: limits
        fields:
          # the largest claim without a second look
          small: {type: integer, default: 100}
          medium: {type: integer, default: 1000}   # goes to finance above this
          large: {type: integer, default: 10000}
          note: {type: string, default: none}
    """,
}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_twenty_structured_edits_then_export_git_diff_shows_only_those_lines(make_app, tmp_path, capsys, db_url):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    folder = make_app(COMMENTED, name="claims")
    commit_all(folder)
    rng = random.Random(14)
    edited: set[str] = set()
    with served(str(folder), db_url) as s:
        for _ in range(20):
            field = rng.choice(["small", "medium", "large"])
            value = rng.randrange(1, 10**6)
            r = s.post("/edit", {"file": "entities/limits.yaml",
                                 "edits": [{"op": "set", "path": ["fields", field, "default"], "value": value}]})
            assert r.status_code == 200 and r.json()["errors"] == [], r.text
            edited.add(field)
        assert s.post("/publish", {"note": "limits"}).status_code == 201
    assert run(capsys, "export", str(folder), str(folder), "--db", db_url)[0] == 0
    diff = git(folder, "diff", "--unified=0")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed and all(any(f"{f}:" in line for f in edited) for line in changed), diff
    assert len([c for c in changed if c.startswith("-")]) == len(edited)
    text = (folder / "entities/limits.yaml").read_text()
    assert "# Limits the business changes often." in text and "# goes to finance above this" in text
    assert "# the largest claim without a second look" in text
    assert git(folder, "status", "--short").strip() == "M entities/limits.yaml"


def test_commands_and_workers_open_the_published_version(make_app, capsys, db_url):
    from ordo.engine.definitions import DefinitionStore
    from ordo.engine.definitions.opening import follow, open_stored

    folder = make_app(CLAIMS, name="claims")
    assert run(capsys, "import-app", str(folder), "--db", db_url, "--create")[0] == 0
    with open_stored(str(folder), db_url, sync=False) as app:
        assert app.features["definitions"] == 1 and follow(app) is app
        store = DefinitionStore(app.engine, root=folder)
        store.save_file("entities/claim.yaml", (folder / "entities/claim.yaml").read_text()
                        + "  priority: {type: integer}\n", "des")
        store.publish("des", "priority")
        newer = follow(app, start=True)
        assert newer.features["definitions"] == 2 and "priority" in newer.compiled.entity("claim").fields
    # the folder lacks the field the database now has: commands open the published version, not the folder
    assert run(capsys, "create", str(folder), "claim", '{"title": "t", "priority": 3}', "--db", db_url)[0] == 0
    code, out, _ = run(capsys, "query", str(folder), "claim", "--db", db_url, "--format", "json")
    assert code == 0 and '"priority": 3' in out


def test_the_recorded_user_must_exist_and_be_enabled(make_app, capsys, db_url):
    app = str(make_app(CLAIMS, name="claims"))
    assert run(capsys, "import-app", app, "--db", db_url, "--create")[0] == 0
    code, _, err = run(capsys, "publish", app, "--db", db_url, "--user", "ghost", "--note", "x")
    assert code == 1 and "--user ghost: no such user" in err
    assert run(capsys, "user", "add", app, "dora", "--db", db_url)[0] == 0
    assert run(capsys, "user", "disable", app, "dora", "--db", db_url)[0] == 0
    code, _, err = run(capsys, "rollback", app, "1", "--db", db_url, "--user", "dora")
    assert code == 1 and "disabled" in err
    code, out, _ = run(capsys, "versions", app, "--db", db_url)
    assert code == 0 and "ghost" not in out and "dora" not in out


def test_discard_the_draft(make_app, capsys, db_url):
    import json

    folder = make_app(CLAIMS, name="claims")
    app = str(folder)
    assert run(capsys, "import-app", app, "--db", db_url, "--create")[0] == 0
    code, _, err = run(capsys, "discard", app, "--db", db_url)
    assert code == 1 and "there is nothing to discard" in err
    (folder / FLOW).write_text(FINANCE_FLOW)
    assert run(capsys, "import-app", app, "--db", db_url)[0] == 0
    seen = json.loads(run(capsys, "versions", app, "--db", db_url, "--format", "json")[1])["draft"]["digest"]
    assert run(capsys, "user", "add", app, "dora", "--db", db_url)[0] == 0
    code, _, err = run(capsys, "discard", app, "--db", db_url, "--user", "ghost")
    assert code == 1 and "--user ghost: no such user" in err
    assert run(capsys, "user", "disable", app, "dora", "--db", db_url)[0] == 0
    code, _, err = run(capsys, "discard", app, "--db", db_url, "--user", "dora")
    assert code == 1 and "disabled" in err
    code, _, err = run(capsys, "discard", app, "--db", db_url, "--expect", "0" * 64)
    assert code == 1 and "changed since you loaded it" in err and "nothing was discarded" in err
    assert "changed: " + FLOW in run(capsys, "versions", app, "--db", db_url)[1]  # still the draft
    assert run(capsys, "user", "enable", app, "dora", "--db", db_url)[0] == 0
    code, out, _ = run(capsys, "discard", app, "--db", db_url, "--user", "dora", "--expect", seen)
    assert code == 0 and out.startswith("discarded the draft's changes to 1 file(s): the draft is version 1 again")
    assert f"changed in the draft: {FLOW}" in out
    out = run(capsys, "versions", app, "--db", db_url)[1]
    assert "the draft is the published version v1" in out and f"dora discard_draft {FLOW}" in out
    assert run(capsys, "discard", app, "--db", db_url)[0] == 1


def test_a_refused_import_leaves_the_draft_and_its_edits(make_app, capsys, db_url):
    from ordo.engine.db import make_engine
    from ordo.engine.definitions import DefinitionStore

    folder = make_app(CLAIMS, name="claims")
    app = str(folder)
    assert run(capsys, "import-app", app, "--db", db_url, "--create")[0] == 0
    engine = make_engine(db_url)
    try:
        store = DefinitionStore(engine, root=folder)
        store.save_file(FLOW, FINANCE_FLOW, "des")  # unpublished work in the draft
        draft = store.draft()
        (folder / FLOW).write_text(FINANCE_FLOW.replace("role: finance", "role: financ"))
        for extra in ([], ["--publish"]):  # invalid files: every error listed, nothing imported
            code, _, err = run(capsys, "import-app", app, "--db", db_url, *extra)
            assert code == 1 and f"{FLOW}:" in err and "nothing was imported: 1 error(s)" in err, err
            assert store.draft() == draft and store.published() == 1
        (folder / FLOW).unlink()
        (folder / FLOW).write_text(store.files(1)[FLOW])  # the folder is the published version again
        code, _, err = run(capsys, "import-app", app, "--db", db_url, "--publish")
        assert code == 1 and "the files are the published version v1: nothing to publish" in err
        assert store.draft() == draft and store.published() == 1
        claim = store.files(1)["entities/claim.yaml"]
        (folder / "entities/claim.yaml").write_text(claim.replace("title: {type: string}", ""))
        code, _, err = run(capsys, "import-app", app, "--db", db_url, "--publish")  # the schema refuses it
        assert code == 1 and "title" in err and "losing data" in err, err
        assert store.draft() == draft and store.published() == 1
        (folder / "entities/claim.yaml").write_text(claim + "  priority: {type: integer}\n")
        code, out, _ = run(capsys, "import-app", app, "--db", db_url, "--publish")
        assert code == 0 and out.strip() == f"published {app} as version 2"
        assert store.draft() == store.files(2)  # the import replaced the draft
    finally:
        engine.dispose()


def test_sync_syncs_what_opening_runs_the_published_version(make_app, capsys, db_url):
    from ordo.engine.db import make_engine
    from ordo.engine.definitions import DefinitionStore

    folder = make_app(CLAIMS, name="claims")
    app = str(folder)
    code, out, _ = run(capsys, "sync", app, "--db", db_url)
    assert code == 0 and f"the definitions of {app} (the database stores none)" in out
    assert run(capsys, "import-app", app, "--db", db_url)[0] == 0
    engine = make_engine(db_url)
    try:
        store = DefinitionStore(engine, root=folder)
        store.save_file("entities/claim.yaml", store.files(1)["entities/claim.yaml"] + "  priority: {type: integer}\n",
                        "des")
        store.publish("des", "priority")
    finally:
        engine.dispose()
    # the folder lacks the field: syncing it would drop a column; the published version is synced instead
    code, out, err = run(capsys, "sync", app, "--db", db_url, "--dry-run")
    assert code == 0 and "the published version v2 stored in the database" in out and err == "", err
    assert "schema is up to date" in out and f"the folder {app} differs from the published version v2" in out
