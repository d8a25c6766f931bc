"""How allocation reads and writes: the lines' candidates in one statement, names per size, the supply's
computed fields written by the reserving UPDATE (and again when the row changed since it was read)."""

from __future__ import annotations

import pytest

from ordo.engine.allocation.candidates import bind_values, sized
from ordo.engine.allocation.reservation import reserve
from ordo.engine.stats import count_statements

from .test_allocation import STOCK, allocate, open_shop, order, picked, reserved


@pytest.fixture
def shop(make_app, db_url):
    apps = []

    def make(stock, **rule):
        apps.append(open_shop(make_app, db_url, stock, **rule))
        return apps[-1]

    yield make
    for a in apps:
        a.close()


def test_sizes_and_padding():
    assert [sized(n) for n in (1, 2, 8, 9, 16, 17)] == [1, 2, 8, 16, 16, 24]
    assert bind_values("i", [4, 5]) == {"i0": 4, "i1": 5}
    assert bind_values("i", list(range(9))) == {**{f"i{k}": k for k in range(9)}, **{f"i{k}": 8 for k in range(9, 16)}}


def test_lines_read_their_candidates_in_one_statement(shop):
    app = shop(STOCK, strategy="per_line")
    oid = order(app, ("P1", 2), ("P2", 3), ("P1", 1))  # two lines share an item (and its supply rows)
    with count_statements(app.engine) as counts:
        result = allocate(app, oid)
    assert result.status == "allocated"
    assert picked(result) == [("P1", "A", 1), ("P1", "A", 2), ("P2", "B", 3)]
    candidates = [t for t in counts.texts if t.startswith("SELECT") and "FROM stock" in t and "reserved" in t]
    assert len(candidates) == 1, candidates
    stock = {(r["site"], r["product"]): r for r in app.query("stock", user="admin")}
    assert all(r["free"] == r["on_hand"] - r["reserved"] for r in stock.values())  # written by the reservation
    assert stock[(1, 1)]["reserved"] == 3 and stock[(1, 1)]["version"] == 3  # one supply row, reserved twice


def test_a_filter_reading_the_line_reads_candidates_per_line(shop):
    app = shop(STOCK, strategy="per_line", where="site.active and on_hand >= 5 * line.qty")
    rule = app.features["allocation"].rule("fulfil")
    assert rule.by_line
    result = allocate(app, order(app, ("P1", 2), ("P2", 1)))
    assert picked(result) == [("P1", "A", 2), ("P2", "B", 1)]  # A has 1 P2: not 5 times what line 2 asks


def test_a_supply_row_changed_since_it_was_read_gets_its_computed_fields_again(shop):
    app = shop(STOCK, strategy="per_line")
    rule = app.features["allocation"].rule("fulfil")
    with app.transaction("alice") as tx:
        row = dict(tx.load("stock", 1))
        stale = {**row, "on_hand": row["on_hand"] + 100}  # what a concurrent writer would make of a read
        after = reserve(tx, rule, 1, 2, stale)
    assert after is not None and after["reserved"] == 2
    got = app.get("stock", after["name"], user="admin")
    assert (got["on_hand"], got["reserved"], got["free"]) == (10, 2, 8)
    assert reserved(app) == {("A", "P1"): 2}


def test_release_and_consume_take_a_savepoint_on_postgresql_only(shop):
    app = shop(STOCK, strategy="per_line")
    o1, o2 = order(app, ("P1", 2)), order(app, ("P1", 1))
    assert allocate(app, o1).status == allocate(app, o2).status == "allocated"
    service = app.features["allocation"]
    with count_statements(app.engine) as counts, app.transaction("bob") as tx:
        assert service.release(tx, "fulfil", o1).status == "released"
        assert service.consume(tx, "fulfil", o2).status == "consumed"
    savepoints = [t for t in counts.texts if t.startswith("SAVEPOINT")]
    assert len(savepoints) == (0 if app.engine.dialect.name == "sqlite" else 2)
    stock = {(r["site"], r["product"]): r for r in app.query("stock", user="admin")}
    assert (stock[(1, 1)]["on_hand"], stock[(1, 1)]["reserved"], stock[(1, 1)]["free"]) == (9, 0, 9)


def test_the_candidates_read_each_supply_link_by_one_join(shop):
    app = shop(STOCK, strategy="per_line", where="site.active and site.priority < 99",
               rank="\n          - site.priority\n          - {expr: \"site.lat + site.lon\", label: geo}\n")
    rule = app.features["allocation"].rule("fulfil")
    text = str(rule.candidates_of(2).compile(app.engine))
    assert text.count("SELECT") == 1 and text.count("JOIN site") == 1, text
    result = allocate(app, order(app, ("P1", 2), ("P2", 3)))
    assert picked(result) == [("P1", "A", 2), ("P2", "B", 3)]
