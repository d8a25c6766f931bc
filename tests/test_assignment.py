"""Assignment rules through the public API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.expr import Clock
from ordo.dsl.loader import load_app
from ordo.engine import SYSTEM, UsageError, open_app

MONDAY_10_PARIS = dt.datetime(2026, 3, 2, 9, 0)  # UTC: 10:00 in Paris
SATURDAY = dt.datetime(2026, 3, 7, 9, 0)

CLAIM = """
    name: claim
    fields:
      amount: {type: decimal, scale: 2}
      region: {type: string}
      status: {type: enum, options: [draft, submitted, closed], default: submitted}
      manager: {type: string}
      approver: {type: string}
"""
CALENDAR = """
    kind: calendar
    name: paris
    timezone: Europe/Paris
    weekdays: [mon, tue, wed, thu, fri]
    hours: ["09:00-12:00", "13:00-18:00"]
    holidays: [2026-05-01]
"""


ROLES = "roles:\n  clerk: {}\n  finance: {}\n  lead: {}\n  admin: {users: [admin]}\n"


def make(make_app, db_url, rule: str, clock=MONDAY_10_PARIS):
    files = {"entities/claim.yaml": CLAIM, "calendars/paris.yaml": CALENDAR, "rules/approver.yaml": rule,
             "roles.yaml": ROLES}
    app = open_app(make_app(files), db_url, clock=Clock(clock))
    with app.users(SYSTEM) as d:
        for name, roles, groups in [("ann", ["clerk"], ["north"]), ("bob", ["clerk"], ["north"]),
                                    ("cid", ["clerk"], ["south"]), ("fay", ["finance"], []),
                                    ("gus", ["finance"], []), ("lea", ["lead"], [])]:
            d.save(name)
            for r in roles:
                d.grant(name, r)
            for g in groups:
                d.grant(name, g, "group")
    return app


def claim(app, **values):
    return app.create("claim", {"amount": 100, "region": "north", **values}, "admin")


def assign(app, rec, rule="approver"):
    with app.transaction("alice") as tx:
        return app.features["assignment"].assign(tx, rule, "claim", rec)


ROUND_ROBIN = """
    kind: assignment
    name: approver
    entity: claim
    rules:
      - {strategy: round_robin, to: {role: clerk}}
