"""Writes return what is committed after the flows they started, and entity rules have a scope:
``on``, ``when`` with ``changed('field')``, and automated writes (flows, jobs) are held only to the
rules that read a field they change."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.expr import Clock
from ordo.dsl.loader import load_app
from ordo.engine import jobs, open_app
from ordo.engine.cli import main
from ordo.engine.errors import OrdoError, ValidationFailed

T0 = dt.datetime(2026, 3, 16, 9, 0)

APP = {
    "entities/request.yaml": """
        name: request
        naming: "PR-{####}"
        fields:
          title: {type: string, required: true}
          amount: {type: money, default: 0}
          discount: {type: decimal, scale: 2, default: 0}
          needed_by: {type: date}
          status: {type: enum, options: [draft, pending, approved, rejected], default: draft}
          stage: {type: string}
          note: {type: string}
        validations:
          - expr: "needed_by == null or needed_by >= today()"
            message: "needed by must not be in the past"
            field: needed_by
            when: "changed('needed_by')"
          - expr: "discount <= 0.3"
            message: "at most 30% discount"
            field: discount
          - expr: "title != 'frozen'"
            message: "a frozen request cannot be created"
            on: [create]
          - expr: "note == null or len(note) < 20"
            message: "note too long"
            on: [update]
    """,
    "roles.yaml": """
        roles:
          manager: {users: [mia]}
          everyone:
            permissions: [{entity: request}]
    """,
    "flows/approve.yaml": """
        name: approve
        entity: request
        trigger: {on: create}
        state_field: stage
        nodes:
          route:
            type: condition
            branches: [{when: "amount <= 100", to: ok}]
            default: manager
          manager:
            type: approval
            approvers: [{role: manager}]
            timeout: {after: 2d, action: approve}
            next: ok
          ok:
            type: action
            set: {status: "'approved'", discount: "if(amount > 5000, 0.5, discount)"}
            next: done
          done: {type: end, outcome: approved}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url, clock=Clock(T0))
    yield a
    a.close()


def test_create_returns_the_record_as_committed_after_its_flows(app):
    rec = app.create("request", {"title": "pens", "amount": 50}, "alice")
    assert rec["status"] == "approved" and rec["stage"] == "approved"
    assert rec == app.get("request", rec["id"], "alice")
    # the README's pattern: update with the version create returned
    updated = app.update("request", rec["id"], {"note": "blue"}, "alice", expected_version=rec["version"])
    assert updated["version"] == rec["version"] + 1
    with app.transaction("alice") as tx:
        inside = tx.create("request", {"title": "ink", "amount": 10})
        assert inside == tx.get("request", inside["id"]) and inside["status"] == "approved"


def test_update_returns_the_record_as_committed_after_its_flows(make_app, db_url):
    files = {**APP, "flows/approve.yaml": APP["flows/approve.yaml"].replace(
        "trigger: {on: create}", "trigger: {on: update, when: \"status == 'pending'\"}")}
    with open_app(make_app(files), db_url, clock=Clock(T0)) as a:
        rec = a.create("request", {"title": "pens", "amount": 50}, "alice")
        assert rec["status"] == "draft" and rec["version"] == 1
        rec = a.update("request", rec["id"], {"status": "pending"}, "alice", expected_version=1)
        assert rec["status"] == "approved" and rec == a.get("request", rec["id"], "alice")
        a.update("request", rec["id"], {"note": "x"}, "alice", expected_version=rec["version"])


def test_cli_create_prints_the_committed_record(make_app, tmp_path, capsys):
    app_dir, db = str(make_app(APP)), str(tmp_path / "r.db")
    assert main(["create", app_dir, "request", json.dumps({"title": "pens", "amount": 50}), "--db", db,
                 "--create"]) == 0
    printed = json.loads(capsys.readouterr().out)
    # created (version 1), then one update by the flow run: its action's set and the state it rests in
    assert printed["status"] == "approved" and printed["version"] == 2


