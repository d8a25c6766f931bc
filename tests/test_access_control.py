"""Default deny, the implicit role ``everyone``, and field rules (hidden, read-only), enforced by the engine
on every path: get, query, count, filters, sort keys, the presenter, exports, audit, reports, drill-down,
writes and the JSON Schema."""

from __future__ import annotations

import json

import pytest

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app
from ordo.engine import NotFound, PermissionDenied, UsageError, ValidationFailed, open_app
from ordo.engine.cli import main
from ordo.engine.present import Presenter
from ordo.forms import FormRenderer, entity_json_schema

APP = {
    "entities/supplier.yaml": """
        name: supplier
        naming: "{code}"
        title_field: supplier_name
        fields:
          code: {type: string, required: true, unique: true}
          supplier_name: {type: string}
          contact: {type: string}
    """,
    "entities/product.yaml": """
        name: product
        naming: "{code}"
        title_field: title
        fields:
          code: {type: string, required: true, unique: true}
          title: {type: string}
          price: {type: money, min: 0}
          cost: {type: money, min: 0}
          supplier: {type: link, entity: supplier}
          margin: {type: computed, expr: "price - cost"}
        validations:
          - {expr: "is_null(cost) or cost <= price", field: cost, message: Cost above price}
    """,
    "entities/sale.yaml": """
        name: sale
        naming: "S-{###}"
        fields:
          product: {type: link, entity: product}
          qty: {type: integer}
    """,
    "entities/box.yaml": """
        name: box
        naming: "B-{###}"
        fields:
          label: {type: string}
          secret: {type: string}
          items: {type: table, entity: box_item}
        split: {table: items}
        merge: {table: items, match: [label, secret]}
        ---
        name: box_item
        child: true
        fields:
          what: {type: string}
    """,
    "entities/note.yaml": """
        name: note
        fields:
          text: {type: string}
    """,
    "reports/costs.yaml": """
        name: costs
        source: product
        dimensions: [supplier]
        measures: [{name: cost, agg: sum, expr: cost}]
    """,
    "reports/catalog.yaml": """
        name: catalog
        source: product
        dimensions: [title]
        measures: [{name: products, agg: count}]
    """,
    "reports/sales.yaml": """
        name: sales
        source: sale
        dimensions: [{name: product, expr: product}]
        measures: [{name: qty, agg: sum, expr: qty}]
    """,
    "roles.yaml": """
        roles:
          admin: {users: [root]}
          everyone:
            permissions:
              - {entity: product, actions: [read], hidden: [cost, margin, supplier]}
              - {entity: sale, actions: [read, create]}
              - {report: sales, actions: [run]}
              - {report: catalog, actions: [run]}
              - {entity: box, hidden: [secret]}
          seller:
            permissions:
              - {entity: product, actions: [read, update], hidden: [cost, margin, supplier], read_only: [price]}
          buyer:
            permissions:
              - {entity: product, actions: [read, create, update]}
              - {entity: supplier, actions: [read]}
              - {report: costs}
          pricing:
            permissions:
              - {entity: product, actions: [update]}
    """,
}


@pytest.fixture
def app(make_app, db_url):
    a = open_app(make_app(APP), db_url)
    with a.users("root") as users:
        for name, roles in (("sam", []), ("sel", ["seller"]), ("bea", ["buyer"]), ("pia", ["seller", "pricing"])):
            users.save(name)
            for r in roles:
                users.grant(name, r)
    with a.transaction("root") as tx:
        tx.create("supplier", {"code": "SUP", "supplier_name": "Secret Supplies", "contact": "x"})
        tx.create("product", {"code": "MUG", "title": "Mug", "price": 10, "cost": 4, "supplier": "SUP"})
        tx.create("product", {"code": "CUP", "title": "Cup", "price": 5, "cost": 3})
        tx.create("sale", {"product": "MUG", "qty": 2})
        tx.create("note", {"text": "only admins"})
    yield a
    a.close()


