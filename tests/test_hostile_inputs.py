"""Hostile and mistaken input through the public surfaces (CLI, Python API, compile_expression, the
loader): each is refused with an OrdoError (on the CLI: exit 1, one message, no traceback) or
evaluates within 1 s and 100 MB, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import time
import tracemalloc
from decimal import Decimal

import pytest

from ordo.dsl.errors import DefinitionErrors, OrdoError
from ordo.dsl.expr import Scope, compile_expression
from ordo.dsl.loader import load_app
from ordo.engine import SchemaChangeRefused, open_app
from ordo.engine.cli import main

from .conftest import PG_URL, pg_schema, write_app

SECONDS, BYTES = 1.0, 100 * 2**20
CLI_SECONDS = 3.0  # a command also loads the app and connects (slower under tracemalloc)

APP = {
    "entities/e.yaml": """
        name: e
        fields:
          i: {type: integer}
          d: {type: decimal, scale: 2}
          s: {type: text}
          t: {type: date}
          dt: {type: datetime}
          j: {type: json}
          code: {type: string, pattern: "(a+)+$"}
          p: {type: link, entity: e}
    """,
}
BIG = "a" * 50_000


@contextlib.contextmanager
def bounded(seconds: float = SECONDS):
    """The block runs within ``seconds`` of this process's CPU time (not wall-clock time, which other work on
    the machine stretches) and BYTES (peak of Python allocations). The garbage of earlier tests is collected
    first: a full collection of a long-running test worker's heap falling inside the block took 1.6 s."""
    gc.collect()
    tracemalloc.start()
    start = time.process_time()
    try:
        yield
    finally:
        elapsed = time.process_time() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s of CPU"
    assert peak < BYTES, f"peak {peak / 2**20:.0f} MB"


