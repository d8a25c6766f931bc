"""A create's INSERT held back while its listeners run (engine/held_inserts.py): in a SQLite write transaction
that knows the table's next id, a flow's UPDATE of the record it started on goes into the INSERT (one statement
saved per create), and everything else stays as it was: the record and its rows as stored, two versions, a
`create` and an `update` audit entry, readers and rows linking to it see it, an INSERT from elsewhere, a
savepoint rolled back or a refused write leave no wrong id nor a row behind."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.errors import ValidationFailed
from ordo.engine.stats import count_statements

T0 = dt.datetime(2026, 3, 16, 9, 0)

FILES = {
    "entities/claim.yaml": """
        name: claim
        naming: "CL-{####}"
        fields:
          amount: {type: money}
          risk: {type: enum, options: [low, high]}
          status: {type: enum, options: [new, approved], default: new}
          stage: {type: string}
          checked_at: {type: datetime}
          items: {type: table, entity: claim_item}
        validations:
          - expr: "status != 'approved' or risk == 'low'"
            message: "only low risk claims are approved"
            field: status
    """,
    "entities/claim_item.yaml": """
        name: claim_item
        child: true
        fields:
          label: {type: string}
          qty: {type: integer}
    """,
    "entities/note.yaml": """
        name: note
        fields:
          claim: {type: link, entity: claim}
          text: {type: string}
    """,
    "entities/ticket.yaml": """
        name: ticket
        fields:
          amount: {type: integer}
          big: {type: computed, expr: "amount > 1000"}
          stage: {type: string}
    """,
    "flows/ticket.yaml": """
        name: ticket_flow
        entity: ticket
        trigger: {on: create}
        state_field: stage
        nodes:
          route:
            type: condition
            branches: [{when: "id > 0 and big", to: large}]  # (the id: not known before the insert)
            default: small
          large: {type: wait, until: "false", next: done}
          small: {type: wait, until: "false", next: done}
          done: {type: end, outcome: done}
    """,
    "roles.yaml": """
        roles:
          everyone:
            permissions: [{entity: claim}, {entity: note}, {entity: ticket}]
    """,
    "flows/claim.yaml": """
        name: claim_flow
        entity: claim
        trigger: {on: create}
        state_field: stage
        nodes:
          screen:
            type: action
            set: {risk: "if(amount > 1000, 'high', 'low')", status: "'approved'", checked_at: "now()"}
            next: wait_here
          wait_here: {type: wait, until: "false", next: done}
          done: {type: end, outcome: done}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(FILES), db_url, clock=Clock(T0))
    yield a
    a.close()


def _claim(i: int, amount: int = 50) -> dict:
    return {"amount": amount, "items": [{"label": f"a{i}", "qty": i}, {"label": f"b{i}", "qty": i + 1}]}


def _stored(app) -> list[dict]:
    with app.reader("admin") as tx:
        return [tx.get("claim", r["id"]) for r in tx.query("claim", order_by="id")]


def test_a_flows_update_goes_into_the_insert_of_each_create_but_the_first(app):
    with count_statements(app.engine) as counts, app.transaction("alice") as tx:
        made = [tx.create("claim", _claim(i)) for i in range(5)]
    updates = [t for t in counts.texts if t.startswith("UPDATE claim")]
    inserts = [t for t in counts.texts if t.startswith("INSERT INTO claim ")]
    assert len(inserts) == 5
    # the first create: on SQLite it learns the next id; on PostgreSQL (ids from the sequence) the flow's version
    # is registered in a savepoint, which writes what is held first
    assert len(updates) == 1
    assert [r["id"] for r in made] == sorted({r["id"] for r in made})
    stored = _stored(app)
    assert stored == made  # what each create returned is what was stored, rows and ids included
    for rec in stored:
        assert (rec["risk"], rec["status"], rec["stage"], rec["version"]) == ("low", "approved", "wait_here", 2)
        assert [r["label"] for r in rec["items"]] == [f"a{rec['items'][0]['qty']}", f"b{rec['items'][0]['qty']}"]
        log = app.audit_log(user="admin", entity="claim", record=rec["id"])
        assert sorted(e.action for e in log) == ["create", "update"]


