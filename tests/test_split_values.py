"""`split.values`: fields of the split-off record computed from the original (e.g. a unique reference),
and splitting/merging rows that have computed fields."""

from __future__ import annotations

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine import open_app

APP = {
    "entities/ticket.yaml": """
        name: ticket
        fields:
          ref: {type: string, required: true, unique: true}
          state: {type: enum, options: [open, merged], default: open}
          origin: {type: link, entity: ticket}
          children: {type: related, entity: ticket, where: "origin == parent.id"}
          fee: {type: decimal, scale: 2, default: 5}
          merged_from: {type: text}
          items: {type: table, entity: ticket_item, required: true}
        split:
          table: items
          quantity: qty
          origin_field: origin
          values:
            ref: "concat(ref, '/', substr('ABCDEFGH', count(children) + 1, 1))"
            fee: "0"
        merge: {table: items, match: [state], when: "state == 'open'", names_field: merged_from,
                mark: {state: merged}}
        ---
        name: ticket_item
        child: true
        fields:
          what: {type: string}
          qty: {type: integer, min: 1}
          price: {type: decimal, scale: 2, default: 1}
          amount: {type: computed, expr: "qty * price"}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    yield a
    a.close()


def test_split_values_make_the_new_record_distinct(app):
    t = app.create("ticket", {"ref": "R1", "items": [{"what": "a", "qty": 3}, {"what": "b", "qty": 1}]}, "u")
    kept, first = app.split("ticket", t["id"], [{"id": t["items"][0]["id"], "qty": 1}], "u")
    assert (first["ref"], first["fee"], first["origin"]) == ("R1/A", 0, t["id"])
    assert [(i["qty"], i["amount"]) for i in kept["items"]] == [(2, 2), (1, 1)]
    _, second = app.split("ticket", t["id"], [kept["items"][1]["id"]], "u")
    assert second["ref"] == "R1/B" and app.get("ticket", t["id"], "u")["fee"] == 5
    merged = app.merge("ticket", [t["id"], first["id"], second["id"]], "u")
    assert [(i["what"], i["qty"]) for i in merged["items"]] == [("a", 2), ("a", 1), ("b", 1)]


def test_split_values_are_checked(make_app):
    bad = {"entities/ticket.yaml": APP["entities/ticket.yaml"].replace('fee: "0"', 'fee: "\'free\'"').replace(
        "ref: \"concat", "nope: \"concat")}
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app(bad))
    assert "'nope' is not a stored field of ticket" in str(e.value)
    assert "split.values.fee" in str(e.value)