@pytest.fixture(scope="module", params=["sqlite", "pg"])
def hostile(request, tmp_path_factory):
    """(app folder, database URL, app) with a few records, one holding a 50,000-character text."""
    with contextlib.ExitStack() as stack:
        if request.param == "pg":
            if not PG_URL:
                pytest.skip("ORDO_TEST_PG_URL not set")
            url = stack.enter_context(pg_schema())
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'h.db'}"
        folder = write_app(tmp_path_factory.mktemp("app"), APP)
        app = open_app(folder, url)
        stack.callback(app.close)
        app.create("e", {"i": 1, "d": "2.50", "s": "ab", "t": "2026-01-31", "dt": "2026-01-31T10:00"}, "u")
        app.create("e", {"i": 2, "s": BIG, "t": "9999-12-30", "dt": "0001-01-01T00:00", "p": 1}, "u")
        app.create("e", {}, "u")
        app.query("e", "i > 0", user="u")  # builds the expression parser once, outside the measures
        yield folder, url, app


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- refused on the command line: (arguments after APP, a fragment of the message)
DEEP_JSON = "[" * 100_000 + "]" * 100_000
NESTED = "-(" * 60 + "i" + ")" * 60
PARENS = "(" * 300 + "i" + ")" * 300
LINKS = "p." * 12 + "i"
GROWS = 'replace(replace(replace(s, "a", "{x}"), "a", "{x}"), "a", "{x}") != ""'.replace("{x}", "a" * 200)
MINS = "i" + "".join(f", {k})" for k in range(16))
CLI_REFUSED = [
    (["get", "e", "99999999999999999999"], "out of range"),
    (["delete", "e", "99999999999999999999"], "out of range"),
    (["update", "e", "99999999999999999999", "{}"], "out of range"),
    (["create", "e", '{"i": 9223372036854775808}'], "i: whole number out of range"),
    (["create", "e", '{"i": -9223372036854775809}'], "i: whole number out of range"),
    (["create", "e", '{"i": "1e5000"}'], "i: number out of range"),
    (["create", "e", '{"i": "1e-5000"}'], "i: number out of range"),
    (["create", "e", '{"i": 1e5000}'], "not a finite number"),
    (["create", "e", '{"d": "1e5000"}'], "d: number out of range"),
    (["create", "e", '{"d": "' + "9" * 5000 + '"}'], "d: number longer than"),
    (["create", "e", '{"d": "NaN"}'], "d: "),
    (["create", "e", '{"d": NaN}'], "NaN is not a JSON number"),
    (["create", "e", '{"p": "99999999999999999999"}'], "p: record id out of range"),
    (["create", "e", '{"p": 99999999999999999999}'], "out of range"),
    (["create", "e", '{"s": "a\\u0000b"}'], "s: contains a NUL character"),
    (["create", "e", '{"s": "a\\ud800b"}'], "s: contains an invalid character (lone surrogate"),
    (["create", "e", '{"code": "\\udfff"}'], "code: contains an invalid character"),
    (["create", "e", '{"j": {"k": "\\u0000"}}'], "j: contains a NUL character"),
    (["create", "e", '{"j": {"\\u0000": 1}}'], "j: contains a NUL character"),
    (["create", "e", '{"j": [99999999999999999999]}'], "j: whole number out of range"),
    (["create", "e", '{"name": "x\\u0000"}'], "name: contains a NUL character"),
    (["create", "e", '{"name": {"x": 1}}'], "name: a record name must be text"),
    (["create", "e", DEEP_JSON], "nested deeper than 64 levels"),
    (["create", "e", '{"j": ' + "[" * 70 + "]" * 70 + "}"], "nested deeper than 64 levels"),
    (["create", "e", '{"code": "' + "a" * 40 + '!"}'], "code: does not match the pattern"),
    (["query", "e", "--where", "i > 99999999999999999999"], "integer 99999999999999999999 out of range"),
    (["query", "e", "--where", "i > -9223372036854775809"], "out of range"),
    (["query", "e", "--where", "i > :x", "--param", "x=99999999999999999999"], "x: whole number out of range"),
    (["query", "e", "--where", "s == :x", "--param", 'x="\\u0000"'], "x: contains a NUL character"),
    (["query", "e", "--where", "d > :x", "--param", "x=1e999"], "x: not a finite number"),
    (["query", "e", "--limit", "99999999999999999999"], "limit must be"),
    (["query", "e", "--limit", "-1"], "limit must be"),
    (["query", "e", "--offset", "99999999999999999999"], "offset must be"),
    (["audit", "--limit", "99999999999999999999"], "limit must be"),
    (["audit", "--entity", "e", "--record", "99999999999999999999"], "record must be"),
    (["update-many", "e", "--set", "i=99999999999999999999"], "out of range"),
    (["query", "e", "--where", "round(d, 1000000) > 1"], "round() takes 0 to 10 digits"),
    (["query", "e", "--where", "round(d, -1) > 1"], "round() takes 0 to 10 digits"),
    (["query", "e", "--where", "i > " + "1" * 31], "longer than 30 digits"),
    (["query", "e", "--where", "s == '" + "x" * 1001 + "'"], "string literal longer than"),
    (["query", "e", "--where", "i > 1" + " + 1" * 2000], "longer than 4000 characters"),
    (["query", "e", "--where", NESTED + " > 0"], "nested deeper than"),
    (["query", "e", "--where", PARENS + " > 0"], None),  # parentheses alone do not nest
    (["query", "e", "--where", LINKS + " > 0"], "nested too deeply for SQL"),
    (["query", "e", "--where", f"min({MINS} > 0"], "expression"),
    (["query", "e", "--where", "i * 9223372036854775807 * 9223372036854775807 > 0"], ""),  # PG: bigint out of range
    (["query", "e", "--where", GROWS], "can grow past 100000 characters"),
    (["query", "e", "--where", 'concat(s, "' + "x" * 1000 + '") != ""' + ' and concat("' + "y" * 1000 + '", s) != ""'],
     None),  # long but bounded: evaluates
]


