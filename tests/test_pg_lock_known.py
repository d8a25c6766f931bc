"""PostgreSQL: a record read earlier in the transaction and then loaded for update is locked by reading its
version only; a record changed meanwhile by another transaction is read again, whole, under the lock."""

from __future__ import annotations

from ordo.engine import open_app
from ordo.engine.stats import count_statements

from .apps import SHOP


def test_a_record_read_then_loaded_for_update_is_locked_by_its_version(make_app, pg_url):
    app = open_app(make_app(SHOP), pg_url)
    try:
        app.create("customer", {"code": "C1", "region": "north"}, "admin")
        app.create("product", {"code": "P1", "price": "9.99"}, "admin")
        o = app.create("order", {"customer": "C1", "lines": [{"qty": 1, "product": "P1", "price": "9.99"}]}, "admin")
        with app.transaction("admin") as tx:
            tx.load("order", o["id"])  # known to the unit of work, not locked
            with count_statements(app.engine) as counts:
                locked = tx.load("order", o["id"], for_update=True)
            assert len(counts.texts) == 1 and "FOR UPDATE" in counts.texts[0] and "version" in counts.texts[0]
            assert locked["lines"] and locked["version"] == o["version"]
            with count_statements(app.engine) as again:  # locked now: from the unit of work
                tx.load("order", o["id"], for_update=True)
            assert again.statements == 0
        with app.transaction("admin") as tx:
            tx.load("order", o["id"])
            app.update("order", o["id"], {"lines": [{"qty": 3, "product": "P1", "price": "9.99"}]}, "admin")
            fresh = tx.load("order", o["id"], for_update=True)  # changed meanwhile: read again, whole
            assert fresh["version"] == o["version"] + 1 and [r["qty"] for r in fresh["lines"]] == [3]
            assert tx.update("order", o["id"], {"note": "seen"})["version"] == o["version"] + 2
    finally:
        app.close()