"""


def test_round_robin_takes_turns_and_sees_membership_changes(make_app, db_url):
    app = make(make_app, db_url, ROUND_ROBIN)
    picks = [assign(app, claim(app))[0] for _ in range(6)]
    assert picks == ["ann", "bob", "cid", "ann", "bob", "cid"]
    with app.users(SYSTEM) as d:
        d.grant("dan", "clerk")
        d.revoke("ann", "clerk")
    assert [assign(app, claim(app))[0] for _ in range(3)] == ["dan", "bob", "cid"]
    app.close()


def test_unavailable_users_and_calendars_are_skipped(make_app, db_url):
    app = make(make_app, db_url, ROUND_ROBIN)
    with app.users(SYSTEM) as d:
        d.save("ann", available=False)
        d.save("bob", calendar="paris")
    assert [assign(app, claim(app))[0] for _ in range(2)] == ["bob", "cid"]
    app.clock.fixed = SATURDAY
    assert [assign(app, claim(app))[0] for _ in range(2)] == ["cid", "cid"]
    app.clock.fixed = dt.datetime(2026, 5, 1, 9, 0)  # a holiday
    assert assign(app, claim(app)) == ["cid"]
    app.clock.fixed = dt.datetime(2026, 3, 3, 11, 30)  # Tuesday 12:30 in Paris: lunch break
    assert assign(app, claim(app)) == ["cid"]
    app.clock.fixed = dt.datetime(2026, 3, 3, 12, 30)  # 13:30 in Paris
    assert "bob" in {assign(app, claim(app))[0] for _ in range(2)}
    app.close()


def test_rule_calendar_applies_to_users_without_one(make_app, db_url):
    rule = ROUND_ROBIN + "    calendar: paris\n"
    app = make(make_app, db_url, rule, clock=SATURDAY)
    with app.users(SYSTEM) as d:
        d.save("cid", calendar="nonexistent")  # an unknown calendar never blocks
    assert assign(app, claim(app)) == ["cid"]
    app.close()


def test_load_balance_picks_fewest_open_assignments(make_app, db_url):
    rule = """
        kind: assignment
        name: approver
        entity: claim
        when: "status != 'closed'"
        auto: true
        field: approver
        rules:
          - {strategy: load_balance, to: {role: clerk}}
    """
    app = make(make_app, db_url, rule)
    recs = [claim(app) for _ in range(6)]
    owners = [app.get("claim", r["id"], "admin")["approver"] for r in recs]
    assert Counter(owners) == {"ann": 2, "bob": 2, "cid": 2}
    for r in recs:  # close ann's claims: her load drops to zero
        if app.get("claim", r["id"], "admin")["approver"] == "ann":
            app.update("claim", r["id"], {"status": "closed"}, "admin")
    assert [app.get("claim", r["id"], "admin")["approver"] for r in recs].count("ann") == 0
    new = [app.get("claim", claim(app)["id"], "admin")["approver"] for _ in range(2)]
    assert new == ["ann", "ann"]
    app.close()


def test_field_strategy_maps_values_to_teams(make_app, db_url):
    rule = """
        kind: assignment
        name: approver
        entity: claim
        rules:
          - strategy: field
            by: region
            map:
              north: {group: north}
              south: [{group: south}, {user: lea}]
            default: {role: finance}
    """
    app = make(make_app, db_url, rule)
    assert assign(app, claim(app, region="north")) == ["ann", "bob"]
    assert assign(app, claim(app, region="south")) == ["cid", "lea"]
    assert assign(app, claim(app, region="east")) == ["fay", "gus"]
    app.close()


def test_expression_priorities_also_and_fallback(make_app, db_url):
    rule = """
        kind: assignment
        name: approver
        entity: claim
        rules:
          - {name: manager, strategy: expression, users: manager}
          - {name: big, when: "amount > 1000", priority: 10, strategy: round_robin, to: {role: finance}}
          - {name: lead, when: "amount > 5000", also: true, strategy: all, to: {user: lea}}
        fallback: {role: clerk}
    """
    app = make(make_app, db_url, rule)
    assert assign(app, claim(app, manager="bob")) == ["bob"]
    assert assign(app, claim(app, amount=2000, manager="bob")) == ["fay"]  # priority beats listed order
    assert assign(app, claim(app, amount=9000, manager="bob")) == ["gus", "lea"]  # and the lead in addition
    assert assign(app, claim(app, manager="nobody")) == ["ann", "bob", "cid"]  # fallback: all of them
    with app.users(SYSTEM) as d:
        for u in ("ann", "bob", "cid"):
            d.save(u, available=False)
    assert assign(app, claim(app)) == ["ann", "bob", "cid"]  # the work still needs an owner
    app.close()


AUTO = """
    kind: assignment
    name: approver
    entity: claim
    when: "status == 'submitted'"
    field: approver
    auto: true
    rules:
      - {name: big, when: "amount > 1000", strategy: round_robin, to: {role: finance}}
      - {name: small, strategy: round_robin, to: {role: clerk}}