@pytest.mark.parametrize(("argv", "message"), CLI_REFUSED, ids=[f"cli{i}" for i in range(len(CLI_REFUSED))])
def test_cli_refuses_clearly(hostile, capsys, argv, message):
    folder, url, _ = hostile
    with bounded(CLI_SECONDS):
        code, _, err = cli(capsys, argv[0], folder, *argv[1:], "--db", url)
    assert "internal error" not in err and "Traceback" not in err
    if message is None or (message == "" and code == 0):  # SQLite computes in floating point
        assert code == 0, err
        return
    assert code == 1, err
    assert message in err
    assert len(err.strip().splitlines()) <= 3, err


def test_files_not_utf8_or_missing(hostile, capsys, tmp_path):
    folder, url, _ = hostile
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{\n"s": "caf\u00e9"}'.encode("latin-1"))
    code, _, err = cli(capsys, "create", folder, "e", f"@{latin1}", "--db", url)
    assert code == 1 and f"{latin1}:2: JSON file is not UTF-8" in err
    code, _, err = cli(capsys, "create", folder, "e", f"@{tmp_path / 'none.json'}", "--db", url)
    assert code == 1 and "cannot read JSON file" in err and "internal" not in err


# -- evaluated within bounds: (filter, ids of the matching records among 1, 2, 3)
EVALUATED = [
    ("add_days(t, 99999999999) == null", [1, 2, 3]),
    ("add_days(t, -99999999999) == null", [1, 2, 3]),
    ("t + 1 == @9999-12-31", [2]),
    ("t + 2 == null", [2, 3]),
    ("@9999-12-31 + 1 == null", [1, 2, 3]),
    ("@0001-01-01 - 1 == null", [1, 2, 3]),
    ("dt + 99999999999.5 == null", [1, 2, 3]),
    ("dt - 0.5 == null", [2, 3]),
    ("year(t + i * 3000000) == null", [1, 2, 3]),
    ("days_between(t, add_days(t, 9223372036854775807)) == null", [1, 2, 3]),
    ("round(d, i * 1000000) == null", [1, 2, 3]),
    ("round(d, i) == 2.5", [1]),
    ("substr(s, i * 999999999999) == ''", [1, 2]),
    ("substr(s, -99999999999, 99999999999) == s", [1, 2, 3]),
    ("s + s == null", [3]),
    ("s + s + 'x' == null", [2, 3]),
    ("len(s + s) == 4", [1]),
    ("concat(s, s) == null", []),
    ("concat(s, s) == ''", [3]),
    ("concat(s, s, 'x') == null", [2]),
    ("len(concat(s, s)) == 100000", [2]),
    ("replace(s, 'a', 'bbb') == null", [2, 3]),
    ("replace(s, 'a', 'bb') == null", [3]),
    ("len(replace(s, 'a', 'aa')) == 100000", [2]),
    ("replace(replace(replace(s, 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa') == null", [2, 3]),
    ("replace(s, '', 'x') == s", [1, 2, 3]),
    ("i * 1000000000 * 1000000000 > 0 or true", [1, 2, 3]),
]


@pytest.mark.parametrize(("where", "ids"), EVALUATED, ids=[f"eval{i}" for i in range(len(EVALUATED))])
def test_evaluates_alike_within_bounds(hostile, where, ids):
    """The SQL filter and the Python evaluation agree, quickly, whatever the sizes involved."""
    _, _, app = hostile
    with bounded():
        rows = app.query("e", where, user="u", order_by="id")
    assert [r["id"] for r in rows] == ids
    compiled = compile_expression(where, Scope(app.definition.schema, "e"))
    with bounded(), app.reader("u") as tx:
        python = [r["id"] for r in tx.query("e", order_by="id") if compiled(r, tx.env) is True]
    assert python == ids


