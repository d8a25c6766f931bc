"""Child rows updated in place are not read again when the database gives their values back as bound."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from ordo.dsl.expr.sqltypes import ExactDecimal
from ordo.engine import open_app
from ordo.engine.stats import count_statements
from ordo.engine.stored_as_given import kept

APP = {
    "entities/order.yaml": """
        name: order
        fields:
          lines: {type: table, entity: order_line}
        ---
        name: order_line
        child: true
        fields:
          item: {type: string}
          qty: {type: integer}
          price: {type: decimal, precision: 18, scale: 2}
          due: {type: date}
          done: {type: boolean}
          info: {type: json}
          amount: {type: computed, expr: "qty * price"}
    """,
}


def test_a_value_comes_back_as_given_only_in_the_plain_cases():
    t = sa.Table("t", sa.MetaData(), sa.Column("d", ExactDecimal(18, 2)), sa.Column("c", ExactDecimal(38, 10, trim=True)),
                 sa.Column("s", sa.String()), sa.Column("i", sa.BigInteger()), sa.Column("j", sa.JSON()),
                 sa.Column("b", sa.Boolean()), sa.Column("w", sa.DateTime()))
    k = kept(t, "sqlite")
    assert k["d"](Decimal("1.50")) and not k["d"](Decimal("1.5")) and not k["d"](Decimal("1234567890123456.78"))
    assert k["c"](Decimal("1.5")) and k["c"](Decimal("7")) and not k["c"](Decimal("7.0")) and not k["c"](1.5)
    assert k["s"]("x") and not k["s"](1) and k["i"](3) and not k["i"](True) and not k["i"](2**64)
    assert not k["j"]({"a": 1}) and k["j"](None) and k["b"](False) and not k["b"](1)
    assert k["w"](dt.datetime(2026, 1, 1)) and not k["w"](dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert kept(t, "postgresql")["d"](Decimal("1234567890123456.78"))


def test_rows_updated_in_place_are_what_a_fresh_read_returns(make_app, db_url):
    with open_app(make_app(APP), db_url) as app:
        rec = app.create("order", {"lines": [{"item": "a", "qty": 2, "price": "1.25", "due": "2026-03-01", "done": False},
                                             {"item": "b", "qty": 1, "price": "3"}]}, "admin")
        ids = [r["id"] for r in rec["lines"]]
        with count_statements(app.engine) as counts:
            out = app.update("order", rec["id"], {"lines": [{"id": ids[0], "qty": 3, "done": True},
                                                            {"id": ids[1], "price": "2.5"}]}, "admin")
        assert not any(t.lstrip().upper().startswith("SELECT") and "order__lines.id IN" in t for t in counts.texts), counts.texts
        assert out["lines"] == app.get("order", rec["id"], "admin")["lines"]
        assert [(r["qty"], r["price"], r["amount"], r["done"]) for r in out["lines"]] == [
            (3, Decimal("1.25"), Decimal("3.75"), True), (1, Decimal("2.50"), Decimal("2.5"), None)]
        with count_statements(app.engine) as counts:  # JSON data: read back as the database keeps it
            out = app.update("order", rec["id"], {"lines": [{"id": ids[0], "info": {"b": 1, "a": [1.5]}},
                                                            {"id": ids[1]}]}, "admin")
        assert any(t.lstrip().upper().startswith("SELECT") and "order__lines.id IN" in t for t in counts.texts)
        assert out["lines"] == app.get("order", rec["id"], "admin")["lines"]
