"""Action nodes changing other records: create for_each (grouped, with child rows), update by a filter,
allocation release/consume, waits woken by other flows, wait timeouts at a date-time expression."""

from __future__ import annotations

import datetime as dt

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.expr import Clock
from ordo.dsl.loader import load_app
from ordo.engine import open_app

from .allocation_apps import ENTITIES, rule

EXTRA = {
    "entities/order.yaml": ENTITIES["entities/order.yaml"].replace(
        "status: {type: enum, options: [open, cancelled, done], default: open}",
        """status: {type: enum, options: [open, reserved, sent, cancelled, done, expired], default: open}
          deadline: {type: datetime}
          grants: {type: related, entity: allocation, where: "order == parent.id"}
          parcels: {type: related, entity: parcel, where: "order == parent.id"}""").replace(
        "qty: {type: integer, required: true, min: 1}",
        "qty: {type: integer, required: true, min: 1}\n          sent: {type: integer, default: 0}"),
    "entities/parcel.yaml": """
        name: parcel
        fields:
          order: {type: link, entity: order, required: true}
          site: {type: link, entity: site, required: true}
          state: {type: enum, options: [packing, sent, void], default: packing}
          note: {type: string}
          items: {type: table, entity: parcel_item}
        ---
        name: parcel_item
        child: true
        fields:
          product: {type: link, entity: product, required: true}
          qty: {type: integer, required: true}
          grant: {type: integer}
    """,
    "flows/order.yaml": """
        name: order_flow
        entity: order
        trigger: {on: create}
        nodes:
          reserve:
            type: action
            allocate: fulfil
            set: {status: "'reserved'"}
            next: pack
          pack:
            type: action
            create:
              entity: parcel
              for_each: grants
              where: "row.status == 'reserved'"
              group_by: "row.site"
              values: {order: "id", site: "row.site", note: "'for ' + name"}
              rows: {field: items, values: {product: "row.product", qty: "row.qty", grant: "row.id"}}
            next: sent_or_cancelled
          sent_or_cancelled:
            type: wait
            until: "status == 'cancelled' or (count(parcels) > 0 and all(parcels, state != 'packing'))"
            timeout: {at: "deadline", to: expire}
            next: route
          route:
            type: condition
            branches: [{when: "status == 'cancelled' or count(grants, status == 'backorder') > 0", to: give_back}]
            default: finish
          expire:
            type: action
            set: {status: "'expired'"}
            allocate: {rule: fulfil, mode: release}
            update: {entity: parcel, where: "order == record.id", set: {state: "'void'", note: "'expired ' + record.name"}}
            next: expired
          give_back:
            type: action
            allocate: {rule: fulfil, mode: release}
            update: {entity: parcel, where: "order == record.id and state == 'packing'", set: {state: "'void'"}}
            next: cancelled
          finish:
            type: action
            set: {status: "'done'"}
            update: {entity: order, where: "id == record.id", rows: {table: lines, where: "sent == 0", set: {sent: "qty"}}}
            next: done
          done: {type: end}
          cancelled: {type: end}
          expired: {type: end}
    """,
    "flows/parcel.yaml": """
        name: parcel_flow
        entity: parcel
        trigger: {on: update, when: "state == 'sent'"}
        nodes:
          use_up:
            type: action
            allocate: {rule: fulfil, mode: consume, demand: "order", where: "site == record.site and order == record.order"}
            update:
              entity: order
              where: "id == record.order"
              set: {status: "if(status == 'reserved', 'sent', status)"}
            next: done
          done: {type: end}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app({**ENTITIES, **EXTRA, "rules/fulfil.yaml": rule(rank="\n          - site.priority\n")}),
                 db_url, clock=Clock(dt.datetime(2026, 3, 2, 10, 0)))
    for code, prio in (("A", 1), ("B", 2)):
        a.create("site", {"code": code, "priority": prio}, "admin")
    for p in ("P1", "P2", "P3"):
        a.create("product", {"code": p}, "admin")
    for site, product, qty in (("A", "P1", 10), ("A", "P2", 10), ("B", "P3", 10), ("B", "P1", 1)):
        a.create("stock", {"site": site, "product": product, "on_hand": qty}, "admin")
    yield a
    a.close()


def _stock(app):
    return {(app.get("site", s["site"], "admin")["code"], app.get("product", s["product"], "admin")["code"]):
            (s["on_hand"], s["reserved"]) for s in app.query("stock", user="admin")}


def _order(app, deadline=None):
    return app.create("order", {"deadline": deadline, "lines": [
        {"product": "P1", "qty": 2}, {"product": "P2", "qty": 1}, {"product": "P3", "qty": 4}]}, "alice")


def test_one_record_per_group_with_child_rows_then_consume_per_group(app):
    order = _order(app)
    parcels = [app.get("parcel", p["id"], "admin") for p in app.query("parcel", order_by="id", user="admin")]
    assert [(app.get("site", p["site"], "admin")["code"], p["note"]) for p in parcels] == [
        ("A", f"for {order['name']}"), ("B", f"for {order['name']}")]
    assert [(app.get("product", i["product"], "admin")["code"], i["qty"]) for i in parcels[0]["items"]] == [
        ("P1", 2), ("P2", 1)]
    assert [i["qty"] for i in parcels[1]["items"]] == [4]
    assert _stock(app)[("A", "P1")] == (10, 2)
    app.update("parcel", parcels[0]["id"], {"state": "sent"}, "bob")  # consumes only site A's grants
    stock = _stock(app)
    assert stock[("A", "P1")] == (8, 0) and stock[("A", "P2")] == (9, 0) and stock[("B", "P3")] == (10, 4)
    assert app.get("order", order["id"], "admin")["status"] == "sent"  # updated by the parcel flow
    app.update("parcel", parcels[1]["id"], {"state": "sent"}, "bob")
    assert _stock(app)[("B", "P3")] == (6, 0)
    # the parcel flow changed the order: the order flow's wait looked again and the order is done
    done = app.get("order", order["id"], "admin")
    assert done["status"] == "done" and [ln["sent"] for ln in done["lines"]] == [2, 1, 4]
    statuses = sorted(g["status"] for g in app.query("allocation", user="admin"))
    assert statuses == ["consumed"] * 3


def test_cancel_releases_and_updates_matching_records_only(app):
    order = _order(app)
    other = app.create("order", {"lines": [{"product": "P2", "qty": 1}]}, "alice")
    app.update("order", order["id"], {"status": "cancelled"}, "alice")
    stock = _stock(app)
    assert stock[("A", "P1")] == (10, 0) and stock[("B", "P3")] == (10, 0) and stock[("A", "P2")] == (10, 1)
    states = {p["order"]: p["state"] for p in app.query("parcel", user="admin")}
    assert states == {order["id"]: "void", other["id"]: "packing"}
    with app.reader("admin") as tx:
        assert app.features["flows"].status(tx, "order", order["id"]).outcome == "cancelled"


def test_wait_timeout_at_a_date_time_field(app):
    order = _order(app, deadline=dt.datetime(2026, 3, 2, 12, 0))
    assert app.jobs.run_due("w", now=dt.datetime(2026, 3, 2, 11, 59)) == 0
    app.jobs.run_due("w", now=dt.datetime(2026, 3, 2, 12, 1))
    rec = app.get("order", order["id"], "admin")
    assert rec["status"] == "expired"
    assert {p["note"] for p in app.query("parcel", user="admin")} == {f"expired {order['name']}"}
    assert _stock(app)[("A", "P1")] == (10, 0)


def test_definition_errors_of_effects(make_app):
    bad = dict(EXTRA)
    bad["flows/order.yaml"] = EXTRA["flows/order.yaml"].replace("for_each: grants", "for_each: lines2").replace(
        'where: "order == record.id", set: {state: "\'void\'"', 'where: "order == record.idd", set: {stat: "1"')
    bad["flows/parcel.yaml"] = EXTRA["flows/parcel.yaml"].replace('demand: "order", ', "").replace(
        "mode: consume", "mode: release")
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app({**ENTITIES, **bad, "rules/fulfil.yaml": rule()}))
    text = str(e.value)
    assert "for_each needs a table or related field of order, not 'lines2'" in text
    assert "unknown field 'idd' in order" in text
    assert "unknown field 'stat' in parcel" in text
    assert "allocates order records, not parcel" in text
    assert "'where' applies to mode 'consume'" in text


def test_simulate_describes_effects_without_a_database(app):
    steps = app.features["flows"].simulate("order_flow", {"status": "open"})
    text = "\n".join(s.text for s in steps)
    assert "creates a parcel per row.site of grants" in text
    assert "runs allocation fulfil (allocate)" in text


def test_simulate_treats_related_aggregates_as_unknown(app):
    steps = app.features["flows"].simulate("order_flow", {"status": "open"})  # count(grants) is unknown: null
    assert [s.node for s in steps if s.type == "end"] == ["done"]
    steps = app.features["flows"].simulate("parcel_flow", {"state": "sent"})
    assert "changes the order records where id == record.order" in steps[0].text


OLD_FILTER = "order == record.id and state == 'packing'"


def test_an_old_flow_version_and_its_filters_statements_are_not_kept(make_app, db_url, monkeypatch):
    """An instance started before a publish runs on its own (older) graph; the server's runtime keeps only
    the last few such graphs, and a flow effect's filter statement goes with its graph (nothing grows with
    each publish)."""
    import gc
    import weakref

    from ordo.engine.flows import runtime as flow_runtime

    rules = {"rules/fulfil.yaml": rule(rank="\n          - site.priority\n")}
    old = open_app(make_app({**ENTITIES, **EXTRA, **rules}), db_url, clock=Clock(dt.datetime(2026, 3, 2, 10, 0)))
    try:
        for code, prio in (("A", 1), ("B", 2)):
            old.create("site", {"code": code, "priority": prio}, "admin")
        for p in ("P1", "P2", "P3"):
            old.create("product", {"code": p}, "admin")
        old.create("stock", {"site": "A", "product": "P1", "on_hand": 10}, "admin")
        order = old.create("order", {"lines": [{"product": "P1", "qty": 2}]}, "alice")  # waits, on version 1
    finally:
        old.close()
    newer = dict(EXTRA)
    newer["flows/order.yaml"] = EXTRA["flows/order.yaml"].replace(  # another filter, another note
        f'where: "{OLD_FILTER}", set: {{state: "\'void\'"}}',
        'where: "state == \'packing\' and order == record.id", set: {state: "\'void\'", note: "\'v2\'"}')
    assert newer["flows/order.yaml"] != EXTRA["flows/order.yaml"]
    compiled = []
    real = flow_runtime.compile_flow

    def spy(definition, defn):
        flow = real(definition, defn)
        compiled.append(weakref.ref(flow))
        return flow

    monkeypatch.setattr(flow_runtime, "compile_flow", spy)
    monkeypatch.setattr(flow_runtime, "MAX_OLD_VERSIONS", 0)
    app = open_app(make_app({**ENTITIES, **newer, **rules}), db_url, clock=Clock(dt.datetime(2026, 3, 2, 10, 0)))
    try:
        rt = app.features["flows"]
        current = len(compiled)
        app.update("order", order["id"], {"status": "cancelled"}, "alice")  # give_back of version 1 runs
        parcels = app.query("parcel", user="admin")
        assert parcels and {p["state"] for p in parcels} == {"void"} and {p["note"] for p in parcels} != {"v2"}
        assert len(compiled) == current + 1  # version 1 compiled again for the instance
        gc.collect()
        assert compiled[-1]() is None  # not kept (MAX_OLD_VERSIONS 0)
        assert len(rt.matching) == 1  # the filter of version 1
        memo = app.definition.schema.compiled  # compiled expressions, shared by versions (least used dropped)
        for key in [k for k in memo if k[0] == OLD_FILTER]:
            del memo[key]
        gc.collect()
        assert rt.matching == {}  # its filter's statement went with it
        with app.reader("admin") as tx:
            assert rt.status(tx, "order", order["id"]).outcome == "cancelled"
    finally:
        app.close()
