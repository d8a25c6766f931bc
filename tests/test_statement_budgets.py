"""Statement budgets of the record store's operations (SQLite and PostgreSQL): exact counts, so the write path
cannot silently regress. Transaction control (SQLite's BEGIN) is not counted: the budgets are the work.

Where each statement goes (create of an order with 3 lines and 2 links): the two link values looked up, the
name's counter, the order row (RETURNING it as stored), the 3 lines (one multi-row INSERT RETURNING them) and
the audit row (written with the transaction's other audit rows in one executemany at commit)."""

from __future__ import annotations

import datetime as dt

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import ValidationFailed, open_app
from ordo.engine.actor import User
from ordo.engine.stats import count_statements

APP = {
    "entities/customer.yaml": """
        name: customer
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          credit_limit: {type: money, default: 1000}
    """,
    "entities/warehouse.yaml": """
        name: warehouse
        naming: "{code}"
        fields:
          code: {type: string, required: true}
    """,
    "entities/order.yaml": """
        name: order
        naming: "SO-{#####}"
        fields:
          customer: {type: link, entity: customer, required: true}
          warehouse: {type: link, entity: warehouse, required: true}
          status: {type: enum, options: [new, paid], default: new}
          lines: {type: table, entity: line, required: true}
          total: {type: computed, expr: "sum(lines, amount)"}
        validations:
          - expr: "total <= customer.credit_limit"
            message: over the credit limit
        ---
        name: line
        child: true
        fields:
          sku: {type: string, required: true}
          qty: {type: integer, required: true, min: 1}
          price: {type: money, required: true}
          amount: {type: computed, expr: "qty * price"}
    """,
}
ADMIN = User("admin", ("admin",), True, {})
ORDER = {"customer": "C1", "warehouse": "W1",
         "lines": [{"sku": f"S{i}", "qty": 1 + i, "price": "10.50"} for i in range(3)]}


@pytest.fixture
def app(make_app, db_url):
    app = open_app(make_app(APP), db_url, clock=Clock(dt.datetime(2026, 3, 1, 9)))
    app.create("customer", {"code": "C1"}, ADMIN)
    app.create("warehouse", {"code": "W1"}, ADMIN)
    app.create("order", ORDER, ADMIN)  # the name's series exists (PostgreSQL: its sequence)
    yield app
    app.close()


def work(counts) -> int:
    return sum(1 for text in counts.texts if not text.lstrip().upper().startswith("BEGIN"))


def test_create_with_three_lines_and_two_links_costs_six_statements(app):
    with count_statements(app.engine) as counts, app.transaction(ADMIN) as tx:
        order = tx.create("order", ORDER)
    assert work(counts) == 6, counts.texts
    assert counts.commits == 1
    assert counts.by_kind().get("SAVEPOINT") is None
    # what the writer gets back is what is stored
    assert order == app.get("order", order["id"], ADMIN)
    assert [line["amount"] for line in order["lines"]] == [10.5, 21, 31.5]


def test_get_update_delete_budgets(app):
    order = app.create("order", ORDER, ADMIN)
    with count_statements(app.engine) as counts:
        app.get("order", order["name"], ADMIN)
    assert work(counts) == 2  # the row, its lines
    with count_statements(app.engine) as counts, app.transaction(ADMIN) as tx:
        tx.update("order", order["id"], {"status": "paid"})
    # the row and its lines (for update), the customer its rule reads, the UPDATE (RETURNING), the audit row;
    # the links did not change: not looked up
    assert work(counts) == 5, counts.texts
    update = next(t for t in counts.texts if t.lstrip().upper().startswith("UPDATE"))
    set_clause = update.upper().split(" SET ")[1].split(" WHERE ")[0]
    assert "STATUS" in set_clause and "CUSTOMER" not in set_clause and "TOTAL" not in set_clause, update
    assert app.get("order", order["id"], ADMIN)["status"] == "paid"  # only the changed field is set
    with count_statements(app.engine) as counts, app.transaction(ADMIN) as tx:
        tx.delete("order", order["id"])
    assert work(counts) == 5, counts.texts  # the row and lines, DELETE lines, DELETE row, audit


def test_one_unit_of_work_reads_nothing_twice(app):
    """Records written or read in the transaction are not read again; the links are looked up once;
    the audit rows of every write go in one statement."""
    with count_statements(app.engine) as counts, app.transaction(ADMIN) as tx:
        first = tx.create("order", ORDER)
        second = tx.create("order", ORDER)
        tx.update("order", first["id"], {"status": "paid"})
        tx.update("order", second["id"], {"lines": [*second["lines"], {"sku": "S9", "qty": 1, "price": 1}]})
        again = tx.get("order", first["id"])
    # 2 link lookups + per create (name, row, lines) + per update (row) + new line + one audit executemany
    assert work(counts) == 2 + 2 * 3 + 2 + 1 + 1, counts.texts
    assert again["status"] == "paid" and again["version"] == 2
    log = app.audit_log(user=ADMIN, entity="order", limit=10)
    assert [e.action for e in log[:4]] == ["update", "update", "create", "create"]
    assert log[0].changes["lines"][1][-1]["sku"] == "S9"


