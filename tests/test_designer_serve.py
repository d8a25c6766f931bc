"""`ordo serve` with stored definitions, as real processes: the folder is stored as version 1 the first time,
a second server process picks up a publish without restart (PostgreSQL), and a changed folder is named,
never loaded over the published version."""

from __future__ import annotations

import time

import httpx

from ordo.engine import SYSTEM
from ordo.engine.cli import main
from ordo.engine.definitions import DefinitionStore
from ordo.engine.definitions.opening import open_stored

from .api_kit import PASSWORD, add_user
from .designer_kit import CLAIMS, FINANCE_FLOW
from .test_serve_process import serving

FLOW = "flows/claim_approval.yaml"


def signed_in(base: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    r = client.post("/api/v1/auth/signin", json={"user": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


def test_a_second_server_process_picks_up_a_publish_without_restart(make_app, pg_url):
    folder = str(make_app(CLAIMS, name="claims"))
    assert main(["import-app", folder, "--db", pg_url, "--create"]) == 0
    with open_stored(folder, pg_url, sync=False) as app:
        add_user(app, "des")
        with app.users(SYSTEM) as d:
            d.grant("des", "designer")
    with serving(folder, "--db", pg_url) as one, serving(folder, "--db", pg_url, "--workers", "2") as two:
        a, b = signed_in(one, "des"), signed_in(two, "des")
        assert b.get("/api/v1/designer/versions").json()["served"] == 1
        assert a.put(f"/api/v1/designer/files/{FLOW}", json={"text": FINANCE_FLOW}).status_code == 200
        r = a.post("/api/v1/designer/publish", json={"note": "finance"})
        assert r.status_code == 201, r.text
        assert a.get("/api/v1/designer/versions").json()["served"] == 2  # the publishing process at once
        deadline = time.monotonic() + 15
        served: set[int] = set()
        while time.monotonic() < deadline:  # the other process (each of its workers) within about a second
            served = {b.get("/api/v1/designer/versions").json()["served"] for _ in range(6)}
            if served == {2}:
                break
            time.sleep(0.3)
        assert served == {2}
        r = b.post("/api/v1/designer/simulate", json={"flow": "claim_approval", "values": {"amount": 5000},
                                                       "version": "published"})
        assert "finance" in [s["node"] for s in r.json()["steps"]]
        a.close()
        b.close()


def test_serve_stores_the_folder_once_then_serves_the_published_version(make_app, tmp_path, capsys):
    folder = make_app(CLAIMS, name="claims")
    db = str(tmp_path / "claims.db")
    with serving(str(folder), "--db", db, "--create"):
        pass
    with open_stored(str(folder), db, sync=False) as app:
        store = DefinitionStore(app.engine, root=folder)
        assert [v.number for v in store.versions()] == [1]
        store.save_file(FLOW, FINANCE_FLOW, "des")
        store.publish("des", "finance")
    (folder / FLOW).write_text((folder / FLOW).read_text() + "# a local change\n")
    from ordo.designer_api.server import open_for_serving
    from ordo.designer_api.settings import Settings

    lines: list[str] = []
    app = open_for_serving(Settings(app=str(folder), db=db), say=lines.append)
    try:
        assert "finance" in app.features["flows"].flow("claim_approval").nodes  # v2, not the folder
        assert len(lines) == 1 and "differs from the published version v2" in lines[0] and "import-app" in lines[0]
    finally:
        app.close()
