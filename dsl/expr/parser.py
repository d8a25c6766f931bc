"""Parse expression text into the syntax tree (lark LALR), enforcing size limits."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import ExpressionError
from . import ast
from .limits import bad_char

MAX_LENGTH = 4000  # characters of expression text
MAX_DEPTH = 50  # nesting depth of the syntax tree (generated Python nests a few parentheses per level)
MAX_STRING = 1000  # characters of one string literal
MAX_DIGITS = 30  # digits of one number literal
MAX_LIST = 1000  # items of one list literal

_TOKEN_NAMES = {
    "NUMBER": "a number",
    "STRING": "a string",
    "NAME": "a name",
    "DATE": "a date",
    "PARAM": "a parameter",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "DOT": "'.'",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '%'",
    "MINUS": "'-'",
    "$END": "end of expression",
}


@functools.cache
def _lark() -> Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _unescape(raw: str) -> str:
    body = raw[1:-1]
    out = []
    i = 0
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _ToAst(Transformer):
    """lark parse tree -> :mod:`ast` nodes (a Transformer: builds, never evaluates)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def _err(self, msg: str, tok: Token) -> ExpressionError:
        return ExpressionError(msg, self.text, tok.line or 1, tok.column or 1)

    @v_args(meta=True)
    def number(self, meta, children):
        (tok,) = children
        if len(tok.value.replace(".", "")) > MAX_DIGITS:
            raise self._err(f"number literal longer than {MAX_DIGITS} digits", tok)
        value = Decimal(tok.value) if "." in tok.value else int(tok.value)
        return ast.Literal(meta.line, meta.column, value)

    @v_args(meta=True)
    def string(self, meta, children):
        (tok,) = children
        if len(tok.value) - 2 > MAX_STRING:
            raise self._err(f"string literal longer than {MAX_STRING} characters", tok)
        return ast.Literal(meta.line, meta.column, _unescape(tok.value))

    @v_args(meta=True)
    def date(self, meta, children):
        (tok,) = children
        raw = tok.value[1:]
        try:
            value = dt.datetime.fromisoformat(raw) if "T" in raw else dt.date.fromisoformat(raw)
        except ValueError:
            raise self._err(f"invalid date {tok.value}", tok) from None
        return ast.Literal(meta.line, meta.column, value)

    @v_args(meta=True)
    def true(self, meta, children):
        return ast.Literal(meta.line, meta.column, True)

    @v_args(meta=True)
    def false(self, meta, children):
        return ast.Literal(meta.line, meta.column, False)

    @v_args(meta=True)
    def null(self, meta, children):
        return ast.Literal(meta.line, meta.column, None)

    @v_args(meta=True)
    def list(self, meta, children):
        items = [c for c in children if c is not None]
        if len(items) > MAX_LIST:
            raise ExpressionError(f"list literal longer than {MAX_LIST} items", self.text, meta.line, meta.column)
        return ast.ListLit(meta.line, meta.column, items)

    @v_args(meta=True)
    def call(self, meta, children):
        name, *args = children
        return ast.Call(meta.line, meta.column, str(name), [a for a in args if a is not None])

    @v_args(meta=True)
    def param(self, meta, children):
        (tok,) = children
        return ast.Param(meta.line, meta.column, tok.value[1:])

    @v_args(meta=True)
    def path(self, meta, children):
        return ast.Path(meta.line, meta.column, [str(c) for c in children])

    @v_args(meta=True)
    def neg(self, meta, children):
        (operand,) = children
        if isinstance(operand, ast.Literal) and isinstance(operand.value, (int, Decimal)):
            operand.value = -operand.value
            operand.line, operand.column = meta.line, meta.column
            return operand
        return ast.Unary(meta.line, meta.column, "-", operand)

    @v_args(meta=True)
    def not_op(self, meta, children):
        return ast.Unary(meta.line, meta.column, "not", children[0])

    @v_args(meta=True)
    def binop(self, meta, children):
        left, op, right = children
        return ast.Binary(op.line, op.column, str(op), left, right)

    compare = binop

    @v_args(meta=True)
    def and_op(self, meta, children):
        return ast.Binary(meta.line, meta.column, "and", *children)

    @v_args(meta=True)
    def or_op(self, meta, children):
        return ast.Binary(meta.line, meta.column, "or", *children)

    @v_args(meta=True)
    def in_op(self, meta, children):
        return ast.Binary(meta.line, meta.column, "in", *children)

    @v_args(meta=True)
    def not_in_op(self, meta, children):
        return ast.Binary(meta.line, meta.column, "not in", *children)


def _describe_expected(expected: set[str]) -> str:
    names = sorted({_TOKEN_NAMES.get(e, repr(e.lower()) if e.isupper() else e) for e in expected})
    if len(names) > 6:
        return "an operand or operator"
    return ", ".join(names)


def _check_depth(tree, text: str) -> None:
    from lark import Tree

    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            raise ExpressionError(
                f"expression nested deeper than {MAX_DEPTH} levels",
                text,
                getattr(meta, "line", 1),
                getattr(meta, "column", 1),
            )
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))


def parse(text: str) -> ast.Node:
    """Parse ``text`` into an unchecked syntax tree; raise :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be text, got {type(text).__name__}", str(text))
    if not text.strip():
        raise ExpressionError("empty expression", text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", text)
    bad = bad_char(text)
    if bad is not None:
        at, what = bad
        line, column = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        raise ExpressionError(f"expression contains {what}", text, line, column)
    try:
        tree = _lark().parse(text)
    except UnexpectedCharacters as e:
        raise ExpressionError(f"unexpected character {text[e.pos_in_stream]!r}", text, e.line, e.column) from None
    except UnexpectedEOF as e:
        raise ExpressionError(
            f"unexpected end of expression, expected {_describe_expected(set(e.expected))}",
            text,
            *_end_position(text),
        ) from None
    except UnexpectedToken as e:
        if e.token.type == "$END":
            line, col = _end_position(text)
            msg = f"unexpected end of expression, expected {_describe_expected(set(e.expected))}"
        else:
            line, col = e.line, e.column
            msg = f"unexpected {e.token.value!r}, expected {_describe_expected(set(e.expected))}"
        raise ExpressionError(msg, text, line, col) from None
    except UnexpectedInput as e:  # pragma: no cover - other lark input errors
        raise ExpressionError(str(e).splitlines()[0], text, e.line, e.column) from None
    _check_depth(tree, text)
    if not hasattr(tree, "data"):  # a bare token (cannot happen with this grammar)
        raise ExpressionError("invalid expression", text)
    try:
        return _ToAst(text).transform(tree)
    except VisitError as e:  # lark wraps errors raised while transforming
        if isinstance(e.orig_exc, ExpressionError):
            raise e.orig_exc from None
        raise


def _end_position(text: str) -> tuple[int, int]:
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1