def test_default_deny_and_everyone(app, make_app, tmp_path):
    perms = app.permissions
    with app.reader("sam") as tx:
        assert perms.entity_actions(tx.user, "product") == {"read"}  # from everyone, implicitly
        assert perms.entity_actions(tx.user, "note") == set() and perms.entity_actions(tx.user, "supplier") == set()
        assert tx.count("note") == 0 and tx.query("note") == []  # no role grants notes
        with pytest.raises(NotFound):
            tx.get("supplier", "SUP")
    with pytest.raises(PermissionDenied):
        app.create("note", {"text": "x"}, "sam")
    with pytest.raises(PermissionDenied):
        app.update("product", "MUG", {"title": "Big mug"}, "sam")
    assert app.create("sale", {"product": "CUP", "qty": 1}, "sam")["qty"] == 1
    with app.reader("bea") as tx:
        assert perms.entity_actions(tx.user, "product") == {"read", "create", "update"}
    # an app without roles (or with only admin) is open to everyone
    for i, roles in enumerate(({}, {"roles.yaml": "roles:\n  admin: {users: [root]}\n"})):
        files = {"entities/note.yaml": APP["entities/note.yaml"], **roles}
        with open_app(make_app(files), f"sqlite:///{tmp_path / f'open{i}.db'}") as other:
            other.create("note", {"text": "hi"}, "anyone")
            assert other.count("note", user="anyone") == 1 and other.permissions.governed is False


def test_hidden_fields_are_never_returned(app):
    assert set(app.get("product", "MUG", "sam")) >= {"price", "title"}
    for user in ("sam", "sel"):
        rec = app.get("product", "MUG", user)
        assert not {"cost", "margin", "supplier"} & set(rec)
        assert all("cost" not in r for r in app.query("product", user=user))
    assert app.get("product", "MUG", "bea")["cost"] == 4  # buyer's own grant hides nothing: cost shown
    with app.reader("sam") as tx:
        assert app.permissions.fields(tx.user, "product") == ({"cost", "margin", "supplier"}, set())
        shown = Presenter(tx, "product")
        assert "cost" not in shown.default_keys()
        text = shown.text(tx.query("product")) + shown.data([tx.load("product", "MUG")])
        assert "cost" not in json.dumps(text, default=str) and "Secret" not in json.dumps(text, default=str)
    with app.reader("bea") as tx:
        assert Presenter(tx, "product", ["code", "supplier", "margin"]).text(tx.query("product", order_by="code"))[1] \
            == {"code": "MUG", "supplier": "Secret Supplies", "margin": 6}


def _message(call) -> str:
    with pytest.raises(UsageError) as e:
        call()
    return str(e.value)


def test_a_hidden_field_is_refused_like_an_unknown_one(app):
    def same(f, hidden_field: str = "cost") -> None:
        hidden, unknown = _message(lambda: f(hidden_field)), _message(lambda: f("nosuch"))
        assert hidden.replace(hidden_field, "X") == unknown.replace("nosuch", "X"), (hidden, unknown)
        assert not {"cost", "margin", "supplier"} & set(hidden.replace(hidden_field, "X").split())

    same(lambda f: app.query("product", f"{f} > 1", user="sam"))
    same(lambda f: app.count("product", f"{f} > 1", user="sam"))
    same(lambda f: app.query("product", order_by=f"-{f}", user="sam"))
    same(lambda f: app.query("sale", f"product.{f} > 1", user="sam"))  # a hidden field of a linked record
    same(lambda f: app.query("sale", f"product.{f}.code == 'SUP'", user="sam"), "supplier")  # through a hidden link
    with app.reader("sam") as tx:
        same(lambda f: Presenter(tx, "product", ["code", f]))
        same(lambda f: Presenter(tx, "sale", [f"product.{f}"]))
        same(lambda f: Presenter(tx, "product", [f"{f}.code"]), "supplier")
    assert len(app.query("product", "cost > 1", user="bea")) == 2  # who may see it may filter on it


