"""forms.rules: a form's live rules as one script (OrdoForm.register), checked by running the bundle
under Node with ordo-expr.js; fields hidden from the user and rules that read them are left out; what
only the server computes is left out; `ordo form --rules-js` prints the script."""

from __future__ import annotations

import json
import subprocess

import pytest

from ordo.engine import open_app
from ordo.engine.cli import main
from ordo.forms.rules import FormScripts, form_rules, form_script, script_etag

from . import jskit

APP = {
    "entities/order.yaml": """
        name: sales_order
        fields:
          kind: {type: enum, options: [person, company]}
          tax_id: {type: string, visible_if: "kind == 'company'", required_if: "kind == 'company'"}
          locked: {type: boolean}
          note: {type: string, read_only_if: "locked or cost > 100"}
          cost: {type: money}
          customer: {type: link, entity: customer}
          lines: {type: table, entity: order_line}
          total: {type: computed, expr: "round(sum(lines, amount) * (1 - coalesce(customer.rebate, 0)), 2)"}
          grand: {type: computed, expr: "total + coalesce(shipping, 0)"}
          shipping: {type: money}
          margin: {type: computed, expr: "total - cost"}
          others: {type: related, entity: sales_order, where: "customer == parent.customer"}
          history: {type: computed, expr: "count(others)"}
          label: {type: string, visible_if: "history > 0"}
        ---
        name: order_line
        child: true
        fields:
          qty: {type: integer}
          price: {type: money}
          amount: {type: computed, expr: "qty * price"}
          discount: {type: decimal, scale: 2, visible_if: "qty >= 10"}
        ---
        name: customer
        fields:
          rebate: {type: decimal, scale: 2}
          secret: {type: string}
    """,
    "forms/order_form.yaml": """
        name: order_form
        entity: sales_order
        sections:
          - fields: [kind, tax_id, customer, lines, grand, total]
          - fields: [locked, note, cost, margin, shipping, label]
            visible_if: "kind == 'company'"
    """,
    "roles.yaml": """
        roles:
          admin: {users: [root]}
          clerk:
            permissions:
              - {entity: sales_order, actions: [read, create, update], hidden: [cost, margin]}
              - {entity: customer, actions: [read]}
    """,
}

