"""Data migrations declared in definitions (an overlay renaming a field, a value mapping, a type
conversion with a rule): run once at schema sync, recorded, never dropping data silently."""

from __future__ import annotations

import pytest

from ordo.engine import SchemaChangeRefused, open_app
from ordo.engine.cli import main

from .conftest import write_app
from .overlay_apps import BASE, overlay


def cust(tmp_path, files):
    write_app(tmp_path / "base", BASE, "base")
    return write_app(tmp_path / "cust", overlay(files), "cust")


def test_an_overlay_renames_a_field_and_the_records_keep_their_values(tmp_path, db_url, capsys):
    v1 = {"entities/order.yaml": "name: order\nfields:\n  gift_note: {type: text, after: note}\n"}
    app = open_app(cust(tmp_path, v1), db_url)
    for i in range(3):
        app.create("order", {"code": f"A{i}", "gift_note": f"happy birthday {i}", "note": "n"}, "admin")
    app.close()
    v2 = {"entities/order.yaml": """
        name: order
        fields:
          gift_message: {type: text, renamed_from: gift_note, after: note, label: {zh: 赠言}}
    """}
    app = open_app(cust(tmp_path, v2), db_url)
    rows = app.query("order", user="admin", order_by="code")
    assert [(r["code"], r["gift_message"], r["note"]) for r in rows] == [
        ("A0", "happy birthday 0", "n"), ("A1", "happy birthday 1", "n"), ("A2", "happy birthday 2", "n")]
    assert "gift_note" not in rows[0]
    assert app.sync_schema() == []
    app.close()
    url = db_url
    assert main(["migrations", str(tmp_path / "cust"), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "rename   order.gift_message: gift_note -> gift_message" in out


def test_value_mapping_runs_once_and_is_recorded(tmp_path, db_url, capsys):
    app = open_app(cust(tmp_path, {}), db_url)
    for code, status in (("A", "new"), ("B", "done"), ("C", "new")):
        app.create("order", {"code": code, "status": status}, "admin")
    app.close()
    v2 = {"entities/order.yaml": """
        name: order
        fields:
          status:
            options: [{value: new, remove: true}, {value: open, before: done}]
            default: open
            map_values: {new: open}
    """}
    app = open_app(cust(tmp_path, v2), db_url)
    assert [r["status"] for r in app.query("order", user="admin", order_by="code")] == ["open", "done", "open"]
    assert app.sync_schema() == []  # recorded: never again
    app.close()
    main(["migrations", str(tmp_path / "cust"), "--db", db_url])
    assert "map      order.status: {\"new\": \"open\"} (2 row(s))" in capsys.readouterr().out


def test_a_mapping_to_a_value_that_is_not_an_option_is_a_definition_error(tmp_path):
    from ordo.dsl.errors import DefinitionErrors
    from ordo.dsl.loader import load_app

    with pytest.raises(DefinitionErrors, match="cust/entities/order.yaml:3:30: .*map_values.new: 'gone' is not an option"):
        load_app(cust(tmp_path, {"entities/order.yaml": """
            name: order
            fields:
              status: {map_values: {new: gone}}
        """}))


def test_type_conversion_with_a_rule(tmp_path, db_url):
    v1 = {"entities/order.yaml": "name: order\nfields:\n  priority: {type: string}\n"}
    app = open_app(cust(tmp_path, v1), db_url)
    for code, prio in (("A", "high"), ("B", "low"), ("C", None), ("D", "normal")):
        app.create("order", {"code": code, "priority": prio}, "admin")
    app.close()
    rule = """if(:old == 'high', 3, if(:old == 'low', 1, 2))"""
    v2 = {"entities/order.yaml": f"""
        name: order
        fields:
          priority: {{type: integer, converted_from: string, convert: "{rule}"}}
    """}
    app = open_app(cust(tmp_path, v2), db_url)
    assert [r["priority"] for r in app.query("order", user="admin", order_by="code")] == [3, 1, None, 2]
    app.close()


def test_a_conversion_that_would_lose_values_is_refused_and_changes_nothing(tmp_path, db_url):
    v1 = {"entities/order.yaml": "name: order\nfields:\n  priority: {type: string}\n"}
    app = open_app(cust(tmp_path, v1), db_url)
    app.create("order", {"code": "A", "priority": "high"}, "admin")
    app.create("order", {"code": "B", "priority": "7"}, "admin")
    app.close()
    v2 = {"entities/order.yaml": """
        name: order
        fields:
          priority: {type: integer, converted_from: string, convert: "if(:old == 'high', '3', :old)"}
    """}
    v2["entities/order.yaml"] = v2["entities/order.yaml"].replace("'3', :old", "'three', :old")
    with pytest.raises(SchemaChangeRefused, match="cannot convert.*'high'"):
        open_app(cust(tmp_path, v2), db_url)
    app = open_app(cust(tmp_path, v1), db_url)
    assert [r["priority"] for r in app.query("order", user="admin", order_by="code")] == ["high", "7"]
    app.close()


def test_convert_needs_converted_from(tmp_path):
    from ordo.dsl.errors import DefinitionErrors
    from ordo.dsl.loader import load_app

    with pytest.raises(DefinitionErrors, match="'convert' needs 'converted_from"):
        load_app(cust(tmp_path, {"entities/order.yaml": "name: order\nfields:\n  amount: {convert: ':old'}\n"}))