def test_read_only_and_hidden_fields_cannot_be_written(app):
    with pytest.raises(ValidationFailed) as e:
        app.update("product", "MUG", {"price": 99}, "sel")
    assert [(err.field, err.message) for err in e.value.errors] == [("price", "is read-only")]
    with pytest.raises(ValidationFailed) as e:
        app.update("product", "MUG", {"cost": 1, "nosuch": 1}, "sel")
    assert [(err.field, err.message) for err in e.value.errors] == [  # hidden = unknown
        ("cost", "unknown field of product"), ("nosuch", "unknown field of product")]
    mug = app.get("product", "MUG", "sel")
    saved = app.update("product", "MUG", {**mug, "title": "Mug 2"}, "sel")  # get -> edit -> update round-trips
    assert saved["title"] == "Mug 2" and "cost" not in saved and app.get("product", "MUG", "root")["cost"] == 4
    # across roles: read-only only when every role granting update says so; hidden only when every read hides
    assert app.update("product", "MUG", {"price": 12}, "pia")["price"] == 12
    assert "cost" not in app.get("product", "MUG", "pia")  # pricing grants no read: seller's rule stands
    with pytest.raises(ValidationFailed) as e:  # a rule's error on a hidden field does not name it
        app.update("product", "CUP", {"price": 1}, "pia")
    assert [(err.field, err.message) for err in e.value.errors] == [("", "Cost above price")]


def test_audit_and_reports_leave_hidden_fields_out(app):
    app.update("product", "MUG", {"cost": 5, "title": "Mug!"}, "root")
    entries = app.audit_log(user="sam", entity="product")
    assert entries and all("cost" not in e.changes and "margin" not in e.changes for e in entries)
    assert entries[0].changes == {"title": ["Mug", "Mug!"]}
    assert "cost" in app.audit_log(user="bea", entity="product")[0].changes
    assert app.audit_log(user="sam", entity="note") == []  # notes are nobody's but the admins'
    reports = app.features["reports"]
    with pytest.raises(PermissionDenied, match="sam may not run report costs$"):  # not granted
        reports.report("costs", user="sam")
    assert reports.report("costs", user="bea").rows
    with app.reader("sam") as tx:
        assert reports.run(tx, "sales").rows[0]["qty"] == 2
        rows = reports.drill_rows(tx, "catalog", {"title": "Cup"})
        assert [r["code"] for r in rows] == ["CUP"] and "cost" not in rows[0] and "supplier" not in rows[0]
    # a granted report that reads a field hidden from the reader is refused, naming no field
    with app.reader("sel") as tx:
        from ordo.engine.reports.run import run as run_report

        with pytest.raises(PermissionDenied, match="reads fields hidden from them") as e:
            run_report(reports.get("costs"), tx)
        assert "cost" not in str(e.value).replace("costs", "")


def test_json_schema_and_forms_show_only_permitted_fields(app, make_app, db_url, capsys):
    with app.reader("sel") as tx:
        schema = entity_json_schema(app.definition, "product", user=tx.user, permissions=app.permissions)
        html = FormRenderer(app.definition).render("product", tx.get("product", "MUG"), user=tx.user,
                                                   permissions=app.permissions)
    assert not {"cost", "margin", "supplier"} & set(schema["properties"])
    assert schema["properties"]["price"]["readOnly"] is True and "readOnly" not in schema["properties"]["title"]
    assert 'name="cost"' not in html and 'name="title"' in html
    full = entity_json_schema(app.definition, "product")
    assert "cost" in full["properties"] and 'name="cost"' in FormRenderer(app.definition).render("product")
    root = str(make_app(APP))
    capsys.readouterr()
    assert main(["form", root, "product", "--json-schema", "--db", db_url, "--user", "sel"]) == 0
    assert "cost" not in json.loads(capsys.readouterr().out)["properties"]
    assert main(["form", root, "product", "--record", "MUG", "--db", db_url, "--user", "sam"]) == 0
    out = capsys.readouterr().out
    assert 'name="price"' in out and 'name="cost"' not in out and "Secret" not in out


