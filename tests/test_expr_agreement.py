"""Property test: the Python and the SQL compilation of random expressions agree
on random records, on SQLite and (with ORDO_TEST_PG_URL) PostgreSQL.

Decimal values are multiples of 0.25 so that SQLite's binary floating point is
exact for + - * (SQLite has no decimal type; PostgreSQL's NUMERIC is exact).
Division results are compared with a relative tolerance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import random
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordo.dsl.expr import Scope, compile_expression
from ordo.dsl.expr.sqltypes import sa_type
from ordo.engine import open_app
from ordo.engine.query import TableSource

from .conftest import PG_URL, pg_schema, write_app

APP = {
    "entities/r.yaml": """
        name: r
        fields:
          i1: {type: integer}
          i2: {type: integer}
          d1: {type: decimal, scale: 2}
          d2: {type: decimal, scale: 2}
          s1: {type: string}
          s2: {type: string}
          b1: {type: boolean}
          t1: {type: date}
          t2: {type: date}
          p: {type: link, entity: p}
          kids: {type: table, entity: kid}
        ---
        name: p
        fields:
          pi: {type: integer}
          ps: {type: string}
        ---
        name: kid
        child: true
        fields:
          k: {type: integer}
    """,
}

N_RECORDS = 24


def _records(rng: random.Random) -> list[dict]:
    def maybe(v):
        return None if rng.random() < 0.2 else v

    out = []
    for _ in range(N_RECORDS):
        out.append({
            "i1": maybe(rng.randint(-20, 20)),
            "i2": maybe(rng.randint(-5, 5)),
            "d1": maybe(Decimal(rng.randint(-80, 80)) / 4),
            "d2": maybe(Decimal(rng.randint(-8, 8)) / 4),
            "s1": maybe(rng.choice(["", "a", "ab", "abc", " b ", "Ab", "ba", "cab"])),
            "s2": maybe(rng.choice(["", "a", "b", "ab", "c"])),
            "b1": maybe(rng.random() < 0.5),
            "t1": maybe(dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(-400, 400))),
            "t2": maybe(dt.date(2026, 6, 30) + dt.timedelta(days=rng.randint(-40, 40))),
            "p": maybe(rng.choice(["P1", "P2", "P3"])),
            "kids": [{"k": maybe(rng.randint(-3, 6))} for _ in range(rng.randint(0, 3))],
        })
    return out


@pytest.fixture(scope="module", params=["sqlite", "pg"])
def fixture_app(request, tmp_path_factory):
    with contextlib.ExitStack() as stack:
        if request.param == "pg":
            if not PG_URL:
                pytest.skip("ORDO_TEST_PG_URL not set")
            url = stack.enter_context(pg_schema())
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('agree') / 'a.db'}"
        app = open_app(write_app(tmp_path_factory.mktemp("app"), APP), url)
        stack.callback(app.close)
        for name, pi, ps in (("P1", 1, "x"), ("P2", None, "y"), ("P3", -4, None)):
            app.create("p", {"name": name, "pi": pi, "ps": ps}, "t")
        for rec in _records(random.Random(42)):
            app.create("r", rec, "t")
        with app.reader("t") as tx:
            stored = tx.query("r", limit=None, with_children=True)
            env = tx.env
            links = {p["id"]: p for p in tx.query("p", limit=None)}
        env.link = lambda entity, key: links.get(key)
        yield app, stored, env


# -- random typed expressions (as text) -------------------------------------------------------
def _lit_int():
    return st.integers(-6, 6).map(str)


def _lit_dec():
    return st.integers(-24, 24).map(lambda n: str(Decimal(n) / 4) if n % 4 else f"{n // 4}.0")


def _lit_str():
    return st.sampled_from(['""', '"a"', '"ab"', '"b"', '" b "', '"ca"'])


def _lit_date():
    return st.sampled_from(["@2026-01-01", "@2025-12-31", "@2026-06-30", "@2026-03-01"])


@functools.cache
def expr(t: str, depth: int = 3) -> st.SearchStrategy[str]:
    leaves = {
        "int": st.one_of(_lit_int(), st.sampled_from(["i1", "i2", "p.pi", "count(kids)", "sum(kids, k)"])),
        "dec": st.one_of(_lit_dec(), st.sampled_from(["d1", "d2"])),
        "str": st.one_of(_lit_str(), st.sampled_from(["s1", "s2", "p.ps"])),
        "bool": st.sampled_from(["b1", "true", "false", "null == null", "b1 == null"]),
        "date": st.one_of(_lit_date(), st.sampled_from(["t1", "t2"])),
    }[t]
    if depth == 0:
        return leaves
    sub = lambda u: expr(u, depth - 1)  # noqa: E731
    if t == "int":
        rec = st.one_of(
            st.tuples(sub("int"), st.sampled_from(["+", "-", "*"]), sub("int")).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(sub("int"), st.sampled_from(["2", "3", "-4"])).map(lambda x: f"({x[0]} % {x[1]})"),
            sub("int").map(lambda a: f"abs({a})"),
            sub("int").map(lambda a: f"-({a})"),
            sub("str").map(lambda a: f"len({a})"),
            st.tuples(sub("bool"), sub("int"), sub("int")).map(lambda x: f"if({x[0]}, {x[1]}, {x[2]})"),
            st.tuples(sub("int"), sub("int")).map(lambda x: f"coalesce({x[0]}, {x[1]})"),
            st.tuples(sub("int"), sub("int")).map(lambda x: f"min({x[0]}, {x[1]})"),
            st.tuples(sub("date"), sub("date")).map(lambda x: f"({x[0]} - {x[1]})"),
            sub("date").map(lambda a: f"month({a})"),
            sub("dec").map(lambda a: f"floor({a})"),
            sub("dec").map(lambda a: f"ceil({a})"),
            st.sampled_from(["count(kids, k > 1)", "max(kids, k)", "sum(kids, k * 2)"]),
        )
    elif t == "dec":
        rec = st.one_of(
            st.tuples(sub("dec"), st.sampled_from(["+", "-"]), sub("dec")).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(sub("dec"), sub("int")).map(lambda x: f"({x[0]} * {x[1]})"),
            st.tuples(sub("dec"), sub("dec")).map(lambda x: f"max({x[0]}, {x[1]})"),
            st.tuples(sub("bool"), sub("dec"), sub("dec")).map(lambda x: f"if({x[0]}, {x[1]}, {x[2]})"),
            sub("dec").map(lambda a: f"abs({a})"),
        )
    elif t == "str":
        rec = st.one_of(
            st.tuples(sub("str"), sub("str")).map(lambda x: f"concat({x[0]}, {x[1]})"),
            st.tuples(sub("str"), sub("str")).map(lambda x: f"({x[0]} + {x[1]})"),
            sub("str").map(lambda a: f"upper({a})"),
            sub("str").map(lambda a: f"trim({a})"),
            st.tuples(sub("str"), st.integers(1, 3), st.integers(0, 3)).map(lambda x: f"substr({x[0]}, {x[1]}, {x[2]})"),
            st.tuples(sub("str"), _lit_str(), _lit_str()).map(lambda x: f"replace({x[0]}, {x[1]}, {x[2]})"),
            st.tuples(sub("bool"), sub("str"), sub("str")).map(lambda x: f"if({x[0]}, {x[1]}, {x[2]})"),
        )
    elif t == "date":
        rec = st.one_of(
            st.tuples(sub("date"), st.integers(-40, 40)).map(lambda x: f"add_days({x[0]}, {x[1]})"),
            st.tuples(sub("date"), st.integers(0, 40)).map(lambda x: f"({x[0]} - {x[1]})"),
            st.tuples(sub("date"), sub("date")).map(lambda x: f"coalesce({x[0]}, {x[1]})"),
        )
    else:
        cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
        rec = st.one_of(
            st.tuples(sub("int"), cmp, sub("int")).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(sub("dec"), cmp, sub("int")).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(sub("str"), cmp, sub("str")).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(sub("date"), cmp, sub("date")).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
            st.tuples(sub("bool"), st.sampled_from(["and", "or"]), sub("bool")).map(
                lambda x: f"({x[0]} {x[1]} {x[2]})"),
            sub("bool").map(lambda a: f"not ({a})"),
            st.tuples(sub("int"), st.sampled_from(["in", "not in"])).map(lambda x: f"({x[0]} {x[1]} [1, 2, -3])"),
            st.tuples(sub("str"), st.sampled_from(["in", "not in"])).map(lambda x: f"({x[0]} {x[1]} [\"a\", \"\", null])"),
            sub("int").map(lambda a: f"is_null({a})"),
            st.tuples(sub("str"), _lit_str()).map(lambda x: f"contains({x[0]}, {x[1]})"),
            st.tuples(sub("str"), _lit_str()).map(lambda x: f"starts_with({x[0]}, {x[1]})"),
            st.tuples(sub("str"), _lit_str()).map(lambda x: f"ends_with({x[0]}, {x[1]})"),
            sub("str").map(lambda a: f"is_blank({a})"),
            st.sampled_from(["any(kids, k > 2)", "all(kids, k >= 0)", "any(kids, k == null)"]),
        )
    return st.one_of(leaves, rec)


def _same(py, sql) -> bool:
    if py is None or sql is None:
        return py is None and sql is None
    if isinstance(py, bool) or isinstance(sql, bool):
        return bool(py) == bool(sql)
    if isinstance(py, (int, Decimal)) and isinstance(sql, (int, float, Decimal)):
        a, b = Decimal(py), Decimal(str(sql))
        return abs(a - b) <= Decimal("1e-6") * max(1, abs(a))
    return py == sql


def _check(fixture_app, text: str) -> None:
    app, stored, env = fixture_app
    compiled = compile_expression(text, Scope(app.definition.schema, "r"))
    table = app.compiled.entity("r").table
    sql = sa.type_coerce(compiled.to_sql(TableSource(app.compiled, "r", table)), sa_type(compiled.type))
    with app.engine.connect() as conn:
        got = dict(conn.execute(sa.select(table.c.id, sql.label("v"))).all())
    for rec in stored:
        py = compiled(rec, env)
        assert _same(py, got[rec["id"]]), f"{text!r} on record {rec['id']}: python={py!r} sql={got[rec['id']]!r}"


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@SETTINGS
@given(text=expr("bool"))
def test_boolean_expressions_agree(fixture_app, text):
    _check(fixture_app, text)


@SETTINGS
@given(text=st.one_of(expr("int"), expr("dec"), expr("str"), expr("date")))
def test_value_expressions_agree(fixture_app, text):
    _check(fixture_app, text)


@pytest.mark.parametrize("text", ["d1 / d2", "i1 / i2", "d1 / 3", "avg(kids, k)", "round(d1 / 3, 2)", "sqrt(d1)",
                                  "sqrt(i1 * i1 + 2)", "-(abs(floor(0.25)))", "-(abs(floor(d1)))", "-ceil(d2)",
                                  "sum(kids, k) / count(kids)"])
def test_division_agrees_within_tolerance(fixture_app, text):
    _check(fixture_app, text)


@pytest.mark.parametrize("text", [
    "add_days(t1, 99999999999)", "add_days(t1, -99999999999)", "t1 + i1 * 200000", "t2 - i1 * 150000",
    "@9999-12-31 + 1", "@0001-01-01 - 1", "@9999-12-31 + 0", "@0001-01-01 + i2", "add_days(@9999-12-25, i2)",
    "add_days(add_days(t1, 9999999999999), -9999999999999)", "year(t1 + i1 * 100000)",
    "round(d1, i1)", "round(d2, i2 + 7)", "round(d1, i1 * 99999999999)", "round(d1, -99999999999 + i2)",
    "substr(s1, i1 * 999999999999)", "substr(s1, 1, i1 * 999999999999)", "substr(s1, i2, i1)", "substr(s1, i1)",
])
def test_out_of_range_agrees(fixture_app, text):
    """Dates outside years 1..9999 and round() digits outside 0..10 are null on every back-end."""
    _check(fixture_app, text)


def _check_where(fixture_app, text: str, params: dict | None = None) -> None:
    """As a WHERE condition (where ``==`` against a non-null value is a plain ``=``), the rows
    selected are those whose Python value is true."""
    app, stored, env = fixture_app
    params = params or {}
    from ordo.dsl.expr import types as T

    ptypes = T.param_types(params)
    compiled = compile_expression(text, Scope(app.definition.schema, "r", params=ptypes), T.BOOLEAN)
    table = app.compiled.entity("r").table
    bound = frozenset(k for k, v in params.items() if v is not None)
    sql = compiled.to_sql(TableSource(app.compiled, "r", table), where=True, not_null_params=bound)
    with app.engine.connect() as conn:
        got = {r[0] for r in conn.execute(sa.select(table.c.id).where(sql), params)}
    penv = dataclasses.replace(env, params=params)
    want = {rec["id"] for rec in stored if compiled(rec, penv)}
    assert got == want, f"{text!r} with {params}: sql={sorted(got)} python={sorted(want)}"


@SETTINGS
@given(text=expr("bool"))
def test_conditions_select_the_same_rows(fixture_app, text):
    _check_where(fixture_app, text)


@pytest.mark.parametrize("text", ["s1 == :v", ":v == s2", "not (s1 == :v)", "s1 != :v", "s1 == :v or i1 == :n",
                                  "if(s1 == :v, 1, 0) == 1", "any(kids, k == :n)", "count(kids, k == :n) > 0",
                                  "all(kids, k == :n)", "s1 == :v and not (s2 == :v)", "p.ps == :v",
                                  "i1 == :n", "i1 == :none", "not (i1 == :none)", "i1 != :none"])
@pytest.mark.parametrize("v", ["a", None])
def test_conditions_with_parameters_select_the_same_rows(fixture_app, text, v):
    _check_where(fixture_app, text, {"v": v, "n": 2 if v else None, "none": None})