RUN = """
const E = require(process.argv[1]);
global.OrdoForm = {register(name, make) { global.NAME = name; global.R = make(E); }};
require(process.argv[2]);
const env = E.env({link: (entity, key) => key === "C1" ? {rebate: E.num("0.10")} : null});
const row = (qty, price) => ({qty: E.num(qty, true), price: E.num(price)});
const rec = {kind: "company", locked: false, cost: E.num("150"), customer: "C1", shipping: E.num("5.00"),
             lines: [row("3", "19.99"), row("12", "0.50")]};
for (const r of rec.lines) for (const c of R.children.lines.computed) r[c.field] = c.fn(r, env);
for (const c of R.computed) rec[c.field] = c.fn(rec, env);
const out = {name: NAME, computed: R.computed.map(c => [c.field, String(rec[c.field]), c.scale]),
  amounts: rec.lines.map(r => String(r.amount)),
  tax_visible: R.visible.tax_id(rec, env), tax_required: R.required.tax_id(rec, env),
  person_tax_visible: R.visible.tax_id({kind: "person"}, env),
  note_readonly: "note" in R.readonly ? R.readonly.note(rec, env) : null,
  discount_visible: rec.lines.map(r => R.children.lines.visible.discount(r, env)),
  section1: R.sections["1"](rec, env), fields: Object.keys(R.fields), links: R.links,
  has_label_rule: "label" in R.visible};
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from .conftest import write_app

    root = tmp_path_factory.mktemp("rules")
    a = open_app(write_app(root / "app", APP), f"sqlite:///{root / 'a.db'}")
    with a.users("root") as users:
        users.save("cleo")
        users.grant("cleo", "clerk")
    yield a
    a.close()


def _run(script: str, tmp_path) -> dict:
    if jskit.NODE is None:
        pytest.skip("node is not installed")
    path = tmp_path / "rules.js"
    path.write_text(script, encoding="utf-8")
    out = subprocess.run([jskit.NODE, "-e", RUN, str(jskit.RUNTIME), str(path)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_bundle_evaluates_rules_and_computed_fields(app, tmp_path):
    got = _run(form_script(app.definition, "order_form"), tmp_path)
    assert got["name"] == "order_form"
    assert got["amounts"] == ["59.97", "6.00"]
    # computed in dependency order, with the scale the server shows them at; a related aggregate is
    # computed by the database only, so 'history' is not a live rule (nor the visible_if reading it)
    assert got["computed"] == [["total", "59.37", 2], ["grand", "64.37", 2], ["margin", "-90.63", 2]]
    assert got["has_label_rule"] is False
    assert got["tax_visible"] is True and got["tax_required"] is True and got["person_tax_visible"] is False
    assert got["note_readonly"] is True  # cost > 100
    assert got["discount_visible"] == [False, True]
    assert got["section1"] is True
    assert got["links"] == {"customer": {"rebate": {"t": "decimal", "scale": 2}, "secret": {"t": "string"}}}


def test_fields_hidden_from_the_user_and_rules_reading_them_are_left_out(app, tmp_path):
    with app.reader("cleo") as tx:
        data = form_rules(app.definition, "order_form", user=tx.user, permissions=app.permissions)
        script = form_script(app.definition, "order_form", user=tx.user, permissions=app.permissions)
    assert "cost" not in data["fields"] and "margin" not in data["fields"]
    assert "note" not in data["readonly"]  # its read_only_if reads the hidden cost: the server applies it
    assert [c["field"] for c in data["computed"]] == ["total", "grand"]
    assert '"cost"' not in script and "margin" not in script
    got = _run(script, tmp_path)
    assert got["note_readonly"] is None and got["tax_visible"] is True


def test_default_layout_unknown_form_and_etag(app):
    data = form_rules(app.definition, "sales_order")
    assert "others" not in data["fields"] and "lines" in data["children"] and data["sections"] == {}
    with pytest.raises(KeyError):
        form_rules(app.definition, "order_line")  # a child entity has no form of its own
    with pytest.raises(KeyError):
        form_rules(app.definition, "nope")
    a, b = form_script(app.definition, "order_form"), form_script(app.definition, "sales_order")
    assert script_etag(a) == script_etag(a) != script_etag(b)


def test_cli_prints_the_rules_script(app, make_app, tmp_path, capsys):
    root = str(make_app(APP))
    assert main(["form", root, "order_form", "--rules-js"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("/* Ordo form rules") and 'OF.register("order_form"' in out
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    open_app(root, db, create=True).close()
    assert main(["form", root, "order_form", "--rules-js", "--db", db, "--user", "root"]) == 0
    assert '"cost"' in capsys.readouterr().out
    assert main(["form", root, "nope", "--rules-js"]) == 1
    assert "unknown form or entity 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("field, message", [
    ("{type: string, visible_if: \"qty > 'a'\"}", "fields.x.visible_if"),
    ("{type: string, required_if: \"qty + 1\"}", "expected boolean, got integer"),
    ("{type: computed, expr: qty, read_only_if: \"qty > 1\"}", "a computed field cannot have 'read_only_if'"),
    ("{type: string, read_only_if: \"nope\"}", "unknown field 'nope'"),
])
def test_conditions_are_checked_when_the_app_loads(make_app, field, message):
    from ordo.dsl.errors import DefinitionErrors
    from ordo.dsl.loader import load_app

    root = make_app({"entities/e.yaml": f"name: e\nfields:\n  qty: {{type: integer}}\n  x: {field}\n"})
    with pytest.raises(DefinitionErrors) as info:
        load_app(root)
    assert message in str(info.value) and "e.yaml:4" in str(info.value)


def test_a_computed_field_may_be_shown_conditionally(make_app):
    from ordo.dsl.loader import load_app

    root = make_app({"entities/e.yaml": "name: e\nfields:\n  qty: {type: integer}\n"
                                        "  x: {type: computed, expr: qty * 2, visible_if: \"qty > 1\"}\n"})
    assert form_rules(load_app(root), "e")["visible"]["x"].startswith("function (r, env)")


def test_form_scripts_are_built_once_per_field_profile(app, monkeypatch):
    import ordo.forms.rules as rules

    scripts = FormScripts(app.definition)
    calls = []
    real = rules.form_script
    monkeypatch.setattr(rules, "form_script", lambda *a, **k: calls.append(a) or real(*a, **k))
    with app.reader("root") as tx:
        full = scripts.get("order_form", user=tx.user, permissions=app.permissions)
        assert scripts.get("order_form", user=tx.user, permissions=app.permissions) == full
    with app.reader("cleo") as tx:
        clerk = scripts.get("order_form", user=tx.user, permissions=app.permissions)
        scripts.get("order_form", user=tx.user, permissions=app.permissions)
    assert len(calls) == 2 and full != clerk and full[1] == script_etag(full[0])
    with pytest.raises(KeyError):
        scripts.get("nope")
