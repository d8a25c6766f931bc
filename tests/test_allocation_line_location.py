"""`demand.location`: the allocation writes the location filling each line back onto the line."""

from __future__ import annotations

from ordo.engine.stats import count_statements

from .allocation_apps import ENTITIES, rule
from .test_allocation import STOCK, allocate, open_shop


def test_each_allocated_line_names_its_location(make_app, db_url):
    files = {**ENTITIES, "rules/fulfil.yaml": rule().replace(
        "quantity: qty}", "quantity: qty, location: picked_site}")}
    files["entities/order.yaml"] = files["entities/order.yaml"].replace(
        "          qty: {type: integer, required: true, min: 1}",
        "          qty: {type: integer, required: true, min: 1}\n          picked_site: {type: link, entity: site}")
    app = open_shop(lambda f: make_app(files), db_url, STOCK + [("C", "P3", 5)])
    order = app.create("order", {"lat": "45.0", "lon": "4.0", "lines": [
        {"product": "P1", "qty": 2}, {"product": "P3", "qty": 1}, {"product": "P2", "qty": 1}]}, "admin")
    result = allocate(app, order["id"])
    assert result.status == "allocated"
    sites = {s["id"]: s["code"] for s in app.query("site", user="admin")}
    lines = app.get("order", order["id"], "admin")["lines"]
    assert [ln["product"] for ln in lines] == [ln["product"] for ln in order["lines"]]  # order kept
    assert [sites[ln["picked_site"]] for ln in lines] == ["A", "C", "A"]
    app.close()


def _located(make_app, db_url, extra: str = ""):
    files = {**ENTITIES, "rules/fulfil.yaml": rule().replace(
        "quantity: qty}", "quantity: qty, location: picked_site}")}
    files["entities/order.yaml"] = files["entities/order.yaml"].replace(
        "          lines: {type: table, entity: order_line}",
        f"          lines: {{type: table, entity: order_line}}\n{extra}").replace(
        "          qty: {type: integer, required: true, min: 1}",
        "          qty: {type: integer, required: true, min: 1}\n          picked_site: {type: link, entity: site}")
    return open_shop(lambda f: make_app(files), db_url, STOCK)


def test_the_location_is_written_to_the_changed_rows_only_audited_and_versioned(make_app, db_url):
    app = _located(make_app, db_url)
    assert app.features["allocation"].rule("fulfil").lines_targeted
    order = app.create("order", {"lat": "45.0", "lon": "4.0", "lines": [
        {"product": "P1", "qty": 2}, {"product": "P2", "qty": 1}]}, "admin")
    with count_statements(app.engine) as counts:
        assert allocate(app, order["id"]).status == "allocated"
    writes = [t for t in counts.texts if t.startswith(('UPDATE "order"', "UPDATE order"))]
    # the rows' field; the record's version bump owed (engine/owed.py), run before COMMIT
    assert len(writes) == 2 and "SET picked_site" in writes[0] and "version" in writes[1], writes
    after = app.get("order", order["id"], "admin")
    assert after["version"] == order["version"] + 1 and after["updated_by"] == "alice"
    assert [ln["picked_site"] for ln in after["lines"]] == [1, 1]
    entry = app.audit_log(user="admin", entity="order", record=order["id"])[0]
    assert entry.user == "alice" and entry.action == "update" and "lines" in entry.changes


def test_a_location_a_computed_field_reads_is_written_through_the_update(make_app, db_url):
    app = _located(make_app, db_url, '          placed: {type: computed, expr: "count(lines, not is_null(picked_site))"}')
    assert not app.features["allocation"].rule("fulfil").lines_targeted
    order = app.create("order", {"lat": "45.0", "lon": "4.0", "lines": [
        {"product": "P1", "qty": 2}, {"product": "P2", "qty": 1}]}, "admin")
    assert order["placed"] == 0
    assert allocate(app, order["id"]).status == "allocated"
    assert app.get("order", order["id"], "admin")["placed"] == 2


def _order_writes(counts):
    return [t for t in counts.texts if t.startswith(('UPDATE "order" ', "UPDATE order "))]


def test_the_records_next_write_takes_the_owed_bump_over(make_app, db_url):
    app = _located(make_app, db_url)
    order = app.create("order", {"lat": "45.0", "lon": "4.0", "lines": [
        {"product": "P1", "qty": 2}, {"product": "P2", "qty": 1}]}, "admin")
    with count_statements(app.engine) as counts, app.transaction("alice") as tx:
        assert app.features["allocation"].allocate(tx, "fulfil", order["id"]).status == "allocated"
        assert tx.load("order", order["id"])["version"] == order["version"] + 1
        tx.update("order", order["id"], {"region": "south"})
    writes = _order_writes(counts)
    assert len(writes) == 1 and "version" in writes[0] and "region" in writes[0], writes
    after = app.get("order", order["id"], "admin")
    assert after["version"] == order["version"] + 2 and after["updated_by"] == "alice"  # as two UPDATEs leave it
    assert after["region"] == "south" and [ln["picked_site"] for ln in after["lines"]] == [1, 1]
    assert [e.action for e in app.audit_log(user="admin", entity="order", record=order["id"])][:2] == [
        "update", "update"]


def test_a_statement_reading_the_bumped_columns_runs_the_owed_bump_first(make_app, db_url):
    app = _located(make_app, db_url)
    order = app.create("order", {"lat": "45.0", "lon": "4.0", "lines": [{"product": "P1", "qty": 2}]}, "admin")
    with app.transaction("alice") as tx:
        app.features["allocation"].allocate(tx, "fulfil", order["id"])
        seen = {r["id"]: r for r in tx.query("order")}[order["id"]]
        assert seen["version"] == order["version"] + 1 and seen["updated_by"] == "alice"
        tx.update("order", order["id"], {"region": "south"})  # checks the version the reader saw
    assert app.get("order", order["id"], "admin")["version"] == order["version"] + 2


def test_an_owed_bump_survives_a_savepoint_rolled_back_after_it(make_app, db_url):
    app = _located(make_app, db_url)
    order = app.create("order", {"lat": "45.0", "lon": "4.0", "lines": [{"product": "P1", "qty": 2}]}, "admin")
    with app.transaction("alice") as tx:
        app.features["allocation"].allocate(tx, "fulfil", order["id"])
        savepoint = tx.conn.begin_nested()
        tx.update("order", order["id"], {"region": "south"})
        savepoint.rollback()
    after = app.get("order", order["id"], "admin")
    assert after["version"] == order["version"] + 1 and after["region"] is None
    assert after["lines"][0]["picked_site"] == 1


def test_an_owed_bump_goes_with_its_savepoint(make_app, db_url):
    app = _located(make_app, db_url)
    order = app.create("order", {"lat": "45.0", "lon": "4.0", "lines": [{"product": "P1", "qty": 2}]}, "admin")
    with count_statements(app.engine) as counts, app.transaction("alice") as tx:
        savepoint = tx.conn.begin_nested()
        app.features["allocation"].allocate(tx, "fulfil", order["id"])
        savepoint.rollback()
    assert _order_writes(counts) == [t for t in _order_writes(counts) if "picked_site" in t]  # no bump ran
    after = app.get("order", order["id"], "admin")
    assert after["version"] == order["version"] and after["lines"][0]["picked_site"] is None
