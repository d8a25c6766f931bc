"""The expression language: parsing, checking, evaluation semantics, limits and sandboxing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ordo.dsl.errors import ExpressionError, ExpressionErrors
from ordo.dsl.expr import Clock, Env, Scope, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.expr.functions import FUNCTIONS
from ordo.dsl.expr.parser import MAX_DEPTH
from ordo.dsl.expr.to_python import PY_FUNCTIONS
from ordo.dsl.expr.to_sql import SQL_FUNCTIONS


class Schema:
    FIELDS = {
        "order": {
            "amount": T.DECIMAL, "qty": T.INTEGER, "status": T.Type("string", options=("new", "paid")),
            "customer": T.record("customer"), "lines": T.table("line"), "order_date": T.DATE, "country": T.STRING,
            "note": T.STRING, "rush": T.BOOLEAN, "at": T.DATETIME,
        },
        "customer": {"level": T.STRING, "manager": T.record("person")},
        "person": {"email": T.STRING},
        "line": {"qty": T.INTEGER, "price": T.DECIMAL},
    }

    def entity_fields(self, entity):
        return self.FIELDS.get(entity)


SCOPE = Scope(Schema(), "order")
PEOPLE = {7: {"email": "m@x"}}
CUSTOMERS = {1: {"level": "VIP", "manager": 7}, 2: {"level": "normal", "manager": None}}
ENV = Env(link=lambda entity, key: {"customer": CUSTOMERS, "person": PEOPLE}[entity].get(key),
          clock=Clock(dt.datetime(2026, 3, 1, 12, 0)))
REC = {"amount": Decimal("12000"), "qty": 3, "status": "new", "customer": 1, "order_date": dt.date(2026, 1, 15),
       "country": "CN", "note": None, "rush": None, "at": dt.datetime(2026, 2, 28, 12, 0),
       "lines": [{"qty": 2, "price": Decimal("1.5")}, {"qty": 1, "price": None}]}


def ev(text, rec=REC):
    return compile_expression(text, SCOPE)(rec, ENV)


@pytest.mark.parametrize("text,expected", [
    ('amount > 10000 and customer.level == "VIP"', True),
    ("sum(lines, qty * price)", Decimal("3.0")),
    ('status in ["new", "paid"]', True),
    ('if(country == "CN", 0.13, 0)', Decimal("0.13")),
    ("today() - order_date > 30", True),
    ("today() - order_date", 45),
    ("customer.manager.email", "m@x"),
    ("count(lines)", 2),
    ("count(lines, price == null)", 1),
    ("avg(lines, qty)", Decimal("1.5")),
    ("min(lines, price)", Decimal("1.5")),
    ("any(lines, qty > 1) and not all(lines, qty > 1)", True),
    ("add_days(order_date, 20)", dt.date(2026, 2, 4)),
    ("order_date + 1", dt.date(2026, 1, 16)),
    ("year(order_date) * 100 + month(order_date)", 202601),
    ("days_between(order_date, @2026-01-31)", 16),
    ("now() - at", Decimal(1)),
    ("date(at)", dt.date(2026, 2, 28)),
    ("round(amount / 7, 2)", Decimal("1714.29")),
    ("floor(-1.5) + ceil(1.2)", 0),
    ("sqrt(qty * 3)", Decimal(3)),
    ("sqrt(-1)", None),
    ("7 % 3 + -7 % 3", 0),
    ('concat("a", note, "b")', "ab"),
    ('upper(substr("hello", 2, 3))', "ELL"),
    ('replace("a-b-c", "-", "")', "abc"),
    ('len(trim("  x "))', 1),
    ('contains(country, "N") and starts_with("abc", "ab") and ends_with("abc", "bc")', True),
    ("coalesce(note, country)", "CN"),
    ("max(1, 2.5, 2)", Decimal("2.5")),
    ("@2026-01-31", dt.date(2026, 1, 31)),
    ("'it''s'" if False else "'say \\\"hi\\\"'", 'say "hi"'),
])
def test_evaluation(text, expected):
    assert ev(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("note == null", True),  # == is null-safe
    ("note != 'x'", True),
    ("note > 'a'", None),  # ordering with null is null
    ("amount + null", None),
    ("rush and false", False),  # three-valued logic
    ("rush and true", None),
    ("rush or true", True),
    ("not rush", None),
    ("amount / 0", None),  # division by zero is null
    ("note in ['a', 'b']", None),
    ("'c' in ['a', null]", None),
    ("'a' in ['a', null]", True),
    ("qty in []", False),
    ("if(rush, 1, 2)", 2),  # a null condition takes the else branch
    ("is_null(note) and is_blank(note)", True),
])
def test_null_semantics(text, expected):
    assert ev(text) is expected or ev(text) == expected


def test_missing_link_gives_null():
    rec = {**REC, "customer": 2}
    assert ev("customer.manager.email", rec) is None
    assert ev("customer.level == 'normal'", rec) is True
    assert ev("customer.level", {**REC, "customer": None}) is None


@pytest.mark.parametrize("text,message,column", [
    ('"a" > 3', "cannot compare string > integer", 5),
    ("amout > 1", "unknown field 'amout' in order (did you mean 'amount'?)", 1),
    ("customer.levl", "unknown field 'levl' in customer", 1),
    ('status == "piad"', "'piad' is not an option of status", 11),
    ("lines > 1", "is a table of rows", 1),
    ("frobnicate(1)", "unknown function 'frobnicate'", 1),
    ("sum(amount, 1)", "needs a table field first", 5),
    ("len(1, 2)", "takes 1 argument(s), got 2", 1),
    ("amount +", "unexpected end of expression", 9),
    ("amount ? 1", "unexpected character '?'", 8),
    ("not amount", "'not' needs a boolean", 1),
    ("qty % 1.5", "'%' needs integers", 5),
    ("order_date + 1.5", "cannot compute date + decimal", 12),
    ("status in 3", "needs a list on the right", 11),
    ("sum(lines, qty > 1)", "needs a number", 16),
    (":p > 1", "parameter :p is not allowed here", 1),
])
def test_errors_have_messages_and_positions(text, message, column):
    with pytest.raises((ExpressionError, ExpressionErrors)) as e:
        compile_expression(text, SCOPE)
    err = e.value.errors[0] if isinstance(e.value, ExpressionErrors) else e.value
    assert message in err.message
    assert (err.line, err.column) == (1, column)
    assert "^" in err.context()


def test_all_errors_of_one_expression_are_reported():
    with pytest.raises(ExpressionErrors) as e:
        compile_expression("amout > 1 and custmer.level == 'x' and 'a' > 1", SCOPE)
    assert len(e.value.errors) == 3


def test_expected_type():
    with pytest.raises(ExpressionErrors, match="expected boolean, got decimal"):
        compile_expression("amount + 1", SCOPE, T.BOOLEAN)


def test_parameters_are_typed():
    scope = Scope(Schema(), "order", params={"min": T.DECIMAL})
    expr = compile_expression("amount > :min", scope)
    assert expr(REC, Env(params={"min": Decimal(1)})) is True
    with pytest.raises(ExpressionErrors, match="unknown parameter :max"):
        compile_expression("amount > :max", scope)


def test_roots_are_extra_variables():
    scope = Scope(Schema(), "line", roots={"order": T.record("order"), "limit": T.INTEGER})
    expr = compile_expression("qty * price > order.amount / 10000 and qty <= limit", scope)
    assert expr({"qty": 2, "price": Decimal(1)}, ENV, REC, 5) is True


def test_limits():
    with pytest.raises(ExpressionError, match="nested deeper"):
        compile_expression("abs(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5), SCOPE)
    assert compile_expression("(" * 200 + "1" + ")" * 200, SCOPE)(REC, ENV) == 1  # mere parentheses are harmless
    with pytest.raises(ExpressionError, match="longer than"):
        compile_expression("1" + " + 1" * 2000, SCOPE)
    with pytest.raises(ExpressionError, match="string literal longer"):
        compile_expression('"' + "x" * 1500 + '"', SCOPE)
    with pytest.raises(ExpressionError, match="number literal longer"):
        compile_expression("9" * 100, SCOPE)
    long_chain = " + ".join(["qty"] * 40)  # a long left-nested chain still compiles
    assert compile_expression(long_chain, SCOPE)(REC, ENV) == 120
    with pytest.raises(ExpressionError):
        compile_expression(" and ".join(["rush"] * 60), SCOPE)


@pytest.mark.parametrize("text", [
    "__import__('os')", "qty.__class__", "open('x')", "r.get('amount')", "env.params", "_K", "exec('1')",
])
def test_sandbox_rejects_everything_not_declared(text):
    with pytest.raises((ExpressionError, ExpressionErrors)):
        compile_expression(text, SCOPE)


def test_user_strings_never_become_code():
    nasty = '"\\"); import os; os.system(\\"echo pwned\\"); (\\""'
    expr = compile_expression(f"concat({nasty}, country)", SCOPE)
    assert "import os" in expr(REC, ENV)
    assert "os.system" not in expr.source.replace(repr(expr(REC, ENV)[:-2]), "")


def test_every_function_has_both_implementations():
    assert set(FUNCTIONS) <= PY_FUNCTIONS
    assert set(FUNCTIONS) <= SQL_FUNCTIONS