@pytest.mark.parametrize("roles, message", [
    ("everyone: {users: [ann]}", "roles.yaml:2:21: role.everyone.users: every user holds the role 'everyone'"),
    ("everyone: {privileges: [manage_users]}", "cannot carry privileges"),
    ("admin: {permissions: [{entity: note}]}", "the role 'admin' takes no permissions"),
    ("r: {permissions: [{entity: note, flow: f}]}", "names exactly one entity, flow, report or decision"),
    ("r: {permissions: [{report: costs, actions: [read]}]}",
     "roles.yaml:2:47: role.r.permissions[0].actions[0]: 'read' is not an action on a report (actions: run, export)"),
    ("r: {permissions: [{report: nope}]}", "unknown report 'nope'"),
    ("r: {permissions: [{report: costs, where: 'x == 1'}]}", "'where' applies to entity permissions only"),
    ("r: {permissions: [{entity: product, hidden: [nope]}]}", "unknown field 'nope' of product"),
    ("r: {permissions: [{entity: product, actions: [update], hidden: [cost]}]}", "'hidden' needs the action read"),
    ("r: {permissions: [{entity: product, actions: [read], read_only: [cost]}]}",
     "'read_only' needs the action create or update"),
])
def test_role_definitions_are_validated(make_app, roles, message):
    files = {**APP, "roles.yaml": f"roles:\n  {roles}\n"}
    with pytest.raises(DefinitionErrors) as e:
        load_app(make_app(files))
    assert message in str(e.value)


def test_split_and_merge_carry_fields_the_user_may_not_see(app):
    box = app.create("box", {"label": "L", "secret": "s1", "items": [{"what": "a"}, {"what": "b"}]}, "root")
    kept, new = app.split("box", box["name"], [box["items"][1]["id"]], "sam")
    assert "secret" not in new and app.get("box", new["name"], "root")["secret"] == "s1"  # copied, not shown
    assert app.merge("box", [kept["name"], new["name"]], "sam")["name"] == box["name"]
    other = app.create("box", {"label": "L", "secret": "s2", "items": [{"what": "c"}]}, "root")
    with pytest.raises(ValidationFailed) as e:  # the records differ in a hidden field: its values unsaid
        app.merge("box", [box["name"], other["name"]], "sam")
    assert [(err.field, err.message) for err in e.value.errors] == [("", "the records differ")]


def test_the_command_line_shows_nothing_hidden(app, make_app, db_url, capsys):
    root = str(make_app(APP))
    app.update("product", "MUG", {"cost": 5}, "root")

    def run(*argv: str, user: str = "sam") -> tuple[int, str, str]:
        code = main([argv[0], root, *argv[1:], "--db", db_url, "--user", user])
        out, err = capsys.readouterr()
        return code, out, err

    capsys.readouterr()
    for fmt in ("csv", "json", "table"):
        code, out, _ = run("query", "product", "--format", fmt)
        assert code == 0 and "MUG" in out and "cost" not in out.lower() and "Secret" not in out
    code, out, _ = run("get", "product", "MUG")
    assert code == 0 and "cost" not in json.loads(out) and "supplier" not in json.loads(out)
    code, out, _ = run("audit", "--entity", "product", "--format", "json")
    assert code == 0 and '"title"' in out and "cost" not in out and "margin" not in out
    hidden = run("query", "product", "--where", "cost > 1")
    unknown = run("query", "product", "--where", "nosuch > 1")
    assert hidden[0] == unknown[0] == 1 and hidden[2].replace("cost", "X") == unknown[2].replace("nosuch", "X")
    assert run("query", "product", "--columns", "code,cost")[2].replace("cost", "X") == \
        run("query", "product", "--columns", "code,nosuch")[2].replace("nosuch", "X")
    code, out, err = run("query", "note")
    assert code == 0 and "only admins" not in out  # default deny: no rows
    code, _, err = run("report", "costs")
    assert code == 1 and "sam may not run report costs" in err
    code, out, _ = run("report", "costs", user="bea")
    assert code == 0 and "5.00" in out and "3.00" in out  # the buyer may see costs
    code, _, err = run("update", "product", "MUG", '{"price": 1}', user="sel")
    assert code == 1 and "price: is read-only" in err
