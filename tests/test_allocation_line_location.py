"""`demand.location`: the allocation writes the location filling each line back onto the line."""

from __future__ import annotations

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