"""


def test_auto_assign_reassign_and_unassign(make_app, db_url):
    app = make(make_app, db_url, AUTO)
    rec = claim(app, status="draft")
    assert app.get("claim", rec["id"], "admin")["approver"] is None
    app.update("claim", rec["id"], {"status": "submitted"}, "admin")
    assert app.get("claim", rec["id"], "admin")["approver"] == "ann"
    app.update("claim", rec["id"], {"region": "south"}, "admin")  # condition still holds: kept
    assert app.get("claim", rec["id"], "admin")["approver"] == "ann"
    app.update("claim", rec["id"], {"amount": 5000}, "admin")  # 'small' still holds as well
    assert app.get("claim", rec["id"], "admin")["approver"] == "ann"
    app.update("claim", rec["id"], {"status": "closed"}, "admin")
    assert app.get("claim", rec["id"], "admin")["approver"] is None
    app.update("claim", rec["id"], {"status": "submitted"}, "admin")  # amount > 1000 now: finance
    assert app.get("claim", rec["id"], "admin")["approver"] == "fay"
    with app.reader("admin") as tx:
        assert app.features["assignment"].current(tx, "approver", "claim", rec["id"]) == ["fay"]
    app.delete("claim", rec["id"], "admin")
    app.close()


def test_reevaluate_replaces_an_entry_that_stopped_holding(make_app, db_url):
    rule = """
        kind: assignment
        name: approver
        entity: claim
        field: approver
        rules:
          - {name: north, when: "region == 'north'", strategy: all, to: {group: north}}
          - {name: any, strategy: round_robin, to: {role: finance}}
    """
    app = make(make_app, db_url, rule)
    rec = claim(app)
    assert assign(app, rec) == ["ann", "bob"]
    service = app.features["assignment"]
    with app.transaction("admin") as tx:
        tx.update("claim", rec["id"], {"region": "south"})
        assert service.reevaluate(tx, "approver", "claim", rec["id"]) == ["fay"]
        assert service.reevaluate(tx, "approver", "claim", rec["id"]) == ["fay"]  # stable
        assert service.unassign(tx, "approver", "claim", rec["id"]) == ["fay"]
    assert app.get("claim", rec["id"], "admin")["approver"] is None
    app.close()


def test_wrong_entity_is_a_clear_error(make_app, db_url):
    app = make(make_app, db_url, ROUND_ROBIN)
    with pytest.raises(UsageError, match="for claim records, not user"):
        with app.transaction("alice") as tx:
            app.features["assignment"].assign(tx, "approver", "user", 1)
    app.close()


def test_definition_errors_are_located(make_app):
    bad = """
        kind: assignment
        name: approver
        entity: claim
        field: amount
        calendar: pariss
        rules:
          - {strategy: round_robin}
          - {strategy: field, by: regio, map: {a: {role: x}}}
          - {strategy: expression, users: "amount"}
    """
    root = make_app({"entities/claim.yaml": CLAIM, "rules/approver.yaml": bad,
                     "calendars/c.yaml": "kind: calendar\nname: c\ntimezone: Mars/Base\nhours: ['18:00-09:00']\n"})
    with pytest.raises(DefinitionErrors) as e:
        load_app(root)
    text = str(e.value)
    assert "rules/approver.yaml:7" in text and "needs 'to'" in text
    assert "unknown field 'regio'" in text
    assert "must give a user name" in text
    assert "'amount' must be a string or text field" in text
    assert "18:00-09:00" in text


def test_assignments_of_records_made_in_the_transaction(make_app, db_url):
    """A record created in the transaction has no assignments but its own: none are read for it, the new rows
    are written once, at commit; assigning it again and a savepoint rolled back see them all."""
    from ordo.engine.stats import count_statements

    app = make(make_app, db_url, AUTO)  # (amount 100: the clerks' round robin)
    claim(app)  # the cursor row exists
    service = app.features["assignment"]
    with count_statements(app.engine) as counts:
        with app.transaction("admin") as tx:
            recs = [tx.create("claim", {"amount": 100, "region": "north"}) for _ in range(3)]
    reads = [t for t in counts.texts if "FROM ordo_assignment " in t]
    assert reads == [], reads
    assert sum("INSERT INTO ordo_assignment " in t for t in counts.texts) == 1  # one executemany
    assert [app.get("claim", r["id"], "admin")["approver"] for r in recs] == ["bob", "cid", "ann"]
    with app.transaction("admin") as tx:
        rec = tx.create("claim", {"amount": 100, "region": "north"})
        assert tx.load("claim", rec["id"])["approver"] == "bob"
        assert service.assign(tx, "approver", "claim", rec["id"]) == ["cid"]  # ends bob's, still buffered
        assert service.current(tx, "approver", "claim", rec["id"]) == ["cid"]
        other = tx.create("claim", {"amount": 100, "region": "north"})  # ann
        try:
            with tx.conn.begin_nested():
                service.assign(tx, "approver", "claim", other["id"])  # bob, rolled back
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        assert service.current(tx, "approver", "claim", other["id"]) == ["ann"]
        assert service.current(tx, "approver", "claim", rec["id"]) == ["cid"]
    with app.reader("admin") as tx:
        assert service.current(tx, "approver", "claim", rec["id"]) == ["cid"]
        assert service.current(tx, "approver", "claim", other["id"]) == ["ann"]
    app.close()