API_REFUSED = [
    lambda app: app.get("e", 2**64, user="u"),
    lambda app: app.get("e", "a\x00", user="u"),
    lambda app: app.query("e", "s == :x", user="u", params={"x": "a\x00"}),
    lambda app: app.query("e", "s == :x", user="u", params={"x": "\ud800"}),
    lambda app: app.query("e", "i == :x", user="u", params={"x": 2**70}),
    lambda app: app.query("e", "d == :x", user="u", params={"x": Decimal("1e5000")}),
    lambda app: app.query("e", "d == :x", user="u", params={"x": float("nan")}),
    lambda app: app.query("e", "s == :x", user="u", params={"x": "y" * 200_000}),
    lambda app: app.query("e", "i in :x", user="u", params={"x": [1, 2**64]}),
    lambda app: app.query("e", 's == "a\x00"', user="u"),
    lambda app: app.query("e", user="u", offset=2**63),
    lambda app: app.create("e", {"j": _deep(1000)}, user="u"),
    lambda app: app.create("e", {"i": Decimal("1e5000")}, user="u"),
    lambda app: app.create("e", {"d": 10**400}, user="u"),
    lambda app: app.update("e", 1, {"t": "10000-01-01"}, user="u"),
    lambda app: app.audit_log(user="u", limit=2**64),
]


def _deep(n: int) -> list:
    out: list = []
    for _ in range(n):
        out = [out]
    return out


@pytest.mark.parametrize("call", API_REFUSED, ids=[f"api{i}" for i in range(len(API_REFUSED))])
def test_python_api_refuses_clearly(hostile, call):
    _, _, app = hostile
    with bounded(), pytest.raises(OrdoError):
        call(app)


# -- expressions refused when compiled
COMPILE_REFUSED = [
    ("9223372036854775808", "out of range"),
    ('"a\x00"', "NUL character"),
    ('"\ud800"', "lone surrogate"),
    ("round(d, 11)", "0 to 10 digits"),
    ('concat("' + "a" * 1000 + '", ' * 1 + 'replace(s, "b", "' + "b" * 1000 + '"))' + " + " + 'replace(replace(s, "a", "'
     + "a" * 400 + '"), "a", "' + "a" * 400 + '")', "can grow past"),
    ("if(i > 0, " * 20 + "1" + ", 2)" * 20, "nested too deeply"),
    ("max(" * 14 + "i" + ", 1)" * 14, "expression"),
    ("add_days(" * 8 + "t" + ", 1)" * 8, "nested too deeply"),
]


@pytest.mark.parametrize(("text", "message"), COMPILE_REFUSED, ids=[f"expr{i}" for i in range(len(COMPILE_REFUSED))])
def test_compile_refuses(hostile, text, message):
    _, _, app = hostile
    with bounded(), pytest.raises(OrdoError, match=message.replace("(", r"\(")):
        compile_expression(text, Scope(app.definition.schema, "e"))


def test_minus_2_63_is_an_integer(hostile):
    _, _, app = hostile
    assert app.query("e", "i > -9223372036854775808 and i < 9223372036854775807", user="u", order_by="id")