def test_rolled_back_savepoint_drops_its_audit_rows_and_what_it_wrote(app):
    with app.transaction(ADMIN) as tx:
        kept = tx.create("order", ORDER)
        with pytest.raises(ValidationFailed):
            with tx.conn.begin_nested():
                tx.update("order", kept["id"], {"status": "paid"})
                tx.create("order", {**ORDER, "customer": "nobody"})
        # the update inside the savepoint is gone, in the database and in the unit of work
        assert tx.get("order", kept["id"])["status"] == "new"
        tx.update("order", kept["id"], {"status": "paid"})
    entries = app.audit_log(user=ADMIN, entity="order", record=kept["id"])
    assert [e.action for e in entries] == ["update", "create"]
    assert entries[0].changes == {"status": ["new", "paid"]}
    assert app.get("order", kept["id"], ADMIN)["version"] == 2


def test_a_stale_version_is_still_refused(app):
    from ordo.engine import Conflict

    order = app.create("order", ORDER, ADMIN)
    app.update("order", order["id"], {"status": "paid"}, ADMIN)
    with pytest.raises(Conflict):
        app.update("order", order["id"], {"status": "new"}, ADMIN, expected_version=1)


def test_the_write_path_does_not_import_the_app():
    """No import circle app <-> records <-> jobs <-> outbox: the store, its unit of work and plans, the job
    queue and the outbox depend on the protocols of engine/runtime.py, never on the App (not even for types);
    jobs and outbox do not import the store."""
    import ast
    from pathlib import Path

    import ordo.engine

    folder = Path(ordo.engine.__file__).parent
    never = {"records": {"app"}, "unit_of_work": {"app", "records"}, "write_plan": {"app", "records"},
             "child_rows": {"app", "records"}, "jobs": {"app", "records"}, "outbox": {"app", "records"},
             "audit": {"app"}, "naming": {"app", "records"}}
    for module, banned in never.items():
        tree = ast.parse((folder / f"{module}.py").read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ordo.engine."):
                imported.add(node.module.split(".")[2])
        assert not imported & banned, f"engine/{module}.py imports {sorted(imported & banned)}"


def test_a_failed_job_leaves_no_audit_rows(app):
    """The job's savepoint opens before anything is buffered: rolling it back drops the handler's audit rows."""
    def boom(tx, payload):
        tx.create("order", ORDER)
        raise RuntimeError("downstream unavailable")

    app.jobs.register("boom", boom)
    with app.transaction(ADMIN) as tx:
        tx.enqueue("boom", {}, max_attempts=1)
    before = len(app.audit_log(user=ADMIN, limit=1000))
    assert app.jobs.run_due() == 1
    assert len(app.audit_log(user=ADMIN, limit=1000)) == before
    assert app.count("order", user=ADMIN) == 1  # the fixture's


RELATED = {
    "entities/customer.yaml": """
        name: customer
        naming: "{code}"
        fields:
          code: {type: string, required: true}
          orders: {type: related, entity: order, where: "customer == parent.id"}
          open_total: {type: computed, expr: "sum(orders, amount)"}
          order_count: {type: computed, expr: "count(orders)"}
    """,
    "entities/order.yaml": """
        name: order
        fields:
          customer: {type: link, entity: customer, required: true}
          amount: {type: money, required: true}
        validations:
          - expr: "customer.order_count < 3"
            message: at most 3 orders per customer
    """,
}


def test_related_aggregates_are_computed_again_after_a_write_they_read(make_app, db_url):
    with open_app(make_app(RELATED), db_url) as app, app.transaction(ADMIN) as tx:
        tx.create("customer", {"code": "C1"})
        assert tx.update("customer", "C1", {})["open_total"] in (0, None)
        for amount in (10, 20, 30):
            tx.create("order", {"customer": "C1", "amount": amount})
            tx.update("customer", "C1", {})
        assert tx.get("customer", "C1")["open_total"] == 60
        with count_statements(app.engine) as counts:
            tx.update("customer", "C1", {})  # nothing it reads changed: no aggregate computed again
        assert not any("sum(" in t.lower() or "count(" in t.lower() for t in counts.texts), counts.texts
        # the rule reads the customer's computed count: three orders written in this transaction count
        with pytest.raises(ValidationFailed, match="at most 3"):
            with tx.conn.begin_nested():
                tx.create("order", {"customer": "C1", "amount": 1})


HISTORY = {
    "entities/policy.yaml": """
        name: policy
        fields:
          active: {type: boolean, default: true}
          max_total: {type: money}
          max_orders: {type: integer}
    """,
    "entities/order.yaml": """
        name: order
        fields:
          customer: {type: string, required: true}
          amount: {type: money, required: true}
          status: {type: enum, options: [new, done], default: new}
          policy: {type: related, entity: policy, where: "active"}
          history: {type: related, entity: order, where: "customer == parent.customer and id != parent.id"}
          earlier: {type: computed, expr: "count(history)"}
          earlier_total: {type: computed, expr: "sum(history, amount)"}
          too_big: {type: computed, expr: "amount > coalesce(max(policy, max_total), 100)"}
          too_many: {type: computed, expr: "count(history) >= coalesce(max(policy, max_orders), 5)"}
    """,
}


def test_aggregates_of_one_related_field_are_read_together_and_kept_across_the_owners_writes(make_app, db_url):
    """The aggregates over one related field are computed in one statement; those leaving their owner out
    (``id != parent.id``) are not computed again when the owner itself is written, but are when another record
    they read is."""
    with open_app(make_app(HISTORY), db_url) as app, app.transaction(ADMIN) as tx:
        tx.create("policy", {"max_total": 50, "max_orders": 2})
        first = tx.create("order", {"customer": "c", "amount": 10})
        second = tx.create("order", {"customer": "c", "amount": 60})
        assert (second["earlier"], second["earlier_total"], second["too_big"], second["too_many"]) == (1, 10, True,
                                                                                                      False)
        with count_statements(app.engine) as counts:
            rec = tx.update("order", second["id"], {"status": "done"})
            rec = tx.update("order", second["id"], {"amount": 70})
        assert (rec["earlier"], rec["earlier_total"], rec["too_big"]) == (1, 10, True)
        # the two UPDATEs: the history computed at its create (before it had an id) is the order's own
        assert work(counts) == 2, counts.texts
        with count_statements(app.engine) as counts:
            tx.update("order", first["id"], {"amount": 15})  # a row the second order's history reads
            rec = tx.update("order", second["id"], {})
        assert rec["earlier_total"] == 15
        aggregates = [t for t in counts.texts if "count(" in t.lower() or "sum(" in t.lower()]
        assert len(aggregates) == 2, aggregates  # one per owner: count and sum of the history together
    with app.transaction(ADMIN) as tx, count_statements(app.engine) as counts:
        tx.update("order", first["id"], {})
    assert sum(1 for t in counts.texts if "max(" in t.lower()) == 1, counts.texts  # both thresholds at once


def test_aggregates_still_kept_for_the_owner_are_not_computed_again_with_the_others(make_app, db_url):
    """When a record one aggregate of the group reads is written, only that aggregate is computed again for the
    owner (a statement of the group's stale part), the others are kept (the order's history here)."""
    app_files = dict(HISTORY)
    app_files["entities/note.yaml"] = """
        name: note
        fields:
          order: {type: link, entity: order}
          text: {type: string}
    """
    app_files["entities/order.yaml"] = HISTORY["entities/order.yaml"] + """
          notes: {type: related, entity: note, where: "order == parent.id"}
          noted: {type: computed, expr: "count(notes)"}
    """
    with open_app(make_app(app_files), db_url) as app, app.transaction(ADMIN) as tx:
        tx.create("order", {"customer": "c", "amount": 10})
        second = tx.create("order", {"customer": "c", "amount": 20})
        tx.create("note", {"order": second["id"], "text": "call first"})
        with count_statements(app.engine) as counts:
            rec = tx.update("order", second["id"], {"amount": 30})
        assert (rec["earlier"], rec["earlier_total"], rec["noted"]) == (1, 10, 1)
        aggregates = [t for t in counts.texts if "count(" in t.lower()]
        assert len(aggregates) == 1 and "note" in aggregates[0] and "sum(" not in aggregates[0].lower(), aggregates


def test_a_related_field_has_one_statement_whatever_its_aggregates_are_needed_in(make_app, db_url):
    """The aggregates over one related field are computed by one statement (all of them), built once more
    only when an aggregate joins the group: not one statement per subset of them not known yet (2^n)."""
    app_files = dict(HISTORY)
    app_files["entities/order.yaml"] = HISTORY["entities/order.yaml"] + """
          largest: {type: computed, expr: "max(history, amount)"}
          smallest: {type: computed, expr: "min(history, amount)"}
        validations:
          - expr: "count(history) < 50 and sum(history, amount) < 100000"
            message: too much history
    """
    with open_app(make_app(app_files), db_url) as app:
        with app.transaction(ADMIN) as tx:
            tx.create("policy", {"max_total": 50, "max_orders": 2})
            tx.create("order", {"customer": "c0", "amount": 1})  # every aggregate compiled (joins its group)
        groups = app.related_statements.groups
        builds = {k: g.builds for k, g in groups.items()}
        with count_statements(app.engine) as counts, app.transaction(ADMIN) as tx:
            made = [tx.create("order", {"customer": f"c{i % 3}", "amount": i}) for i in range(9)]
            for rec in made[::2]:
                tx.update("order", rec["id"], {"amount": rec["amount"] + 1})
            tx.update("order", made[1]["id"], {"status": "done"})
    assert {k: g.builds for k, g in groups.items()} == builds  # no statement built again
    history = {t for t in counts.texts if "min(" in t.lower()}
    assert len(history) == 1, history  # every aggregate over history in one statement text
    assert all("max(" in t.lower() and "sum(" in t.lower() and "count(" in t.lower() for t in history)