def test_sqlite_holds_the_first_create_of_a_transaction_once_the_process_saw_it_rewritten(app):
    """A later transaction's first create holds its INSERT too on SQLite (its ids read in one statement, from
    the tables' AUTOINCREMENT entries): the id of the newest record, deleted, is not given again."""
    with app.transaction("alice") as tx:
        tx.create("claim", _claim(1))
        newest = tx.create("claim", _claim(2))
    app.delete("claim", newest["id"], "admin")
    with count_statements(app.engine) as counts, app.transaction("alice") as tx:
        made = tx.create("claim", _claim(3))
    updates = [t for t in counts.texts if t.startswith("UPDATE claim")]
    assert len(updates) == (0 if app.engine.dialect.name == "sqlite" else 1)
    assert made["id"] > newest["id"] and made["items"][0]["id"] > newest["items"][-1]["id"]
    assert _stored(app)[-1] == made
    log = app.audit_log(user="admin", entity="claim", record=made["id"])
    assert sorted(e.action for e in log) == ["create", "update"]


def test_an_insert_from_elsewhere_between_creates_takes_no_id_of_theirs(app):
    with app.transaction("alice") as tx:
        first = tx.create("claim", _claim(1))
        tx.conn.execute(sa.text("INSERT INTO claim (name, created_at, created_by, updated_at, updated_by, version) "
                                "VALUES ('raw', :t, 'x', :t, 'x', 1)"), {"t": T0})
        tx.forget("claim")
        second = tx.create("claim", _claim(2))
    stored = _stored(app)
    assert sorted(r["name"] for r in stored) == sorted([first["name"], "raw", second["name"]])
    assert [r for r in stored if r["name"] != "raw"] == [first, second]
    if app.engine.dialect.name == "sqlite":  # (PostgreSQL: ids from blocks of the sequence, taken ahead)
        assert [r["name"] for r in stored] == [first["name"], "raw", second["name"]]


def test_a_savepoint_rolled_back_forgets_the_ids_it_took(app):
    with app.transaction("alice") as tx:
        tx.create("claim", _claim(1))
        sp = tx.conn.begin_nested()
        tx.create("claim", _claim(2))
        tx.create("claim", _claim(3))
        sp.rollback()
        last = tx.create("claim", _claim(4))
    stored = _stored(app)
    assert [r["items"][0]["qty"] for r in stored] == [1, 4]
    assert stored[-1] == last


def test_a_refused_flow_write_leaves_no_row(app):
    with app.transaction("alice") as tx:
        tx.create("claim", _claim(1))
        sp = tx.conn.begin_nested()
        with pytest.raises(ValidationFailed, match="only low risk"):
            tx.create("claim", _claim(2, amount=5000))
        sp.rollback()
        tx.create("claim", _claim(3))
    assert [r["items"][0]["qty"] for r in _stored(app)] == [1, 3]


def test_readers_and_links_in_a_listener_see_the_held_record(app):
    seen = []

    def listener(tx, event):
        if event.entity == "claim" and event.action == "create":
            seen.append(tx.conn.execute(sa.text("SELECT count(*) FROM claim")).scalar())
            tx.create("note", {"claim": event.after["id"], "text": "hello"})  # a row linking to it

    app.on_write(listener)
    with app.transaction("alice") as tx:
        made = [tx.create("claim", _claim(i)) for i in range(3)]
    assert seen == [1, 2, 3]
    assert _stored(app) == [{**r, "version": r["version"]} for r in made]
    with app.reader("admin") as tx:
        assert sorted(n["claim"] for n in tx.query("note")) == [r["id"] for r in made]