# -- the deepest expressions the checker accepts run on the database; one level more is refused
SHAPES = {
    "if": (lambda x: f"if(i > 0, {x}, 1)", "i"),
    "else-if": (lambda x: f"if(i > 0, 1, {x})", "i"),
    "arith": (lambda x: f"2 * ({x})", "i"),
    "left arith": (lambda x: f"({x}) - 1", "i"),
    "and": (lambda x: f"({x}) and i > 0", "i > 0"),
    "not": (lambda x: f"not ({x})", "i > 0"),
    "coalesce": (lambda x: f"coalesce({x}, 1)", "i"),
    "min": (lambda x: f"min({x}, 1)", "i"),
    "floor": (lambda x: f"floor({x})", "i"),
    "division": (lambda x: f"1 / ({x})", "d"),
    "replace": (lambda x: f"replace({x}, 'a', 'bb')", "s"),
    "concat": (lambda x: f"concat('a', {x})", "s"),
    "ends_with": (lambda x: f"if(ends_with({x}, 'a'), 'a', 'b')", "s"),
    "add_days": (lambda x: f"add_days({x}, 1)", "t"),
    "datetime": (lambda x: f"({x}) + 0.5", "dt"),
    "round digits": (lambda x: f"floor(round(d, {x}))", "i"),
    "links": (lambda x: f"p.{x}", "i"),
    "mixed": (lambda x: f"replace(concat(if(i > 0, {x}, s), 'x'), 'a', 'b')", "s"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_deepest_accepted_expression_runs(hostile, shape):
    _, _, app = hostile
    wrap, text = SHAPES[shape]
    scope = Scope(app.definition.schema, "e")
    deepest = None
    for _ in range(60):
        candidate = wrap(text)
        try:
            compile_expression(f"is_null({candidate}) or true", scope)
        except OrdoError:
            break
        deepest = text = candidate
    assert deepest is not None
    with bounded():
        app.query("e", f"is_null({deepest}) or true", user="u")


def test_worst_expression_sizes_are_bounded(hostile):
    """Nested operations that repeat an operand in SQL are refused before the SQL is built."""
    _, _, app = hostile
    text = "s"
    for _ in range(12):
        text = f"if(ends_with({text}, 'a'), {text}, 'b')"
    with bounded(), pytest.raises(OrdoError):
        compile_expression(text, Scope(app.definition.schema, "e"))


# -- definitions: patterns and YAML
def _load_error(make_app, files: dict[str, str]) -> str:
    with bounded(), pytest.raises(DefinitionErrors) as e:
        load_app(make_app(files))
    return str(e.value)


@pytest.mark.parametrize("pattern", [r"(a)\\1", "(?=a)b", "(?<!a)b", "[a-"])
def test_pattern_re2_cannot_compile_is_a_definition_error(make_app, pattern):
    err = _load_error(make_app, {"entities/e.yaml": f'name: e\nfields:\n  c: {{type: string, pattern: "{pattern}"}}\n'})
    assert "entities/e.yaml:3:" in err and "pattern" in err


def test_yaml_billion_laughs(make_app):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f'{chr(98 + i)}: &{chr(98 + i)} [{", ".join([f"*{chr(97 + i)}"] * 10)}]' for i in range(9)]
    err = _load_error(make_app, {"entities/e.yaml": "name: e\nfields: {}\n" + "\n".join(lines) + "\n"})
    assert "entities/e.yaml:" in err and "aliases expand too much" in err


@pytest.mark.parametrize("text", ["name: e\nfields: " + "[" * 50_000 + "]" * 50_000 + "\n",
                                  "name: e\nfields: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n",
                                  "name: e\nx:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(3000))])
def test_yaml_deep_nesting(make_app, text):
    err = _load_error(make_app, {"entities/e.yaml": text})
    assert "entities/e.yaml:" in err and "nested deeper than 100 levels" in err


def test_pattern_is_linear_time(hostile):
    _, _, app = hostile
    with bounded(), pytest.raises(OrdoError, match="does not match the pattern"):
        app.create("e", {"code": "a" * 5000 + "!"}, user="u")
    assert app.create("e", {"code": "a" * 5000}, user="u")["code"] == "a" * 5000


# -- schema sync refuses what would lose or clash values, and changes nothing
ITEM = """
    name: item
    fields:
      code: {type: string}
      qty: {type: string}
"""


def test_sync_unique_over_duplicates(make_app, db_url, capsys):
    app = open_app(make_app({"entities/item.yaml": ITEM}), db_url)
    for code in ("A", "A", "B", None, None):
        app.create("item", {"code": code}, "u")
    app.close()
    v2 = make_app({"entities/item.yaml": ITEM.replace("code: {type: string}", "code: {type: string, unique: true}")})
    with bounded(CLI_SECONDS):
        code, _, err = cli(capsys, "sync", v2, "--db", db_url)
    assert code == 1 and "internal" not in err
    assert "item.code: cannot make unique" in err and "'A' in 2 records" in err and "'B'" not in err
    app = open_app(make_app({"entities/item.yaml": ITEM}), db_url)  # unchanged: duplicates still there
    assert app.count("item", "code == 'A'", user="u") == 2
    app.close()


def test_sync_conversion_checks_every_value(make_app, db_url):
    app = open_app(make_app({"entities/item.yaml": ITEM}), db_url)
    for qty in ("7", "alpha", " 12 ", None, "1.5"):
        app.create("item", {"qty": qty}, "u")
    app.close()
    v2 = ITEM.replace("qty: {type: string}", "qty: {type: integer, converted_from: string}")
    with pytest.raises(SchemaChangeRefused) as e:
        open_app(make_app({"entities/item.yaml": v2}), db_url)
    assert "item.qty: cannot convert" in str(e.value)
    assert "'alpha'" in str(e.value) and "'1.5'" in str(e.value) and "2 value(s)" in str(e.value)
    app = open_app(make_app({"entities/item.yaml": ITEM}), db_url)  # nothing changed
    assert [r["qty"] for r in app.query("item", user="u", order_by="id")] == ["7", "alpha", " 12 ", None, "1.5"]
    app.update("item", 2, {"qty": "8"}, user="u")
    app.update("item", 5, {"qty": "2"}, user="u")
    app.close()
    app = open_app(make_app({"entities/item.yaml": v2}), db_url)
    assert [r["qty"] for r in app.query("item", user="u", order_by="id")] == [7, 8, 12, None, 2]
    assert app.query("item", "qty > 7", user="u", order_by="id")[0]["qty"] == 8
    app.close()


def test_dates_and_json_round_trip(hostile):
    _, _, app = hostile
    rec = app.create("e", {"t": "9999-12-31", "dt": dt.datetime(1, 1, 1), "j": json.loads('{"a": [1, "x"]}')},
                     user="u")
    assert rec["t"] == dt.date(9999, 12, 31) and rec["j"] == {"a": [1, "x"]}
    app.delete("e", rec["id"], user="u")


# -- channel intake: deeply nested payloads are refused with their reason
@pytest.mark.parametrize(("name", "payload"), [("deep.json", "[" * 100_000 + "]" * 100_000),
                                               ("deep2.json", '[{"a": ' * 5000 + "1" + "}]" * 5000 + "\n")])
def test_intake_deep_payload(make_app, tmp_path, name, payload):
    from .test_intake import APP as INTAKE_APP

    app = open_app(make_app(INTAKE_APP), f"sqlite:///{tmp_path / 'i.db'}")
    app.create("source", {"code": "WEB", "layout": "nested"}, "admin")
    path = tmp_path / name
    path.write_text(payload, encoding="utf-8")
    try:
        with bounded():
            result = app.features["intake"].import_file("alice", "bookings", path, channel="WEB")
    except OrdoError as e:
        assert "nested deeper than 64 levels" in str(e)
    else:
        assert not result.ok and "nested deeper than 64 levels" in json.dumps(result.to_dict())
    finally:
        app.close()


# -- report parameters are checked like filter parameters
@pytest.mark.parametrize("params", [{"min_amount": "1e5000"}, {"min_amount": "NaN"}, {"region": "n\x00"},
                                    {"min_amount": 10**70}])
def test_report_parameters(make_app, tmp_path, params):
    from .test_report import ENTITIES, REPORTS

    app = open_app(make_app({**ENTITIES, **REPORTS}), f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with bounded(), pytest.raises(OrdoError, match="parameter"):
            app.features["reports"].report("filtered", user="root", params=params)
    finally:
        app.close()
