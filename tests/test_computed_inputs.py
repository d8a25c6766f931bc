"""Computed fields on update: recomputed when an input changes, kept when none does (inputs compiled once per
field); a field reading a linked record, a related field or the clock is computed on every write."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ordo.dsl.expr import Clock
from ordo.engine import open_app

FILES = {"entities/o.yaml": """
    name: cust
    fields:
      level: {type: enum, options: [normal, vip], default: normal}
    ---
    name: o
    fields:
      cust: {type: link, entity: cust}
      note: {type: string}
      fee: {type: money, default: 0}
      lines: {type: table, entity: l}
      subtotal: {type: computed, expr: "sum(lines, amount)"}
      total: {type: computed, expr: "subtotal + fee"}
      label: {type: computed, expr: "concat(note, ':', if(total > 7, 'big', 'small'))"}
      vip: {type: computed, expr: "cust.level == 'vip'"}
      late: {type: computed, expr: "day(today()) > 16"}
      any_cheap: {type: computed, expr: "any(lines, cheap)"}
    ---
    name: l
    child: true
    fields:
      qty: {type: integer}
      price: {type: money}
      amount: {type: computed, expr: "qty * price"}
      cheap: {type: computed, expr: "price < 5"}
"""}


def test_inputs_compiled_once_per_field(make_app, db_url):
    with open_app(make_app(FILES), db_url) as app:
        fields = app.compiled.entities["o"].fields
        assert fields["subtotal"].inputs == {"lines"}
        assert fields["total"].inputs == {"subtotal", "fee"}
        assert fields["label"].inputs == {"note", "total"}
        assert fields["vip"].inputs is None  # reads the linked record
        assert fields["late"].inputs is None  # reads the clock
        assert app.compiled.entities["l"].fields["amount"].inputs == {"qty", "price"}


def test_update_recomputes_what_an_input_change_reaches_and_every_volatile_field(make_app, db_url):
    clock = Clock(dt.datetime(2026, 3, 15, 10, 0))
    with open_app(make_app(FILES), db_url, clock=clock) as app:
        app.create("cust", {"name": "c1"}, "admin")
        o = app.create("o", {"cust": "c1", "note": "a", "lines": [{"qty": 2, "price": "3.00"}]}, "admin")
        assert (o["total"], o["label"], o["vip"], o["late"], o["any_cheap"]) == (Decimal("6"), "a:small", False,
                                                                              False, True)
        app.update("cust", "c1", {"level": "vip"}, "admin")
        clock.fixed = dt.datetime(2026, 3, 17)
        o = app.update("o", o["id"], {"note": "b"}, "admin")  # no input of total changes; vip and late do
        assert (o["total"], o["label"], o["vip"], o["late"]) == (Decimal("6"), "b:small", True, True)
        o = app.update("o", o["id"], {"fee": "1.50"}, "admin")  # total, then label
        assert (o["total"], o["label"]) == (Decimal("7.50"), "b:big")
        line = dict(o["lines"][0], price="10.00")
        o = app.update("o", o["id"], {"lines": [line]}, "admin")  # the rows, then everything above them
        assert (o["lines"][0]["amount"], o["lines"][0]["cheap"], o["subtotal"], o["total"], o["label"],
                o["any_cheap"]) == (Decimal("20"), False, Decimal("20"), Decimal("21.50"), "b:big", False)
        assert app.get("o", o["id"], "admin")["total"] == Decimal("21.50")
