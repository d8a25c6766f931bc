"""Unary tests: the cells of a decision table's input columns.

A cell reads like the table a business user would draw::

    -                      any value (also an empty cell)
    < 1000   >= 18         a comparison with the input
    [1000..5000)           a range; ( ) or ] [ exclude an end, [ ] include it
    "VIP", "GOLD"          one of several tests (each may be any of these forms)
    not("X", "Y")          none of them
    null                   the input is null
    "VIP"   42   true      equal to a value (any expression of the language)
    ? > 3 and ? < 9        a boolean expression over ``?``, the input value

:func:`parse_cell` turns a cell into :class:`Test` items, each an expression of the
expression language over the input value (written ``_``, so that ``?`` keeps its column),
plus the shape the static checks (:mod:`decision_check`) reason about. Positions are kept:
an error in a cell names its column inside the cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ExpressionError

INPUT = "_"  # the name the input value has inside a cell's expression

_ENDPOINT = (r"(?:-?\d+(?:\.\d+)?|@\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?)?|\"(?:\\.|[^\"\\])*\""
             r"|'(?:\\.|[^'\\])*'|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
_RANGE = re.compile(rf"\s*([\[\]\(])\s*({_ENDPOINT})\s*\.\.\s*({_ENDPOINT})\s*([\]\[\)])\s*")
_COMPARE = re.compile(r"\s*(<=|>=|!=|<|>|=)(?!=)")
_LITERAL_NUM = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class Test:
    """One test of a cell: ``expr`` (over ``_``) and what the static checks know of it.

    ``shape`` is ``("eq", value)``, ``("cmp", op, value)``, ``("range", lo, lo_closed, hi, hi_closed)``,
    ``("null",)`` or ``("expr",)`` (an expression the checks cannot reason about); values are
    literal texts, parsed later against the input's type.
    """

    expr: str
    column: int  # 1-based column of the test inside the cell
    shift: int  # columns of ``expr`` before the user's text starts (for error positions)
    shape: tuple


@dataclass
class Cell:
    """A parsed input cell: any (``-``), or tests joined by 'or', possibly negated."""

    text: str
    any: bool = False
    negated: bool = False
    tests: list[Test] = field(default_factory=list)

    def expression(self) -> str | None:
        """The whole cell as one boolean expression over ``_`` (None for any)."""
        if self.any:
            return None
        body = " or ".join(f"({t.expr})" for t in self.tests)
        if len(self.tests) == 1:
            body = self.tests[0].expr
        return f"not ({body})" if self.negated else body


def cell_text(value: Any) -> str:
    """The text of a cell written in YAML as a string, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_cell(value: Any) -> Cell:
    """Parse an input cell; raise :class:`ExpressionError` (with the column in the cell)."""
    text = cell_text(value)
    stripped = text.strip()
    if stripped in ("", "-"):
        return Cell(text, any=True)
    cell = Cell(text)
    body, offset = text, 0
    m = re.match(r"\s*not\s*\(", text)
    if m and _closing(text, m.end() - 1) == len(text.rstrip()) - 1:
        cell.negated = True
        offset = m.end()
        body = text[m.end(): len(text.rstrip()) - 1]
    for item, start in _split(body, offset, text):
        cell.tests.append(_test(item, start, text))
    if not cell.tests:
        raise ExpressionError("empty test", text, 1, offset + 1)
    return cell


def _closing(text: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at`` (-1 when unbalanced)."""
    depth, quote, i = 0, None, open_at
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _split(body: str, offset: int, text: str) -> list[tuple[str, int]]:
    """The comma-separated tests of ``body`` with their start index in ``text``."""
    items: list[tuple[str, int]] = []
    i, n = 0, len(body)
    while i <= n:
        m = _RANGE.match(body, i)
        if m and (m.end() == n or body[m.end()] == ","):
            items.append((body[i:m.end()], offset + i))
            i = m.end() + 1
            continue
        depth, quote, j = 0, None, i
        while j < n:
            c = body[j]
            if quote:
                if c == "\\":
                    j += 1
                elif c == quote:
                    quote = None
            elif c in "\"'":
                quote = c
            elif c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
            elif c == "," and depth == 0:
                break
            j += 1
        if quote:
            raise ExpressionError("unterminated string", text, 1, offset + i + 1)
        items.append((body[i:j], offset + i))
        i = j + 1
    for item, start in items:
        if not item.strip():
            raise ExpressionError("empty test between commas", text, 1, start + 1)
    return items


def _test(item: str, start: int, text: str) -> Test:
    lead = len(item) - len(item.lstrip())
    col = start + lead + 1
    s = item.strip()
    if s == "null":
        return Test(f"is_null({INPUT})", col, 0, ("null",))
    m = _RANGE.fullmatch(item)
    if m:
        lo_b, lo, hi, hi_b = m.group(1), m.group(2), m.group(3), m.group(4)
        lo_closed, hi_closed = lo_b == "[", hi_b == "]"
        expr = (f"{INPUT} {'>=' if lo_closed else '>'} {lo} and {INPUT} {'<=' if hi_closed else '<'} {hi}")
        return Test(expr, col, 0, ("range", lo, lo_closed, hi, hi_closed))
    m = _COMPARE.match(item)
    if m:
        op = "==" if m.group(1) == "=" else m.group(1)
        rest = item[m.end():]
        if not rest.strip():
            raise ExpressionError(f"'{m.group(1)}' needs a value after it", text, 1, col + len(m.group(1)))
        expr = f"{INPUT} {op}{rest}"
        shape = ("eq", rest.strip()) if op == "==" else ("cmp", op, rest.strip())
        return Test(expr, col, len(INPUT) + 1 + len(op) - len(m.group(1).strip()), shape)
    if _has_question_mark(s):
        return Test(_replace_question(s), col, 0, ("expr",))
    expr = f"{INPUT} == ({s})"
    return Test(expr, col, len(INPUT) + 5, ("eq", s) if _is_literal(s) else ("expr",))


def _is_literal(s: str) -> bool:
    return bool(_LITERAL_NUM.match(s)) or s in ("true", "false") or bool(
        re.fullmatch(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'", s)) or bool(
        re.fullmatch(r"@\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?", s))


def _has_question_mark(s: str) -> bool:
    return "?" in _outside_strings(s)


def _outside_strings(s: str) -> str:
    """``s`` with the content of string literals blanked out."""
    out, quote, i = [], None, 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                out.append("  ")
                i += 2
                continue
            out.append(c if c == quote else " ")
            if c == quote:
                quote = None
        else:
            if c in "\"'":
                quote = c
            out.append(c)
        i += 1
    return "".join(out)


def _replace_question(s: str) -> str:
    mask = _outside_strings(s)
    return "".join(INPUT if m == "?" else c for c, m in zip(s, mask, strict=True))


def error_column(test: Test, expr_column: int) -> int:
    """The column in the cell of an error at ``expr_column`` of ``test.expr``."""
    return max(test.column, test.column + expr_column - 1 - test.shift)