def test_the_state_mirror_goes_into_the_insert_too(app):
    with count_statements(app.engine) as counts, app.transaction("alice") as tx:
        made = [tx.create("ticket", {"amount": a}) for a in (5, 5000, 7, 9000)]
    updates = [t for t in counts.texts if t.startswith("UPDATE ticket")]
    assert len(updates) == 1  # the first create's (see above)
    assert [(r["stage"], r["version"]) for r in made] == [("small", 2), ("large", 2), ("small", 2), ("large", 2)]
    with app.reader("admin") as tx:
        assert [tx.get("ticket", r["id"]) for r in made] == made
    for rec in made:
        log = app.audit_log(user="admin", entity="ticket", record=rec["id"])
        assert sorted(e.action for e in log) == ["create", "update"]


def test_a_constraint_the_validation_did_not_foresee_is_a_refused_create(app):
    with app.transaction("admin") as tx:  # a unique index the definition does not know of
        tx.conn.execute(sa.text("CREATE UNIQUE INDEX ux_test_claim_amount ON claim (amount)"))
    with app.transaction("alice") as tx:
        tx.create("claim", _claim(1, amount=10))
        sp = tx.conn.begin_nested()
        with pytest.raises(ValidationFailed, match="same unique value"):
            tx.create("claim", _claim(2, amount=10))  # held (SQLite): refused when its INSERT is written
        sp.rollback()
        tx.create("claim", _claim(3, amount=30))
    assert [r["items"][0]["qty"] for r in _stored(app)] == [1, 3]


NESTED = {
    "entities/part.yaml": """
        name: part
        naming: "P-{####}"
        fields:
          amount: {type: integer}
          parent: {type: link, entity: part}
          checked: {type: boolean}
          stage: {type: string}
    """,
    "roles.yaml": """
        roles:
          everyone:
            permissions: [{entity: part}]
    """,
    "flows/part.yaml": """
        name: part_flow
        entity: part
        trigger: {on: create, from_flows: true}
        state_field: stage
        nodes:
          route:
            type: condition
            branches: [{when: "parent == null", to: split}]
            default: check
          split:
            type: action
            create: {entity: part, values: {parent: "id", amount: "amount + 1"}}
            set: {checked: "true"}
            next: done
          check: {type: action, set: {checked: "amount > 0"}, next: done}
          done: {type: end, outcome: done}
    """,
}


def test_a_flow_creating_a_record_of_its_own_entity_while_its_create_is_held(make_app, db_url, monkeypatch):
    """A held create whose listener creates another record of the same entity (held in turn, linking to it, its
    own flow started from the flow): every record and link as without holding, ids unique."""
    from ordo.engine import held_inserts, records

    held = []
    hold = held_inserts.hold
    monkeypatch.setattr(records.inserts, "hold", lambda *a: held.append(hold(*a)) or held[-1])
    with open_app(make_app(NESTED), db_url, clock=Clock(T0)) as app:
        with app.transaction("alice") as tx:
            made = [tx.create("part", {"amount": 10 * i}) for i in range(1, 5)]
        with app.reader("admin") as tx:
            parts = tx.query("part", order_by="id")
        assert len(parts) == 8 and len({p["id"] for p in parts}) == 8
        tops = [p for p in parts if p["parent"] is None]
        children = {p["parent"]: p for p in parts if p["parent"] is not None}
        assert [p["id"] for p in tops] == [m["id"] for m in made]
        for top in tops:  # the first create inserted at once, the others were held: all alike
            child = children[top["id"]]
            assert (top["checked"], top["stage"], top["version"]) == (True, "done", tops[0]["version"])
            assert (child["amount"], child["checked"], child["stage"]) == (top["amount"] + 1, True, "done")
            assert child["version"] == children[tops[0]["id"]]["version"]
        assert [m["checked"] for m in made] == [True] * 4
        assert sum(h is not None for h in held) >= 3  # the creates after the first were held
