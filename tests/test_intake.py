"""Generic intake: nested JSON and grouped CSV onto an entity with child rows, idempotency,
bad documents reported with their lines while good ones are kept (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from ordo.dsl.expr import Clock
from ordo.dsl.loader import validate_app
from ordo.engine import UsageError, open_app
from ordo.engine.cli import main

APP = {
    "entities/source.yaml": """
        name: source
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          layout: {type: string}
          fee_rate: {type: decimal, default: 0}
    """,
    "entities/contact.yaml": """
        name: contact
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          phone: {type: string, index: true}
          full_name: {type: string, required: true}
    """,
    "entities/article.yaml": """
        name: article
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          price: {type: money, required: true}
    """,
    "entities/booking.yaml": """
        name: booking
        naming: "BK-{#####}"
        fields:
          source: {type: link, entity: source, required: true}
          ref: {type: string, required: true}
          contact: {type: link, entity: contact, required: true}
          booked_at: {type: datetime}
          area: {type: enum, options: [north, south]}
          fee: {type: money, default: 0}
          note: {type: text}
          items: {type: table, entity: booking_item, required: true}
          total: {type: computed, expr: "sum(items, qty * price)"}
        indexes:
          - {fields: [source, ref], unique: true}
        ---
        name: booking_item
        child: true
        fields:
          article: {type: link, entity: article, required: true}
          qty: {type: integer, required: true, min: 1}
          price: {type: money, required: true, min: 0}
    """,
    "intake/bookings.yaml": """
        name: bookings
        entity: booking
        channel: {entity: source, field: source, shape_field: layout}
        key: [source, ref]
        shapes:
          nested:
            format: json
            documents: data.bookings
            fields:
              ref: id
              booked_at: {path: when, type: datetime}
              area: {path: address.region, map: {N: north, S: south}}
              fee: {path: amount, type: decimal, expr: "round(value * channel.fee_rate, 2)"}
              note: {with: {a: address.city, b: address.street}, expr: "concat(a, ', ', b)"}
              contact:
                path: person.tel
                lookup:
                  entity: contact
                  by: phone
                  missing: create
                  create:
                    code: {path: person.tel, expr: "concat('P', value)"}
                    full_name: person.name
            tables:
              items:
                rows: lines
                fields:
                  article: sku
                  qty: n
                  price: {path: unit_cents, type: integer, expr: "value / 100"}
          flat:
            format: csv
            group_by: booking no
            fields:
              ref: booking no
              contact: {path: contact code}
              area: {const: north}
            tables:
              items:
                fields:
                  article: article
                  qty: quantity
                  price: {path: price, default: 0}
    """,
}

NESTED = {"data": {"bookings": [
    {"id": "A-1", "when": "2026-03-01T10:00:00+01:00", "amount": "200", "address": {"region": "N", "city": "Oslo",
     "street": "Main 1"}, "person": {"tel": "555001", "name": "Ann"},
     "lines": [{"sku": "X1", "n": 2, "unit_cents": 1050}, {"sku": "X2", "n": 1, "unit_cents": 99}]},
    {"id": "A-2", "when": "2026-03-02T11:00:00Z", "amount": "0", "address": {"region": "S"},
     "person": {"tel": "555001", "name": "Ann"}, "lines": [{"sku": "X2", "n": 3, "unit_cents": 100}]},
]}}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url, clock=Clock(dt.datetime(2026, 3, 15, 9, 0)))
    a.create("source", {"code": "WEB", "layout": "nested", "fee_rate": "0.1"}, "admin")
    a.create("source", {"code": "POS", "layout": "flat"}, "admin")
    a.create("article", {"code": "X1", "price": 10}, "admin")
    a.create("article", {"code": "X2", "price": 1}, "admin")
    a.create("contact", {"code": "C1", "phone": "1", "full_name": "Carl"}, "admin")
    yield a
    a.close()


def _write(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content if isinstance(content, str) else json.dumps(content, indent=2), encoding="utf-8")
    return p


def test_nested_json_maps_fields_lookups_and_rows(app, tmp_path):
    path = _write(tmp_path, "web.json", NESTED)
    result = app.features["intake"].import_file("alice", "bookings", path, channel="WEB")
    assert result.ok and result.shape == "nested" and len(result.created) == 2
    b = app.query("booking", "ref == 'A-1'", user="alice", with_children=True)[0]
    assert b["booked_at"] == dt.datetime(2026, 3, 1, 9, 0)  # stored as UTC
    assert b["area"] == "north" and b["fee"] == Decimal("20.00") and b["note"] == "Oslo, Main 1"
    assert [(i["qty"], i["price"]) for i in b["items"]] == [(2, Decimal("10.50")), (1, Decimal("0.99"))]
    assert b["total"] == Decimal("21.99")
    contacts = app.query("contact", "phone == '555001'", user="alice")
    assert len(contacts) == 1 and contacts[0]["code"] == "P555001"  # created once, then found
    assert app.get("booking", result.created[1], "alice")["contact"] == contacts[0]["id"]


def test_reimport_is_idempotent_and_reports_duplicates(app, tmp_path):
    path = _write(tmp_path, "web.json", NESTED)
    rt = app.features["intake"]
    rt.import_file("alice", "bookings", path, channel="WEB")
    again = rt.import_file("alice", "bookings", path, channel="WEB")
    assert again.created == [] and again.ok
    lines = path.read_text().splitlines()
    starts = [i for i, text in enumerate(lines) if '"id": "A-' in text]  # the '{' is on the line before
    assert [(d.key, d.line) for d in again.duplicates] == [("A-1", starts[0]), ("A-2", starts[1])]
    assert app.count("booking", user="alice") == 2 and app.count("contact", user="alice") == 2
    # the same reference from another source is a different booking
    other = _write(tmp_path, "pos.csv", "booking no,contact code,article,quantity\nA-1,C1,X1,1\n")
    assert len(rt.import_file("alice", "bookings", other, channel="POS").created) == 1


def test_csv_rows_grouped_bad_rows_reported_with_lines_good_rows_kept(app, tmp_path):
    csv_text = (
        "booking no,contact code,article,quantity,price\n"
        "B1,C1,X1,2,10\n"        # line 2
        "B2,C1,X1,1,10\n"        # line 3
        "B1,,X2,1,1\n"           # line 4: second row of B1
        "B2,,NOPE,0,1\n"         # line 5: bad article and quantity
        "B3,NOBODY,X1,1,1\n"     # line 6: unknown contact
        ",C1,X1,1,1\n"           # line 7: no group key
        "B4,C1,X1,x,1\n"         # line 8: not a number
    )
    path = _write(tmp_path, "pos.csv", csv_text)
    result = app.features["intake"].import_file("bob", "bookings", path, channel="POS")
    assert len(result.created) == 1 and result.documents == 5
    b1 = app.get("booking", result.created[0], "bob")
    assert b1["ref"] == "B1" and [i["qty"] for i in b1["items"]] == [2, 1]
    problems = {(e.line, e.key, e.field) for e in result.errors}
    assert (5, "B2", "items[1].article") in problems and (5, "B2", "items[1].qty") in problems
    assert (6, "B3", "contact") in problems
    assert any(e.line == 7 and "empty" in e.reason for e in result.errors)
    assert any(e.line == 8 and e.field == "items[0].qty" and "whole number" in e.reason for e in result.errors)
    assert result.failed == 4 and app.count("booking", user="bob") == 1


CONFLICTING = (
    "booking no,contact code,article,quantity\n"
    "D1,C1,X1,1\n"          # line 2
    "D1,,X2,2\n"            # line 3: blank: the document's value stands
    "D1,C2,X2,3\n"          # line 4: another contact for the same booking
    "D2,,X1,1\n"            # line 5: the contact comes on the second row only
    "D2,C1,X2,1\n"          # line 6
)


def test_csv_rows_of_one_document_that_disagree_are_reported_not_merged(app, tmp_path, db_url, make_app, capsys):
    app.create("contact", {"code": "C2", "phone": "2", "full_name": "Cleo"}, "admin")
    path = _write(tmp_path, "pos.csv", CONFLICTING)
    result = app.features["intake"].import_file("bob", "bookings", path, channel="POS")
    assert [(e.line, e.key, e.field) for e in result.errors] == [(4, "D1", "contact code")]
    assert "'C2' here, but 'C1' on line 2" in result.errors[0].reason and "contact" in result.errors[0].reason
    assert result.failed == 1 and result.summary() == "2 document(s): created 1, 0 duplicate(s), 1 with errors"
    [d2] = app.query("booking", user="bob", with_children=True)
    assert d2["ref"] == "D2" and app.get("contact", d2["contact"], "bob")["code"] == "C1"  # filled from line 6
    assert len(d2["items"]) == 2
    rc = main(["import", str(make_app(APP)), "bookings", str(path), "--channel", "POS", "--db", db_url])
    err = capsys.readouterr().err
    assert rc == 1 and f"{path}:4 (D1): contact code: 'C2' here, but 'C1' on line 2" in err


def test_a_declared_conflict_rule_picks_the_row(make_app, db_url, tmp_path):
    files = dict(APP)
    files["intake/bookings.yaml"] = APP["intake/bookings.yaml"].replace(
        "            group_by: booking no\n", "            group_by: booking no\n            on_conflict: {contact code: last}\n")
    with open_app(make_app(files), db_url) as a:
        a.create("source", {"code": "POS", "layout": "flat"}, "admin")
        for code in ("X1", "X2"):
            a.create("article", {"code": code, "price": 1}, "admin")
        for code in ("C1", "C2"):
            a.create("contact", {"code": code, "full_name": code}, "admin")
        result = a.features["intake"].import_file("bob", "bookings", _write(tmp_path, "p.csv", CONFLICTING),
                                                  channel="POS")
        assert result.ok and len(result.created) == 2
        d1 = a.query("booking", "ref == 'D1'", user="bob", with_children=True)[0]
        assert a.get("contact", d1["contact"], "bob")["code"] == "C2" and len(d1["items"]) == 3


def test_a_failed_document_rolls_back_its_created_lookups(app, tmp_path):
    bad = {"data": {"bookings": [{"id": "Z", "person": {"tel": "777", "name": "Zed"},
                                  "lines": [{"sku": "X1", "n": 0, "unit_cents": 100}]}]}}
    result = app.features["intake"].import_file("alice", "bookings", _write(tmp_path, "z.json", bad), channel="WEB")
    assert result.errors[0].field == "items[0].qty"
    assert app.count("contact", "phone == '777'", user="alice") == 0


def test_bad_map_value_and_missing_key(app, tmp_path):
    docs = {"data": {"bookings": [
        {"id": "M1", "address": {"region": "EAST"}, "person": {"tel": "1"}, "lines": []},
        {"person": {"tel": "1"}, "lines": [{"sku": "X1", "n": 1, "unit_cents": 1}]},
    ]}}
    result = app.features["intake"].import_file("alice", "bookings", _write(tmp_path, "m.json", docs), channel="WEB")
    by_doc = {e.document: e for e in result.errors}
    assert by_doc[1].field == "area" and "unknown value 'EAST'" in by_doc[1].reason
    assert by_doc[2].field == "ref" and "required" in by_doc[2].reason


def test_dry_run_stores_nothing(app, tmp_path):
    result = app.features["intake"].import_file("alice", "bookings", _write(tmp_path, "w.json", NESTED),
                                                channel="WEB", dry_run=True)
    assert len(result.created) == 2 and result.dry_run
    assert app.count("booking", user="alice") == 0 and app.count("contact", user="alice") == 1


def test_caller_transaction_and_small_batches(app, tmp_path):
    path = _write(tmp_path, "w.json", NESTED)
    with app.transaction("alice") as tx:
        result = app.features["intake"].import_file(tx, "bookings", path, channel="WEB")
        assert tx.count("booking") == 2
    assert len(result.created) == 2
    seen = []
    again = app.features["intake"].import_file("alice", "bookings", path, channel="WEB", batch_size=1,
                                               progress=lambda done, total: seen.append((done, total)))
    assert len(again.duplicates) == 2 and seen == [(1, 2), (2, 2)]


def test_usage_errors(app, tmp_path):
    rt = app.features["intake"]
    path = _write(tmp_path, "w.json", NESTED)
    with pytest.raises(UsageError, match="needs a channel"):
        rt.import_file("alice", "bookings", path)
    with pytest.raises(UsageError, match="no source 'NOPE'"):
        rt.import_file("alice", "bookings", path, channel="NOPE")
    with pytest.raises(UsageError, match="reads csv files"):
        rt.import_file("alice", "bookings", path, channel="POS")
    with pytest.raises(Exception, match="no intake 'nope'"):
        rt.import_file("alice", "nope", path, channel="WEB")
    broken = _write(tmp_path, "b.json", "{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        rt.import_file("alice", "bookings", broken, channel="WEB")


def test_cli_import_reports_lines_and_exit_code(app, make_app, db_url, tmp_path, capsys):
    folder = make_app(APP)  # the same app, on the database the fixture filled
    path = _write(tmp_path, "pos.csv", "booking no,contact code,article,quantity\nK1,C1,X1,1\nK2,C1,X9,1\n")
    rc = main(["import", str(folder), "bookings", str(path), "--channel", "POS", "--db", db_url])
    out = capsys.readouterr()
    assert rc == 1
    assert "created 1" in out.out and f"{path}:3 (K2): items[0].article: no article 'X9'" in out.err
    rc = main(["import", str(folder), "bookings", str(path), "--channel", "POS", "--db", db_url])
    out = capsys.readouterr()
    assert "1 duplicate(s)" in out.out and "already imported as BK-00001" in out.out


def test_definition_errors_are_located(make_app):
    files = dict(APP)
    files["intake/bookings.yaml"] = """
        name: bookings
        entity: booking
        channel: {entity: source, field: ref}
        key: [source, nope]
        shapes:
          nested:
            format: json
            fields:
              total: items
              fee: {path: amount, type: decimal, expr: "value + 'x'"}
              contact: {path: p, lookup: {entity: contact, by: mobile}}
          flat:
            format: csv
          flat2:
            format: csv
            group_by: doc
            on_conflict: {nope: first, "*": last}
            fields: {ref: doc, note: remark}
    """
    errors = [str(e) for e in validate_app(make_app(files))]
    text = "\n".join(errors)
    assert "bookings.yaml:3:" in text and "'ref' must be a link to source" in text
    assert "unknown field 'nope' in booking" in text
    assert "'total' is computed" in text
    assert "cannot compute decimal + string" in text and "bookings.yaml:10:" in text
    assert "unknown field 'mobile' in contact" in text
    assert "needs 'group_by'" in text
    assert "column 'nope' is not read for the document (document columns: doc, remark)" in text
    files["intake/bookings.yaml"] = APP["intake/bookings.yaml"].replace(
        "            documents: data.bookings\n", "            documents: data.bookings\n            on_conflict: first\n")
    assert "'on_conflict' applies to csv shapes only" in "\n".join(str(e) for e in validate_app(make_app(files)))


def test_concurrent_imports_of_one_delivery_create_each_document_once(make_app, pg_url, tmp_path):
    import threading

    folder = make_app(APP)
    with open_app(folder, pg_url) as a:
        a.create("source", {"code": "WEB", "layout": "nested"}, "admin")
        a.create("article", {"code": "X1", "price": 1}, "admin")
        a.create("article", {"code": "X2", "price": 1}, "admin")
    docs = {"data": {"bookings": [{"id": f"R{i}", "person": {"tel": f"9{i}", "name": "N"},
                                   "lines": [{"sku": "X1", "n": 1, "unit_cents": 100}]} for i in range(40)]}}
    path = _write(tmp_path, "many.json", docs)
    results = []

    def run():
        with open_app(folder, pg_url, sync=False) as a:
            results.append(a.features["intake"].import_file("admin", "bookings", path, channel="WEB", batch_size=5))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results), [r.errors[:3] for r in results]
    assert sum(len(r.created) for r in results) == 40
    assert sum(len(r.duplicates) for r in results) == 80
    with open_app(folder, pg_url, sync=False) as a:
        assert a.count("booking", user="admin") == 40