def test_flow_timer_approves_after_the_needed_by_date_has_passed(app):
    rec = app.create("request", {"title": "desk", "amount": 900, "needed_by": "2026-03-17"}, "alice")
    assert rec["status"] == "draft" and rec["stage"] == "manager"
    app.clock.fixed = T0 + dt.timedelta(days=3)  # needed_by is now in the past
    assert app.jobs.run_due("w1", now=app.clock.fixed) == 1
    assert app.get("request", rec["id"], "alice")["status"] == "approved"
    with app.engine.connect() as conn:
        assert [j.status for j in jobs.list_jobs(conn)] == ["done"]
    # a person changing the date must still give a date that is not past; other edits pass
    with pytest.raises(ValidationFailed, match="needed by must not be in the past"):
        app.update("request", rec["id"], {"needed_by": "2026-03-18"}, "alice")
    app.update("request", rec["id"], {"note": "urgent"}, "alice")


def test_automated_writes_still_satisfy_the_rules_over_fields_they_change(app):
    rec = app.create("request", {"title": "car", "amount": 9000}, "alice")
    flows = app.features["flows"]
    with app.transaction("mia") as tx:
        task = flows.inbox(tx)[0].id
    with pytest.raises(ValidationFailed, match="at most 30% discount"), app.transaction("mia") as tx:
        flows.approve(tx, task)  # the flow then sets discount 0.5: refused, and the approval with it
    after = app.get("request", rec["id"], "alice")
    assert after["status"] == "draft" and after["version"] == rec["version"]


def test_on_create_and_on_update_scopes(app):
    with pytest.raises(ValidationFailed, match="cannot be created"):
        app.create("request", {"title": "frozen", "amount": 1}, "alice")
    long_note = "a note longer than twenty characters"
    rec = app.create("request", {"title": "ok", "amount": 1, "note": long_note}, "alice")  # update-only rule
    assert rec["status"] == "approved"  # the flow's update did not touch the note: not held to its rule
    with pytest.raises(ValidationFailed, match="note too long"):
        app.update("request", rec["id"], {"title": "again"}, "alice")  # a person's update: every update rule
    app.update("request", rec["id"], {"title": "frozen", "note": "short"}, "alice")  # create-only rule skipped
    with pytest.raises(ValidationFailed, match="needed by must not be in the past"):
        app.create("request", {"title": "late", "amount": 1, "needed_by": "2026-03-01"}, "alice")


def test_changed_is_checked_at_load_time(make_app):
    bad = APP["entities/request.yaml"].replace("when: \"changed('needed_by')\"", "when: \"changed('neded_by')\"")
    bad = bad.replace('expr: "discount <= 0.3"', 'expr: "changed(\'discount\') and discount <= 0.3"')
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app({**APP, "entities/request.yaml": bad}))
    text = str(e.value)
    assert re.search(r"request\.yaml:15:\d+: entity\.request\.validations\[0\]\.when: unknown field 'neded_by' in "
                     r"request \(did you mean 'needed_by'\?\)", text)
    assert re.search(r"request\.yaml:16:\d+: entity\.request\.validations\[1\]\.expr: changed\(\) can only be used "
                     r"where a write is checked", text)


INVOICING = {
    "entities/customer.yaml": """
        name: customer
        naming: "{code}"
        title_field: title
        fields:
          code: {type: string, required: true, unique: true}
          title: {type: string}
          manager: {type: string}
    """,
    "entities/invoice.yaml": """
        name: invoice
        naming: "INV-{####}"
        fields:
          customer: {type: link, entity: customer}
          issued: {type: date, default: "=today()"}
          lines: {type: table, entity: invoice_line}
          total: {type: computed, expr: "sum(lines, amount)"}
          size: {type: string}
          due: {type: date}
          reviewed_by: {type: link, entity: customer}
        ---
        name: invoice_line
        child: true
        fields:
          qty: {type: integer, required: true}
          price: {type: money, required: true}
          amount: {type: computed, expr: "qty * price"}
    """,
    "roles.yaml": """
        roles:
          finance: {users: [fay]}
          admin: {users: [admin]}
    """,
    "flows/invoice.yaml": """
        name: invoice_flow
        entity: invoice
        nodes:
          route:
            type: condition
            branches: [{when: "total > 1000", to: big}]
            default: small
          big:
            type: approval
            approvers: [{field: customer}, {field: customer.manager}, {role: finance}]
            next: mark
          small: {type: end, outcome: small}
          mark:
            type: action
            set: {size: "'big'", due: "issued + 30", reviewed_by: "customer"}
            create: {entity: invoice, values: {customer: "customer"}}
            next: check
          check:                      # sees what the action set, as at run time
            type: condition
            branches: [{when: "size == 'big' and due > issued", to: done}]
            default: small
          done: {type: end, outcome: big}
    """,
}


