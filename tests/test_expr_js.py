"""The three back-ends agree: a corpus of expressions evaluated in Python, SQL (SQLite, and PostgreSQL
with ORDO_TEST_PG_URL) and JavaScript (Node, with forms/static/ordo-expr.js) on the same records.

The corpus covers nulls, decimals and money rounding, dates and datetimes, strings (Chinese too), every
function of the catalogue, links (in JavaScript: the linked record as a nested object) and aggregates
over child rows as computed fields use them. Python and JavaScript must agree exactly (decimals are exact
in both); SQL agrees with Python within the tolerance of tests/test_expr_agreement.py (SQLite computes
decimals in binary floating point). Random expressions of test_expr_agreement.py also run in Python and
JavaScript.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordo.dsl.errors import ExpressionError
from ordo.dsl.expr import Clock, Env, Scope, compile_expression
from ordo.dsl.expr.functions import AGGREGATES, FUNCTIONS
from ordo.dsl.expr.sqltypes import sa_type
from ordo.dsl.expr.to_js import JS_FUNCTIONS, BrowserUnsupported, to_js
from ordo.engine import open_app
from ordo.engine.query import TableSource

from . import jskit
from .conftest import PG_URL, pg_schema, write_app
from .test_expr_agreement import _same, expr

pytestmark = pytest.mark.skipif(jskit.NODE is None, reason="node is not installed: the JavaScript back-end "
                                                           "cannot be evaluated (apt-get install nodejs)")

NOW = dt.datetime(2026, 3, 15, 9, 30, 0)

APP = {
    "entities/r.yaml": """
        name: r
        fields:
          i1: {type: integer}
          i2: {type: integer}
          d1: {type: decimal, scale: 2}
          d2: {type: decimal, scale: 2}
          m: {type: money, scale: 3}
          s1: {type: string}
          s2: {type: string}
          b1: {type: boolean}
          t1: {type: date}
          t2: {type: date}
          ts: {type: datetime}
          e: {type: enum, options: [draft, open, closed]}
          lat: {type: decimal, scale: 4}
          lon: {type: decimal, scale: 4}
          p: {type: link, entity: p}
          kids: {type: table, entity: kid}
          lines: {type: table, entity: line}
        ---
        name: p
        fields:
          pi: {type: integer}
          ps: {type: string}
          pm: {type: money}
          q: {type: link, entity: q}
          rs: {type: related, entity: r, where: "p == parent.id"}
        ---
        name: q
        fields:
          qs: {type: string}
        ---
        name: kid
        child: true
        fields:
          k: {type: integer}
        ---
        name: line
        child: true
        fields:
          qty: {type: integer}
          price: {type: money}
          disc: {type: decimal, scale: 2}
          sku: {type: string}
    """,
}

_STRINGS = ["", "a", "ab", " b ", "Ab", "cab", "订单", "华东 仓", "Ünïcode", "a\"b'<c>", "客户A"]


def _records(rng: random.Random) -> list[dict]:
    def maybe(v):
        return None if rng.random() < 0.2 else v

    out = [
        # the money-rounding edge cases: halves at the third decimal, negative halves
        {"d1": Decimal("2.67"), "d2": Decimal("-0.05"), "m": Decimal("2.675"), "i1": 3, "i2": -2,
         "lines": [{"qty": 3, "price": Decimal("19.99"), "disc": Decimal("0.15"), "sku": "A"},
                   {"qty": 7, "price": Decimal("0.35"), "disc": None, "sku": "订单"}]},
        {"d1": Decimal("-2.5"), "d2": Decimal("0.5"), "m": Decimal("-1.005"), "s1": "订单", "s2": "订",
         "lines": [{"qty": None, "price": Decimal("5"), "disc": Decimal("0.10"), "sku": None}]},
        {},  # every field null, no rows
    ]
    for _ in range(14):
        out.append({
            "i1": maybe(rng.randint(-20, 20)),
            "i2": maybe(rng.randint(-5, 5)),
            "d1": maybe(Decimal(rng.randint(-80, 80)) / 4),
            "d2": maybe(Decimal(rng.randint(-8, 8)) / 4),
            "m": maybe(Decimal(rng.randint(-4000, 4000)) / 100),
            "s1": maybe(rng.choice(_STRINGS)),
            "s2": maybe(rng.choice(["", "a", "b", "ab", "订", "单"])),
            "b1": maybe(rng.random() < 0.5),
            "t1": maybe(dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(-400, 400))),
            "t2": maybe(dt.date(2024, 2, 28) + dt.timedelta(days=rng.randint(-40, 40))),
            "ts": maybe(dt.datetime(2026, 3, 1, 0, 0) + dt.timedelta(minutes=15 * rng.randint(-3000, 3000))),
            "e": maybe(rng.choice(["draft", "open", "closed"])),
            "lat": maybe(Decimal(rng.randint(-900, 900)) / 10),
            "lon": maybe(Decimal(rng.randint(-1800, 1800)) / 10),
            "p": maybe(rng.choice(["P1", "P2", "P3"])),
            "kids": [{"k": maybe(rng.randint(-3, 6))} for _ in range(rng.randint(0, 3))],
            "lines": [{"qty": maybe(rng.randint(0, 9)), "price": maybe(Decimal(rng.randint(0, 2000)) / 4),
                       "disc": maybe(Decimal(rng.randint(0, 4)) / 4), "sku": maybe(rng.choice(_STRINGS))}
                      for _ in range(rng.randint(0, 3))],
        })
    return out


@pytest.fixture(scope="module")
def node():
    n = jskit.Node()
    yield n
    n.close()


@pytest.fixture(scope="module", params=["sqlite", "pg"])
def world(request, tmp_path_factory):
    """The app, its stored records (links as ids), the same records with links as nested objects (what
    the browser holds), and a Python environment that loads links."""
    with contextlib.ExitStack() as stack:
        if request.param == "pg":
            if not PG_URL:
                pytest.skip("ORDO_TEST_PG_URL not set")
            url = stack.enter_context(pg_schema())
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('js') / 'a.db'}"
        app = open_app(write_app(tmp_path_factory.mktemp("app"), APP), url)
        stack.callback(app.close)
        app.create("q", {"name": "Q1", "qs": "华南"}, "t")
        for name, pi, ps, pm, q in (("P1", 1, "x", Decimal("10.50"), "Q1"), ("P2", None, "客户", None, None),
                                    ("P3", -4, None, Decimal("-0.01"), "Q1")):
            app.create("p", {"name": name, "pi": pi, "ps": ps, "pm": pm, "q": q}, "t")
        for rec in _records(random.Random(7)):
            app.create("r", rec, "t")
        with app.reader("t") as tx:
            stored = tx.query("r", limit=None, with_children=True)
            env = tx.env
            qs = {q["id"]: q for q in tx.query("q", limit=None)}
            ps = {p["id"]: p for p in tx.query("p", limit=None)}
        links = {**{("q", k): v for k, v in qs.items()}, **{("p", k): v for k, v in ps.items()}}
        env = Env(link=lambda entity, key: links.get((entity, key)), clock=Clock(NOW))
        nested_p = {k: {**v, "q": qs.get(v["q"])} for k, v in ps.items()}
        browser = [{**rec, "p": nested_p.get(rec["p"])} for rec in stored]
        yield app, stored, browser, env


def _evaluate(world, node, text: str) -> None:
    app, stored, browser, env = world
    compiled = compile_expression(text, Scope(app.definition.schema, "r"))
    table = app.compiled.entity("r").table
    sql = compiled.to_sql(TableSource(app.compiled, "r", table), clock=lambda: Clock(NOW))
    sql = sa.type_coerce(sql, sa_type(compiled.type))
    with app.engine.connect() as conn:
        from_sql = dict(conn.execute(sa.select(table.c.id, sql.label("v"))).all())
    from_js = node.evaluate(to_js(compiled.tree), browser, NOW)
    for rec, js in zip(stored, from_js, strict=True):
        py = compiled(rec, env)
        assert _js_same(py, js), f"{text!r} on record {rec['id']}: python={py!r} javascript={js!r}"
        if app.engine.dialect.name == "sqlite" and text in SQLITE_DIFFERS:
            continue
        assert _same(py, from_sql[rec["id"]]), (
            f"{text!r} on record {rec['id']}: python={py!r} sql={from_sql[rec['id']]!r}")


def _js_same(py, js) -> bool:
    if isinstance(py, bool) or isinstance(js, bool):
        return py is js
    if isinstance(py, (int, Decimal)) and not isinstance(py, bool):
        return isinstance(js, (int, Decimal)) and Decimal(py) == Decimal(js)
    return type(py) is type(js) and py == js


CORPUS = [
    # nulls and three-valued logic
    "i1 + i2", "d1 * null", "null == null", "i1 == null", "b1 and i1 > 0", "b1 or i1 > 0", "not b1",
    "i1 in [1, 2, null]", "s2 not in ['a', '订']", "coalesce(i1, i2, 0)", "coalesce(s1, p.ps, '无')",
    "is_null(d1)", "is_blank(s1)", "if(b1, d1, d2)", "if(i1 > 0, 'pos', if(i1 < 0, 'neg', null))",
    # decimals and money rounding
    "m * 3", "m / 3", "round(m, 2)", "round(m, 1)", "round(m)", "round(d1 / 3, 2)", "round(m * 1.15, 2)",
    "round(-2.5)", "round(2.675, 2)", "round(-1.005, 2)", "round(d1, i2)", "d1 / d2", "i1 / i2", "i1 % 3",
    "-m", "abs(m)", "abs(i1)", "floor(d1)", "ceil(d1)", "floor(-0.5)", "sqrt(d1)", "sqrt(i1 * i1 + 2)",
    "min(d1, d2)", "max(i1, i2, 0)", "min(s1, s2)", "max(t1, t2)", "0.1 + 0.2 == 0.3", "m >= 10.5",
    "d1 + i1 * 0.25", "distance(lat, lon, 31.2304, 121.4737)", "distance(0, 0, lat, lon)",
    # dates and datetimes
    "t1 + 30", "t1 - 7", "t2 - t1", "days_between(t1, t2)", "add_days(t2, i2)", "year(t1)", "month(t2)",
    "day(t1)", "t1 < t2", "t1 == @2026-01-01", "today()", "today() - t1", "now()", "year(now())",
    "date(ts)", "ts + 1", "ts - 0.5", "ts - @2026-03-01T00:00", "ts > now()", "day(ts)",
    "add_days(@2024-02-28, 1)", "@9999-12-31 + 1", "@0001-01-01 - 1",
    # strings, Chinese included
    "len(s1)", "lower(s1)", "upper(s1)", "trim(s1)", "contains(s1, s2)", "starts_with(s1, '订')",
    "ends_with(s1, 'b')", "concat(s1, '-', s2)", "s1 + '/' + s2", "substr(s1, 2)", "substr(s1, 1, 1)",
    "substr(s1, i2, 2)", "replace(s1, 'a', '甲')", "replace(s1, ' ', '')", "s1 < s2", "s1 == '订单'",
    "e == 'open'", "e in ['draft', 'open']", "'单价' + coalesce(s2, '')",
    # links: dotted paths (two levels)
    "p.pi", "p.ps", "p.pm * 2", "p.q.qs", "coalesce(p.q.qs, '?')", "is_null(p)", "p.pi + i1",
    "contains(p.q.qs, '南')",
    # aggregates over child rows, as computed fields use them
    "sum(lines, qty * price)", "sum(lines, round(qty * price * (1 - coalesce(disc, 0)), 2))",
    "count(lines)", "count(lines, qty > 3)", "avg(lines, price)", "min(lines, price)", "max(lines, sku)",
    "any(lines, sku == '订单')", "all(lines, qty > 0)", "sum(kids, k) / count(kids)", "max(kids, k)",
    "sum(lines, qty) + sum(kids, k)", "count(lines, contains(sku, 'A'))",
]

# Known differences of SQLite (docs/forms.md): binary floating point for decimals and
# case mapping of ASCII letters only. Python and JavaScript still agree on them, as does PostgreSQL.
SQLITE_DIFFERS = {"0.1 + 0.2 == 0.3", "lower(s1)", "upper(s1)"}


@pytest.mark.parametrize("text", CORPUS)
def test_python_sql_and_javascript_agree(world, node, text):
    _evaluate(world, node, text)


def test_corpus_uses_every_function():
    """Every function and aggregate of the catalogue is in the corpus (changed() only exists while a
    write is checked, decide() runs decision tables on the server: both are refused in the browser, see
    test_unsupported_in_the_browser)."""
    used = " ".join(CORPUS)
    missing = [name for name in [*FUNCTIONS, *AGGREGATES] if name not in ("changed", "decide")
               and f"{name}(" not in used]
    assert missing == []
    assert set(FUNCTIONS) <= JS_FUNCTIONS


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@SETTINGS
@given(text=st.one_of(expr("bool"), expr("int"), expr("dec"), expr("str"), expr("date")))
def test_random_expressions_agree_in_python_and_javascript(world, node, text):
    app, stored, browser, env = world
    compiled = compile_expression(text, Scope(app.definition.schema, "r"))
    from_js = node.evaluate(to_js(compiled.tree), browser, NOW)
    for rec, js in zip(stored, from_js, strict=True):
        py = compiled(rec, env)
        assert _js_same(py, js), f"{text!r} on record {rec['id']}: python={py!r} javascript={js!r}"


@pytest.mark.parametrize("scope_kw, text, message", [
    ({"changes": True}, "changed('d1')", "changed() is known only while a write is checked"),
    ({}, "sum(p.rs, i1)", "sum() over related records 'p.rs' is computed by the database"),
])
def test_unsupported_in_the_browser(world, scope_kw, text, message):
    app = world[0]
    compiled = compile_expression(text, Scope(app.definition.schema, "r", **scope_kw))
    with pytest.raises(BrowserUnsupported, match=re.escape(message)) as info:
        to_js(compiled.tree, text=text)
    assert isinstance(info.value, ExpressionError) and info.value.column == 1


def test_string_literals_cannot_break_out_of_the_script(world, node):
    """A literal closing the script tag or the string stays text (no user text becomes code)."""
    app, stored, browser, env = world
    text = "'</script><script>alert(1)</script>' + \"\\\" + '\u2028'\""
    compiled = compile_expression(text, Scope(app.definition.schema, "r"))
    src = to_js(compiled.tree)
    assert "</script" not in src and "\u2028" not in src
    assert node.evaluate(src, browser[:1], NOW) == [compiled(stored[0], env)]


INPUTS = {
    "decimal": ["12.50", "-0.5", ".5", "5.", "1e3", "1.5E-2", " 7 ", "abc", "1.2.3", "", "1e99", "0012.0"],
    "integer": ["12", "-3", "+4", "007"],
    "date": ["2026-01-02", "2024-02-29", "2026-02-30", "2026-13-01", "0001-01-01", "9999-12-31", "2026-1-2"],
    "datetime": ["2026-01-02T10:30", "2026-01-02T10:30:15", "2026-01-02T24:00", "2026-01-02T10:30:15.5"],
}


def test_input_text_reads_as_the_server_coerces_it(tmp_path):
    """What ordo-form.js reads from an input (E.num, E.date, E.datetime) is what the server stores for
    the same text, or null where the server refuses the text."""
    import json
    import subprocess

    from ordo.dsl.entity import FieldDef
    from ordo.engine.coerce import CoercionError, coerce

    script = """
const E = require(process.argv[1]);
const inputs = JSON.parse(process.argv[2]);
const out = {};
for (const [t, list] of Object.entries(inputs)) out[t] = list.map(v => {
  const x = t === "date" ? E.date(v) : t === "datetime" ? E.datetime(v) : E.num(v, t === "integer" ? true : false);
  return x === null ? null : String(x);
});
console.log(JSON.stringify(out));
"""
    run = subprocess.run([jskit.NODE, "-e", script, str(jskit.RUNTIME), json.dumps(INPUTS)], capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    for t, texts in INPUTS.items():
        f = FieldDef(type=t)
        for text, js in zip(texts, got[t], strict=True):
            try:
                py = coerce(f, text)
            except CoercionError:
                py = None
            if py is None:
                assert js is None, (t, text, js)
            elif t == "decimal":
                assert Decimal(js) == py, (t, text, js, py)
            elif t == "integer":
                assert int(js) == py, (t, text, js, py)
            else:
                assert js is not None and type(py).fromisoformat(js) == py, (t, text, js, py)
