"""Related fields: aggregates over records of another entity, computed by the database,
usable in computed fields, validations and filters (e.g. risk rules)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine import ValidationFailed, open_app

APP = {
    "entities/client.yaml": """
        name: client
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          purchases:
            type: related
            entity: purchase
            where: "client == parent.id and state != 'void'"
    """,
    "entities/purchase.yaml": """
        name: purchase
        fields:
          client: {type: link, entity: client, required: true}
          phone: {type: string}
          amount: {type: money, required: true}
          state: {type: enum, options: [open, void], default: open}
          same_phone:
            type: related
            entity: purchase
            where: "phone == parent.phone and id != parent.id"
          earlier_from_phone: {type: computed, expr: "count(same_phone)"}
          everyone: {type: related, entity: client, where: "code != ''"}
          clients: {type: computed, expr: "count(everyone)"}
          unusual: {type: computed, expr: "count(client.purchases) >= 2 and amount > 3 * avg(client.purchases, amount)"}
        validations:
          - expr: "count(same_phone, amount > 900) < 2"
            message: too many large purchases from this phone
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    a.create("client", {"code": "A"}, "u")
    a.create("client", {"code": "B"}, "u")
    yield a
    a.close()


def test_aggregates_over_related_records_in_computed_fields(app):
    app.create("purchase", {"client": "A", "phone": "1", "amount": 100}, "u")
    app.create("purchase", {"client": "A", "phone": "1", "amount": 120}, "u")
    big = app.create("purchase", {"client": "A", "phone": "2", "amount": 1000}, "u")
    assert big["unusual"] is True  # 1000 > 3 x avg(100, 120)
    again = app.create("purchase", {"client": "A", "phone": "1", "amount": 10}, "u")
    assert again["earlier_from_phone"] == 2 and again["unusual"] is False


def test_related_condition_and_validation(app):
    first = app.create("purchase", {"client": "B", "phone": "9", "amount": 950}, "u")
    app.create("purchase", {"client": "B", "phone": "9", "amount": 990}, "u")
    with pytest.raises(ValidationFailed, match="too many large purchases"):
        app.create("purchase", {"client": "B", "phone": "9", "amount": 5}, "u")
    app.update("purchase", first["id"], {"state": "void"}, "u")  # void ones no longer count for the client
    assert app.query("client", "count(purchases) == 1", user="u")[0]["code"] == "B"


def test_filters_on_related_aggregates_run_in_sql(app):
    for client, amount in (("A", 5), ("A", 7), ("B", 100)):
        app.create("purchase", {"client": client, "phone": client, "amount": amount}, "u")
    rows = app.query("client", "sum(purchases, amount) > 10", user="u")
    assert [r["code"] for r in rows] == ["A", "B"]
    rows = app.query("client", "all(purchases, amount < 50) and any(purchases, amount > 6)", user="u")
    assert [r["code"] for r in rows] == ["A"]
    assert app.query("purchase", "count(client.purchases) == 1", user="u")[0]["amount"] == Decimal("100")


def test_related_fields_cannot_be_written_and_are_checked(app, make_app):
    with pytest.raises(ValidationFailed, match="computed"):
        app.create("purchase", {"client": "A", "amount": 1, "same_phone": []}, "u")
    bad = {**APP, "entities/client.yaml": APP["entities/client.yaml"].replace("parent.id", "parent.idd")}
    with pytest.raises(DefinitionErrors, match="unknown field 'idd' in client"):
        load_app(make_app(bad))


def test_an_aggregate_over_a_whole_table_is_read_once_per_transaction(app):
    """``count(everyone)`` does not depend on the purchase: it is read once in a transaction that writes
    purchases (and again once a client is written)."""
    from ordo.engine.stats import count_statements

    def client_counts(texts: list[str]) -> int:
        return sum(1 for t in texts if "count(" in t and "FROM client" in t)

    with count_statements(app.engine) as c, app.transaction("u") as tx:
        first = tx.create("purchase", {"client": "A", "phone": "7", "amount": 5})
        tx.update("purchase", first["id"], {"amount": 6})
        second = tx.create("purchase", {"client": "B", "phone": "8", "amount": 5})
    assert first["clients"] == second["clients"] == 2
    assert client_counts(c.texts) == 1, c.texts
    with count_statements(app.engine) as c, app.transaction("u") as tx:
        tx.create("client", {"code": "C"})
        assert tx.create("purchase", {"client": "C", "amount": 1})["clients"] == 3
        assert tx.update("purchase", first["id"], {"amount": 7})["clients"] == 3
    assert client_counts(c.texts) == 1, c.texts
