"""Flows started from records other flows wrote (trigger.from_flows), bounded nesting, and flow writes not bound
by editable_if (which guards people's edits)."""

from __future__ import annotations

import pytest

from ordo.engine import open_app
from ordo.engine.errors import OrdoError

FILES = {
    "entities/doc.yaml": """
        name: doc
        fields:
          state: {type: enum, options: [open, done], default: open}
          total: {type: integer, default: 0, editable_if: "state == 'open'"}
          lines: {type: table, entity: doc_line}
        ---
        name: doc_line
        child: true
        fields:
          qty: {type: integer, required: true}
          booked: {type: integer, default: 0}
        ---
        name: entry
        fields:
          doc: {type: link, entity: doc, required: true}
          qty: {type: integer, required: true}
          line: {type: integer}
    """,
    "flows/doc.yaml": """
        name: doc_flow
        entity: doc
        trigger: {on: update, when: "state == 'done'"}
        nodes:
          book:
            type: action
            set: {total: "sum(lines, qty)"}
            create: {entity: entry, for_each: lines, values: {doc: "id", qty: "row.qty", line: "row.id"}}
            next: end
          end: {type: end}
    """,
    "flows/entry.yaml": """
        name: entry_flow
        entity: entry
        trigger: {on: create, from_flows: CASCADE}
        nodes:
          post:
            type: action
            update: {entity: doc, where: "id == record.doc", rows: {table: lines, where: "id == record.line", set: {booked: "booked + record.qty"}}}
            next: end
          end: {type: end}
    """,
}


def _app(make_app, db_url, cascade):
    files = {**FILES, "flows/entry.yaml": FILES["flows/entry.yaml"].replace("CASCADE", cascade)}
    return open_app(make_app(files), db_url)


def test_flows_start_from_records_other_flows_create_only_when_declared(make_app, db_url):
    for cascade, booked in (("true", [2, 3]), ("false", [0, 0])):
        app = _app(make_app, db_url, cascade)
        doc = app.create("doc", {"lines": [{"qty": 2}, {"qty": 3}]}, "alice")
        app.update("doc", doc["id"], {"state": "done"}, "alice")
        rec = app.get("doc", doc["id"], "alice")
        # the flow set `total` although editable_if no longer held: it guards people's edits, not flows'
        assert rec["total"] == 5 and [ln["booked"] for ln in rec["lines"]] == booked
        assert len(app.query("entry", "doc == :d", params={"d": doc["id"]}, user="alice")) == 2
        with pytest.raises(OrdoError, match="cannot be changed now"):
            app.update("doc", doc["id"], {"total": 7}, "alice")
        app.close()


def test_a_cycle_of_flows_started_from_flows_is_refused(make_app, db_url):
    files = {
        "entities/ping.yaml": """
            name: ping
            fields: {n: {type: integer, default: 0}}
        """,
        "flows/ping.yaml": """
            name: ping_flow
            entity: ping
            trigger: {on: create, from_flows: true}
            nodes:
              again: {type: action, create: {entity: ping, values: {n: "n + 1"}}, next: end}
              end: {type: end}
        """,
    }
    app = open_app(make_app(files), db_url)
    with pytest.raises(OrdoError, match="nest deeper"):
        app.create("ping", {}, "alice")
    assert app.query("ping", user="alice") == []               # nothing kept
    app.close()