def test_simulate_computes_fields_like_a_create(make_app, db_url):
    with open_app(make_app(INVOICING), db_url, clock=Clock(T0)) as a:
        a.create("customer", {"code": "C1", "title": "Acme", "manager": "mike"}, "admin")
        flows = a.features["flows"]
        steps = flows.simulate("invoice_flow", {"customer": "C1", "lines": [{"qty": 10, "price": 500}]})
        assert [s.node for s in steps] == ["route", "big", "mark", "check", "done"]
        assert steps[1].asks == ["C1", "mike", "fay"]  # a link field names the linked record; roles expanded
        assert steps[2].text == ("sets size = big, due = 2026-04-15, reviewed_by = C1 (Acme); "
                                 "creates an invoice")
        real = a.create("invoice", {"customer": "C1", "lines": [{"qty": 10, "price": 500}]}, "admin")
        with a.transaction("admin") as tx:
            flows.start(tx, "invoice_flow", real["id"])
            assert flows.status(tx, "invoice", real["id"]).current == ["big"]
        small = flows.simulate("invoice_flow", {"customer": "C1", "lines": [{"qty": 1, "price": 5}]})
        assert [s.node for s in small] == ["route", "small"]
        with pytest.raises(OrdoError, match="no customer 'C9'"):
            flows.simulate("invoice_flow", {"customer": "C9"})
        assert a.count("invoice", user="admin") == 1  # nothing written


def test_cli_simulate_without_a_database_prints_readable_values(make_app, tmp_path, capsys):
    app_dir = str(make_app(INVOICING))
    rec = tmp_path / "r.json"
    rec.write_text(json.dumps({"customer": {"name": "C1", "manager": "mike"}, "issued": "2026-03-01",
                               "lines": [{"qty": 10, "price": "500"}]}))
    db = tmp_path / "none.db"
    assert main(["flow", "simulate", app_dir, "invoice_flow", "--record", str(rec), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert " 2. big (approval): asks C1, mike, role:finance (mode any); assumed approved" in out
    assert "sets size = big, due = 2026-03-31, reviewed_by = C1; creates an invoice" in out
    assert "check (condition): goes to done" in out
    assert "datetime" not in out and "#" not in out and not db.exists()
    rec.write_text(json.dumps({"customer": "C1", "lines": [{"qty": 1, "price": 5}]}))
    assert main(["flow", "simulate", app_dir, "invoice_flow", "--record", str(rec), "--db", str(db)]) == 0
    assert "route (condition): goes to small" in capsys.readouterr().out


def test_simulate_an_oms_order_below_the_price_floor_goes_to_review(db_url):
    from .oms_kit import open_oms

    app = open_oms(db_url)
    try:
        order = {"channel": "TMALL", "external_order_id": "SIM-1", "customer": "C1", "order_date": "2026-03-16T09:00",
                 "ship_region": "east", "ship_to_name": "Buyer", "phone": "13900000000", "ship_province": "Shanghai",
                 "ship_city": "Shanghai", "ship_address": "1 Road", "payment_status": "paid", "paid_amount": "40",
                 "lines": [{"product": "P1", "quantity": 1, "unit_price": "40.00"}]}  # P1's floor is 50
        steps = app.features["flows"].simulate("order_lifecycle", order)
        nodes = [s.node for s in steps]
        assert "hold" in nodes and "auto_approve" not in nodes
        assert "sets risk_reasons = price_below_floor, risk_level = low" in steps[nodes.index("screen")].text
        order["lines"][0]["unit_price"] = "100.00"
        nodes = [s.node for s in app.features["flows"].simulate("order_lifecycle", order)]
        assert "auto_approve" in nodes and "hold" not in nodes
        assert app.count("sales_order", user="admin") == 0
    finally:
        app.close()
