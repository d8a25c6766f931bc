"""Schema sync: additive changes apply on start, destructive ones need a declaration."""

from __future__ import annotations

import pytest

from ordo.engine import SchemaChangeRefused, open_app
from ordo.engine.cli import main

V1 = {
    "entities/item.yaml": """
        name: item
        fields:
          code: {type: string, max_length: 20}
          qty: {type: integer}
          note: {type: string}
          parts: {type: table, entity: part}
        ---
        name: part
        child: true
        fields:
          label: {type: string}
    """,
}


def write(make_app, body: str):
    return make_app({"entities/item.yaml": body})


def test_add_field_index_and_widen(make_app, db_url):
    app = open_app(make_app(V1), db_url)
    app.create("item", {"code": "A", "qty": 1, "parts": [{"label": "p"}]}, "u")
    app.close()
    v2 = V1["entities/item.yaml"].replace("          note: {type: string}",
                                          "          note: {type: string}\n          price: {type: money, index: true}")
    v2 = v2.replace("max_length: 20", "max_length: 40")
    app = open_app(write(make_app, v2), db_url)
    app.create("item", {"code": "B" * 30, "price": "2.50"}, "u")
    assert [r["price"] for r in app.query("item", user="u", order_by="code")] == [None, 2.5]
    assert app.sync_schema() == []  # idempotent
    app.close()


def test_removed_field_is_refused_until_declared(make_app, db_url):
    open_app(make_app(V1), db_url).close()
    v2 = V1["entities/item.yaml"].replace("          note: {type: string}\n", "")
    with pytest.raises(SchemaChangeRefused, match="note: field removed"):
        open_app(write(make_app, v2), db_url)
    v3 = v2.replace("name: item\n", "name: item\n        dropped_fields: [note]\n", 1)
    app = open_app(write(make_app, v3), db_url)
    assert app.create("item", {"code": "A"}, "u")["code"] == "A"
    app.close()


def test_rename_keeps_values(make_app, db_url):
    app = open_app(make_app(V1), db_url)
    app.create("item", {"code": "A", "note": "keep me"}, "u")
    app.close()
    v2 = V1["entities/item.yaml"].replace("note: {type: string}", "remark: {type: string, renamed_from: note}")
    app = open_app(write(make_app, v2), db_url)
    assert app.get("item", 1, "u")["remark"] == "keep me"
    app.close()


def test_type_change_needs_converted_from(make_app, db_url):
    app = open_app(make_app(V1), db_url)
    app.create("item", {"code": "A", "qty": 7}, "u")
    app.close()
    v2 = V1["entities/item.yaml"].replace("qty: {type: integer}", "qty: {type: decimal, scale: 2}")
    with pytest.raises(SchemaChangeRefused, match="type change integer -> decimal"):
        open_app(write(make_app, v2), db_url)
    v3 = v2.replace("scale: 2}", "scale: 2, converted_from: integer}")
    app = open_app(write(make_app, v3), db_url)
    assert app.get("item", 1, "u")["qty"] == 7
    app.close()


def test_removed_table_field(make_app, db_url):
    open_app(make_app(V1), db_url).close()
    v2 = V1["entities/item.yaml"].replace("          parts: {type: table, entity: part}\n", "")
    with pytest.raises(SchemaChangeRefused, match="table field 'parts'"):
        open_app(write(make_app, v2), db_url)
    v3 = v2.replace("name: item\n", "name: item\n        dropped_fields: [parts]\n", 1)
    open_app(write(make_app, v3), db_url).close()


def test_sync_cli_dry_run_and_refusal(make_app, db_url, capsys):
    app_dir = make_app(V1)
    assert main(["sync", str(app_dir), "--db", db_url, "--dry-run"]) == 0
    assert "create table item" in capsys.readouterr().out
    assert main(["sync", str(app_dir), "--db", db_url]) == 0
    v2 = write(make_app, V1["entities/item.yaml"].replace("          note: {type: string}\n", ""))
    assert main(["sync", str(v2), "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert "cannot follow the definitions without losing data" in err and "dropped_fields" in err



# system indexes as databases made before them hold them: (name, table, columns); ix_ordo_job_before stands for
# any index retired later (retired by the test itself)
OLD_SYSTEM_INDEXES = [
    ("ix_ordo_job_before", "ordo_job", "status"),
    ("ix_ordo_flow_task_assignee", "ordo_flow_task", "status, assignee"),
    ("ix_ordo_flow_task_role", "ordo_flow_task", "status, assignee_role"),
    ("ix_ordo_flow_task_instance", "ordo_flow_task", "instance_id, status"),
    ("ix_ordo_flow_token_instance", "ordo_flow_token", "instance_id, status"),
    ("ix_ordo_flow_history_instance", "ordo_flow_history", "instance_id"),
    ("ix_ordo_outbox_due", "ordo_outbox", "status, next_attempt_at"),
]


def _index_sql(conn) -> dict[str, str]:
    if conn.dialect.name == "sqlite":
        q = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    else:
        q = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    return dict(conn.exec_driver_sql(q).all())


def test_system_indexes_follow_their_declaration(make_app, db_url, monkeypatch):
    """A database made before system indexes changed (their tables' indexes then: OLD_SYSTEM_INDEXES): sync
    creates the declared indexes it lacks and drops the retired ones (a dry run only tells)."""
    from ordo.engine.tables import SYSTEM_METADATA

    tables = SYSTEM_METADATA.tables
    monkeypatch.setitem(tables["ordo_job"].info, "retired_indexes", ("ix_ordo_job_before",))
    app = open_app(make_app(V1), db_url)
    declared = {i.name for t in tables.values() for i in t.indexes}
    retired = {n for t in tables.values() for n in t.info.get("retired_indexes", ())}
    assert {n for n, _, _ in OLD_SYSTEM_INDEXES} <= retired and not retired & declared
    new = sorted({i.name for t in {t for _, t, _ in OLD_SYSTEM_INDEXES} for i in tables[t].indexes})
    with app.engine.begin() as conn:
        have = _index_sql(conn)
        assert declared <= have.keys() and not retired & have.keys()
        assert " WHERE " in have["ix_ordo_flow_task_pending_user"].upper()  # partial, on both databases
        for name in new:  # the old shape: the tables' declared indexes missing, the retired ones there
            conn.exec_driver_sql(f"DROP INDEX {name}")
        for name, table, cols in OLD_SYSTEM_INDEXES:
            conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({cols})")
    expected = {f"drop index {n}" for n, _, _ in OLD_SYSTEM_INDEXES} | {f"create index {n}" for n in new}
    assert set(app.sync_schema(dry_run=True)) == expected
    with app.engine.connect() as conn:
        assert not set(new) & _index_sql(conn).keys()
    assert set(app.sync_schema()) == expected
    with app.engine.connect() as conn:
        have = _index_sql(conn)
    assert declared <= have.keys() and not retired & have.keys()
    assert app.sync_schema() == []
    app.close()
