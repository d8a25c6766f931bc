"""A batch of intake documents reads ahead what its documents look up (SQLite and PostgreSQL): the keys of the
duplicate check, the lookups' matches and the linked records, one statement each whatever the batch's size;
and the store's unique validation does not look again for the key the intake has just found unused (the
"just-looked-up" shortcut, ``validation.unused``), while a duplicate is still a duplicate, within the batch
too."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ordo.dsl.expr import Clock
from ordo.engine import ValidationFailed, open_app
from ordo.engine.stats import count_statements

from .test_intake import APP


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url, clock=Clock(dt.datetime(2026, 3, 15, 9, 0)))
    a.create("source", {"code": "WEB", "layout": "nested"}, "admin")
    for sku in ("X1", "X2", "X3"):
        a.create("article", {"code": sku, "price": 10}, "admin")
    a.create("contact", {"code": "OLD1", "phone": "770001", "full_name": "Old one"}, "admin")
    a.create("contact", {"code": "OLD3", "phone": "770003", "full_name": "Old three"}, "admin")
    yield a
    a.close()


def _docs(refs: list[str]) -> str:
    return json.dumps({"data": {"bookings": [
        {"id": ref, "person": {"tel": f"77{i % 4:04d}", "name": f"P{i}"},
         "lines": [{"sku": f"X{1 + i % 3}", "n": 1, "unit_cents": 100},
                   {"sku": f"X{1 + (i + 1) % 3}", "n": 2, "unit_cents": 100}]} for i, ref in enumerate(refs)]}})


def _selects(counts, table: str) -> list[str]:
    return [t for t in counts.texts if t.lstrip().upper().startswith("SELECT") and f"FROM {table} " in t + " "]


def _import(app, refs: list[str], **kw):
    return app.features["intake"].import_payload("alice", "bookings", _docs(refs), channel="WEB", source="b.json",
                                                 **kw)


@pytest.mark.parametrize("n", [3, 12])
def test_a_batch_reads_keys_lookups_and_links_once_whatever_its_size(app, n):
    with count_statements(app.engine) as counts:
        result = _import(app, [f"R{i}" for i in range(n)])
    assert result.errors == [] and len(result.created) == n
    # the duplicate check of every document: one SELECT (and no unique validation of the key afterwards)
    assert len(_selects(counts, "booking")) == 1
    # the lookups by phone (4 phones, 2 known) and the contacts' records, and the unique codes of the new ones
    # (found unused, not checked again by their creates): one SELECT; each created once, then linked from the
    # batch's unit of work
    assert len(_selects(counts, "contact")) == 1
    assert len(_selects(counts, "article")) == 1  # the articles the lines name, by name
    contacts = {c["id"]: c["phone"] for c in app.query("contact", user="admin", limit=None)}
    assert sorted(contacts.values()) == ["770000", "770001", "770002", "770003"]
    bookings = app.query("booking", user="admin", order_by="id", limit=None)
    assert [contacts[b["contact"]] for b in bookings] == [f"77{i % 4:04d}" for i in range(n)]


def test_the_duplicate_check_tells_the_unique_validation_not_to_look_again(app, monkeypatch):
    """The intake's key is the booking's unique index (source, ref): a plain create looks it up, the intake's
    create does not (it has just found it unused), and a concurrent writer is still refused by the index."""
    from ordo.engine import validation

    looked: list[dict] = []
    real = validation._unique

    def spying(tx, ce, rec, *args, **kwargs):
        if ce.name == "booking":
            looked.append(dict(tx.uow.facts.get((validation.FREE, "booking")) or {}))
        return real(tx, ce, rec, *args, **kwargs)

    monkeypatch.setattr(validation, "_unique", spying)
    with count_statements(app.engine) as plain:
        app.create("booking", {"source": "WEB", "ref": "PLAIN", "contact": "OLD1",
                               "items": [{"article": "X1", "qty": 1, "price": 1}]}, "alice")
    assert looked == [{}]  # nothing told: the unique group is looked up
    assert any("booking.ref = " in t for t in _selects(plain, "booking"))
    with pytest.raises(ValidationFailed):  # and a used one is refused
        app.create("booking", {"source": "WEB", "ref": "PLAIN", "contact": "OLD1",
                               "items": [{"article": "X1", "qty": 1, "price": 1}]}, "alice")
    looked.clear()
    with count_statements(app.engine) as counts:
        result = _import(app, ["R1", "R2"])
    assert len(result.created) == 2
    source = app.get("source", "WEB", "admin")["id"]
    assert looked == [{"source": source, "ref": "R1"}, {"source": source, "ref": "R2"}]  # told, per document
    assert not any("booking.ref = " in t for t in _selects(counts, "booking"))  # not looked up one by one


def test_a_key_repeated_in_one_batch_and_a_key_imported_before_are_duplicates(app):
    first = _import(app, ["A"])
    assert len(first.created) == 1
    result = _import(app, ["A", "B", "B", "C"])
    assert [d.key for d in result.duplicates] == ["A", "B"]
    assert [d.existing for d in result.duplicates] == [first.created[0], result.created[0]]
    assert len(result.created) == 2 and result.errors == []
    assert app.count("booking", user="admin") == 3


def test_a_document_taken_back_forgets_the_record_its_lookup_created(app):
    """Document 2 creates the contact of phone 770002 and then fails: document 3 with the same phone must not
    link the contact that was rolled back (it creates it again)."""
    payload = json.loads(_docs(["R0", "R1", "R2", "R3"]))
    items = payload["data"]["bookings"]
    items[1]["person"]["tel"] = items[2]["person"]["tel"] = "779999"
    items[1]["lines"][0]["sku"] = "NOPE"
    result = app.features["intake"].import_payload("alice", "bookings", json.dumps(payload), channel="WEB",
                                                   source="b.json")
    assert [e.document for e in result.errors] == [2] and len(result.created) == 3
    new = [c for c in app.query("contact", user="admin", limit=None) if c["phone"] == "779999"]
    assert len(new) == 1
    assert app.get("booking", result.created[1], "admin")["contact"] == new[0]["id"]


def test_the_read_ahead_statements_are_built_once_per_power_of_two_of_values(app):
    """A statement per number of values rounded up to a power of two (the last value repeated), run lean: a
    batch of 3 documents and one of 4 share theirs; what they find is the same as one by one."""
    first = _import(app, ["P1", "P2", "P3"])
    built = {e: dict(app.plans[e].shaped) for e in ("booking", "contact", "article")}
    second = _import(app, ["P4", "P5", "P6", "P7"])
    assert len(first.created) == 3 and len(second.created) == 4
    assert {e: dict(app.plans[e].shaped) for e in built} == built  # nothing built for the second batch
    again = _import(app, ["P1", "P5", "P9"])  # two duplicates among 3: padded with the last, found as before
    assert [d.key for d in again.duplicates] == ["P1", "P5"] and len(again.created) == 1


def test_a_unique_value_a_lookup_would_create_read_ahead_as_used_is_still_refused(app):
    """The code of the contact phone 770000 would get (P770000) is used by another contact: the read-ahead
    finds it used, the create checks it and is refused; the document reports it, the others are imported."""
    app.create("contact", {"code": "P770000", "phone": "999", "full_name": "Someone else"}, "admin")
    with count_statements(app.engine) as counts:
        result = _import(app, ["R0", "R1", "R2"])
    assert [e.document for e in result.errors] == [1] and len(result.created) == 2
    assert "already used" in result.errors[0].reason and "P770000" in result.errors[0].reason
    selects = _selects(counts, "contact")
    assert len([t for t in selects if "contact.code IN" in t]) == 1  # the new codes read ahead
    checks = [t for t in selects if "WHERE contact.code =" in t]
    assert len(checks) == 1  # the used one checked by its create (refused); P770002 not checked again
