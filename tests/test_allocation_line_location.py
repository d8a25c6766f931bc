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
    assert len(writes) == 2 and "version" in writes[0] and "SET picked_site" in writes[1], writes
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
