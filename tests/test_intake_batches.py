"""Intake in batches: one transaction per batch, a bad document loses only itself (names stay dense, the
records its lookups created are taken back), a batch that loses a race runs again without reporting twice."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from ordo.dsl.expr import Clock
from ordo.engine import open_app
from ordo.engine.stats import count_statements

from .test_intake import APP


class _Deadlock(Exception):
    sqlstate = "40P01"


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url, clock=Clock(dt.datetime(2026, 3, 15, 9, 0)))
    a.create("source", {"code": "WEB", "layout": "nested"}, "admin")
    a.create("article", {"code": "X1", "price": 10}, "admin")
    yield a
    a.close()


def _docs(n: int, bad: set[int] = frozenset()) -> str:
    return json.dumps({"data": {"bookings": [
        {"id": f"R{i}", "person": {"tel": f"77{i:04d}", "name": f"P{i}"},  # a new contact each: created by lookup
         "lines": [{"sku": "NOPE" if i in bad else "X1", "n": 1, "unit_cents": 100}]} for i in range(n)]}})


def test_each_batch_is_one_transaction_and_a_bad_document_loses_only_itself(app):
    intake = app.features["intake"]
    with count_statements(app.engine) as counts:
        result = intake.import_payload("alice", "bookings", _docs(10, bad={3, 7}), channel="WEB",
                                       source="w.json", batch_size=4)
    assert (len(result.created), len(result.errors)) == (8, 2)
    assert [e.document for e in result.errors] == [4, 8]  # counted from 1
    assert all("no article 'NOPE'" in e.reason for e in result.errors)
    assert counts.commits == 3  # 10 documents in batches of 4: nothing else committed
    names = [b["name"] for b in app.query("booking", user="admin", order_by="id")]
    assert names == result.created
    assert names == [f"BK-{i:05d}" for i in range(1, 9)]  # as dense as if the bad documents had never been there
    phones = sorted(c["phone"] for c in app.query("contact", user="admin", limit=None))
    assert phones == sorted(f"77{i:04d}" for i in range(10) if i not in (3, 7))  # the bad ones' lookups undone


def test_a_clean_batch_takes_no_savepoint_per_document(app):
    intake = app.features["intake"]
    with count_statements(app.engine) as clean:
        intake.import_payload("alice", "bookings", _docs(6), channel="WEB", source="w.json")
    per_record = clean.by_kind().get("SAVEPOINT", 0)
    with count_statements(app.engine) as one, app.transaction("alice") as tx:  # what one document creates
        tx.create("contact", {"code": "Q1", "phone": "1", "full_name": "Q"})
        tx.create("booking", {"source": "WEB", "ref": "single", "contact": "Q1",
                              "items": [{"article": "X1", "qty": 1, "price": 1}]})
    # the store's own, and one per document from its lookup's first write on (each creates a contact here;
    # on PostgreSQL a refused INSERT of it rolls that one back: it needs no other)
    assert per_record == 6 * one.by_kind().get("SAVEPOINT", 0) + 6
    assert clean.commits == 1  # the shape was chosen inside the batch's transaction
    if app.engine.dialect.name == "sqlite":
        assert clean.by_kind()["BEGIN"] == 1


def test_a_small_payload_takes_no_savepoint_per_document(app):
    """A payload small enough to be read inside the first batch's transaction is no careful batch, nor is a
    batch of one document (a webhook's delivery)."""
    app.create("contact", {"code": "K", "phone": "100", "full_name": "K"}, "admin")
    intake = app.features["intake"]
    with count_statements(app.engine) as one:
        result = intake.import_payload("alice", "bookings", _known(1, set(), "L"), channel="WEB", source="l.json")
    assert len(result.created) == 1 and one.by_kind().get("SAVEPOINT", 0) == 0
    with count_statements(app.engine) as three:
        result = intake.import_payload("alice", "bookings", _known(3, set(), "T"), channel="WEB", source="t.json")
    assert len(result.created) == 3
    assert three.by_kind().get("SAVEPOINT", 0) == 0
    with count_statements(app.engine) as bad:  # refused before writing: reported, nothing written
        result = intake.import_payload("alice", "bookings", _known(1, {0}, "B"), channel="WEB", source="b.json")
    assert (result.created, [e.document for e in result.errors]) == ([], [1])
    assert bad.by_kind().get("INSERT", 0) == 0


def test_a_lone_document_whose_lookup_creates_a_record_takes_no_savepoint(app):
    """A webhook's delivery (one document) writes without a savepoint, also when its lookup creates a record;
    refused after that write, it runs again careful: reported once, what its lookup created taken back."""
    intake = app.features["intake"]
    with count_statements(app.engine) as good:
        result = intake.import_payload("alice", "bookings", _docs(1), channel="WEB", source="one.json")
    assert len(result.created) == 1 and good.by_kind().get("SAVEPOINT", 0) == 0 and good.commits == 1
    bad = json.dumps({"data": {"bookings": [
        {"id": "Z1", "person": {"tel": "990001", "name": "Z"}, "lines": [{"sku": "NOPE", "n": 1, "unit_cents": 1}]}]}})
    result = intake.import_payload("alice", "bookings", bad, channel="WEB", source="bad.json")
    assert (result.created, [e.document for e in result.errors]) == ([], [1])
    assert "no article 'NOPE'" in result.errors[0].reason
    assert [c["phone"] for c in app.query("contact", user="admin", limit=None)] == ["770000"]


def test_a_batch_that_loses_a_race_runs_again_and_reports_each_document_once(app, monkeypatch):
    from ordo.engine import records

    real = records.Transaction.create
    calls: list[str] = []

    def flaky(self, entity, data):
        calls.append(entity)
        if entity == "booking" and calls.count("booking") == 3:  # once, in the middle of the first batch
            raise sa.exc.OperationalError("INSERT ...", {}, _Deadlock("deadlock detected"))
        return real(self, entity, data)

    monkeypatch.setattr(records.Transaction, "create", flaky)
    progress: list[tuple[int, int]] = []
    result = app.features["intake"].import_payload("alice", "bookings", _docs(5), channel="WEB", source="w.json",
                                                   batch_size=3, progress=lambda d, t: progress.append((d, t)))
    assert (len(result.created), len(result.duplicates), result.errors) == (5, 0, [])
    assert len(set(result.created)) == 5 and app.count("booking", user="admin") == 5
    assert progress == [(3, 5), (5, 5)]


def test_a_dry_run_stores_nothing_and_reports_like_a_real_run(app):
    intake = app.features["intake"]
    dry = intake.import_payload("alice", "bookings", _docs(5, bad={1}), channel="WEB", source="w.json",
                                dry_run=True, batch_size=2)
    assert (len(dry.created), [e.document for e in dry.errors], dry.dry_run) == (4, [2], True)
    assert app.count("booking", user="admin") == 0 and app.count("contact", user="admin") == 0


def test_a_document_created_meanwhile_by_another_import_is_reported_as_a_duplicate(app, monkeypatch):
    """The race the database's unique index settles: the document's key was free when looked up, a concurrent
    import created it before the INSERT. On PostgreSQL the refused INSERT aborts the document's savepoint: it is
    rolled back before the record is looked up again, and the next documents go on."""
    from ordo.engine import validation
    from ordo.engine.intake import batch

    app.features["intake"].import_payload("alice", "bookings", _docs(1), channel="WEB", source="first.json")
    real, seen = batch.Run._existing, []

    def racing(self, key):  # the first look finds nothing: the other import had not committed yet
        seen.append(key)
        return None if len(seen) == 1 else real(self, key)

    monkeypatch.setattr(batch.Run, "_existing", racing)
    monkeypatch.setattr(validation, "_unique", lambda *a, **k: None)  # nor does the store's own check
    with count_statements(app.engine) as counts:
        result = app.features["intake"].import_payload("alice", "bookings", _docs(3), channel="WEB",
                                                       source="again.json")
    assert [d.existing for d in result.duplicates] == ["BK-00001"] and result.errors == []
    assert len(result.created) == 2 and app.count("booking", user="admin") == 3
    assert counts.commits == 1


def test_a_record_a_lookup_would_create_created_meanwhile_by_another_import_is_used(app, monkeypatch):
    """The lookup found no contact, a concurrent import created it before the INSERT, which the unique index
    refuses (on PostgreSQL aborting the document's savepoint, its first write: rolled back, the document goes
    on in a new one); the lookup looks again and links the contact found; nothing is reported."""
    from ordo.engine import validation
    from ordo.engine.intake import batch

    app.create("contact", {"code": "P770001", "phone": "770001", "full_name": "Other"}, "admin")
    real, seen = batch.Run._find, []

    def racing(self, lk, value, src):  # the first look finds nothing: the other import had not committed yet
        seen.append(value)
        return None if value == "770001" and seen.count(value) == 1 else real(self, lk, value, src)

    monkeypatch.setattr(batch.Run, "read_ahead", lambda self, docs: None)
    monkeypatch.setattr(batch.Run, "_find", racing)
    monkeypatch.setattr(validation, "_unique", lambda *a, **k: None)  # nor does the store's own check
    result = app.features["intake"].import_payload("alice", "bookings", _docs(3), channel="WEB", source="r.json")
    assert (len(result.created), result.errors, result.duplicates) == (3, [], [])
    assert seen.count("770001") == 2
    assert app.count("contact", user="admin") == 3
    booked = {b["ref"]: b["contact"] for b in app.query("booking", user="admin", limit=None)}
    other = [c["id"] for c in app.query("contact", user="admin", limit=None) if c["code"] == "P770001"]
    assert [booked["R1"]] == other
    assert [b["name"] for b in app.query("booking", user="admin", order_by="id")] == result.created == [
        f"BK-{i:05d}" for i in range(1, 4)]


def _writes(counts) -> dict[str, int]:
    kinds = counts.by_kind()
    return {k: kinds.get(k, 0) for k in ("INSERT", "UPDATE", "DELETE", "SAVEPOINT")}


def _known(n: int, bad: set[int], prefix: str) -> str:
    """Documents of a contact that exists already: no lookup creates anything."""
    return json.dumps({"data": {"bookings": [
        {"id": f"{prefix}{i}", "person": {"tel": "100", "name": "K"},
         "lines": [{"sku": "NOPE" if i in bad else "X1", "n": 1, "unit_cents": 100}]} for i in range(n)]}})


def test_a_bad_document_refused_before_writing_costs_no_run_again_of_its_batch(app):
    """The good documents of a batch with a bad one are written once: exactly what importing only the good ones
    writes (no batch run again, no savepoint more on SQLite, no number of the name series taken)."""
    app.create("contact", {"code": "K", "phone": "100", "full_name": "K"}, "admin")
    intake = app.features["intake"]
    with count_statements(app.engine) as clean:
        good = intake.import_payload("alice", "bookings", _known(9, set(), "G"), channel="WEB", source="g.json")
    with count_statements(app.engine) as mixed:
        result = intake.import_payload("alice", "bookings", _known(10, {4}, "M"), channel="WEB", source="m.json")
    assert (len(good.created), len(result.created), [e.document for e in result.errors]) == (9, 9, [5])
    assert mixed.commits == clean.commits == 1
    written, expected = _writes(mixed), _writes(clean)
    assert written == expected  # the good documents written once, nothing of the bad one, no savepoint more
    names = [b["name"] for b in app.query("booking", user="admin", order_by="id")]
    assert names == [f"BK-{i:05d}" for i in range(1, 19)]


def test_a_bad_document_whose_lookup_created_a_record_takes_back_only_itself(app):
    """Its savepoint begins at its first write (the contact its lookup creates); the documents before and
    after it are not run again."""
    intake = app.features["intake"]
    with count_statements(app.engine) as counts:
        result = intake.import_payload("alice", "bookings", _docs(10, bad={4}), channel="WEB", source="w.json")
    assert (len(result.created), [e.document for e in result.errors]) == (9, [5])
    assert counts.commits == 1
    booking_inserts = [t for t in counts.texts if t.lstrip().upper().startswith("INSERT INTO BOOKING ")]
    assert len(booking_inserts) == 9  # each good document written once
    assert app.count("contact", user="admin") == 9  # the bad document's contact taken back


def test_a_document_failing_after_its_record_was_written_runs_its_batch_again_careful_from_it(app, monkeypatch):
    """Without a savepoint nothing can take back a record already inserted: the batch is rolled back and runs
    again, the documents before it as before, from it on each in its savepoint; each is reported once."""
    from ordo.engine import records
    from ordo.engine.errors import FieldError, ValidationFailed

    app.create("contact", {"code": "K", "phone": "100", "full_name": "K"}, "admin")
    real = records.Transaction.create

    def failing_late(self, entity, data):
        rec = real(self, entity, data)
        if entity == "booking" and data.get("ref") == "M3":
            raise ValidationFailed("booking", [FieldError("", "refused by a write listener")])
        return rec

    monkeypatch.setattr(records.Transaction, "create", failing_late)
    result = app.features["intake"].import_payload("alice", "bookings", _known(6, set(), "M"), channel="WEB",
                                                   source="m.json", batch_size=4)
    assert (len(result.created), [e.document for e in result.errors]) == (5, [4])
    assert "refused by a write listener" in result.errors[0].reason
    assert app.count("booking", user="admin") == 5
    names = [b["name"] for b in app.query("booking", user="admin", order_by="id")]
    assert names == result.created
    # the batch run again gives its records the names of the run rolled back (PostgreSQL: the numbers the
    # sequence gave are kept), the failed document's number goes to the next one: none skipped
    assert names == [f"BK-{i:05d}" for i in range(1, 6)]


def test_a_document_taken_back_leaves_the_batch_s_read_ahead_as_it_was(app):
    """The bad document's lookup created a contact the batch had read ahead as missing; taken back, the
    lookup is missing again for the batch (not looked up again): the next document creates it at once."""
    doc = {"person": {"tel": "880001", "name": "N"}}
    payload = json.dumps({"data": {"bookings": [
        {**doc, "id": "B1", "lines": [{"sku": "NOPE", "n": 1, "unit_cents": 100}]},
        {**doc, "id": "B2", "lines": [{"sku": "X1", "n": 1, "unit_cents": 100}]}]}})
    with count_statements(app.engine) as counts:
        result = app.features["intake"].import_payload("alice", "bookings", payload, channel="WEB", source="w.json")
    assert (len(result.created), [e.document for e in result.errors]) == (1, [1])
    contact_selects = [t for t in counts.texts if t.lstrip().upper().startswith("SELECT") and "FROM contact" in t]
    # the read-ahead (the lookup and the new contact's unique code, one SELECT), the code checked by the second
    # create (the first one used it up)
    assert len(contact_selects) == 2
    assert [c["phone"] for c in app.query("contact", user="admin", limit=None)] == ["880001"]


def test_a_batch_takes_its_records_names_ahead_and_a_refused_documents_name_goes_to_the_next_batch(app):
    """PostgreSQL: one ``nextval`` statement for the names of a batch (not one per record), except the last
    batch; the number a refused document did not use names the next batch's first record (no gap)."""
    intake = app.features["intake"]
    with count_statements(app.engine) as counts:
        result = intake.import_payload("alice", "bookings", _docs(13, bad={2}), channel="WEB", source="w.json",
                                       batch_size=5)
    assert (len(result.created), len(result.errors)) == (12, 1)
    names = [b["name"] for b in app.query("booking", user="admin", order_by="id")]
    assert names == result.created == [f"BK-{i:05d}" for i in range(1, 13)]
    if app.engine.dialect.name == "postgresql":
        nextval = [t for t in counts.texts if "nextval" in t]  # contacts are named by their code
        # batches 1 and 2: one statement each (the second tops up the number the refused document left);
        # the last batch (3 documents) one per record
        assert [("generate_series" in t) for t in nextval] == [True, True, False, False, False]
