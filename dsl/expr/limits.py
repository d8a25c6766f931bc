"""Bounds on values and expressions, shared by the expression compilers and input coercion.

One definition of what a value may be (a 64-bit integer, text without NUL or lone
surrogates, a date in years 1..9999, a string result of at most MAX_TEXT characters)
so that Python, SQLite and PostgreSQL accept and compute the same things, and no
input or expression can cost unbounded time or memory.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_TEXT = 100_000  # characters of a string built by an expression (+, concat, replace); longer -> null
MAX_NUMBER_TEXT = 100  # characters of a number written as text (input values)
MAX_EXPONENT = 60  # |exponent| of a number (1e60): larger ones are refused before converting
ROUND_DIGITS = (0, 10)  # round(x, digits): digits outside this range give null (a literal is an error)
MAX_JSON_DEPTH = 64  # nesting of JSON data (input payloads, json field values)

DATE_MIN = dt.date(1, 1, 1)
DATE_MAX = dt.date(9999, 12, 31)
# days from 0001-01-01 to 9999-12-31: a shift by more cannot stay within years 1..9999
DATE_SPAN = (DATE_MAX - DATE_MIN).days

_INFINITIES = (float("inf"), float("-inf"))
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def int_in_range(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


def int_problem(value: int) -> str | None:
    """Why ``value`` cannot be stored as an integer (None: it can)."""
    if int_in_range(value):
        return None
    return f"whole number out of range ({INT_MIN}..{INT_MAX})"


def bad_char(value: str) -> tuple[int, str] | None:
    """(index, description) of the first character no database stores as text: NUL or a lone
    surrogate (PostgreSQL refuses them, so both databases refuse them alike)."""
    m = _BAD_TEXT.search(value)
    if m is None:
        return None
    ch = m.group()
    what = "a NUL character (\\u0000)" if ch == "\x00" else f"an invalid character (lone surrogate \\u{ord(ch):04x})"
    return m.start(), what


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored or compared as text (None: it can)."""
    bad = bad_char(value)
    return None if bad is None else f"contains {bad[1]} at position {bad[0] + 1}"


def number_problem(value: object) -> str | None:
    """Why a Decimal or float is not a usable number (None: it is): infinite, NaN, or beyond 1e60."""
    if isinstance(value, float):
        if value != value or value in _INFINITIES:
            return "not a finite number"
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "not a finite number"
        if value and abs(value.adjusted()) > MAX_EXPONENT:
            return f"number out of range (at most {MAX_EXPONENT} digits before or after the point)"
    return None


def value_problem(value: object, depth: int = 0) -> str | None:
    """Why a parameter value (number, text, date, list of them) cannot be used in an expression."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return int_problem(value)
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return f"text longer than {MAX_TEXT} characters"
        return text_problem(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        if depth > 0:
            return "a list cannot hold lists"
        for item in value:
            problem = value_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return number_problem(value)
