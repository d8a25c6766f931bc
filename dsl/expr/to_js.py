"""Compile a checked expression tree to JavaScript (the third back-end beside Python and SQL).

The browser evaluates form rules (``visible_if``, ``required_if``, ``read_only_if``, computed fields)
with the same semantics as the server: the generated code calls only the helpers of
``forms/static/ordo-expr.js`` (namespace ``OrdoExpr``, bound to ``E``), which keep decimals exact,
null propagation and three-valued logic as :mod:`to_python` does. User text never becomes code: string
literals are emitted as JSON string literals (with ``<``, ``>``, ``&`` and line separators escaped),
numbers and dates as text parsed by the runtime, and names are identifiers the checker validated,
quoted as strings.

``to_js(tree, root_names)`` returns the source of ``function (r, env, v_root...) {...}``. A record is a
plain object of runtime values; a link field holds the linked record's name (``env.link(entity, name)``
supplies that record) or the linked record itself as a nested object. What cannot run in a browser
(aggregates over ``related`` records, which are SQL queries; ``changed()``, which only a write has)
is refused with a :class:`BrowserUnsupported` error naming the position.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from ..errors import ExpressionError
from . import ast
from .ast import string_sum


class BrowserUnsupported(ExpressionError):
    """The expression uses something only the server can compute."""


def js_string(value: str) -> str:
    """``value`` as a JavaScript string literal, safe inside HTML and script files."""
    text = json.dumps(value, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def js_literal(value: Any) -> str:
    """A Python value (null, boolean, number, string, date, datetime) as runtime JavaScript."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f'E.num("{value}", true)'
    if isinstance(value, Decimal):
        return f'E.num("{value}", false)'
    if isinstance(value, float):
        return f'E.num("{Decimal(repr(value))}", false)'
    if isinstance(value, str):
        return js_string(value)
    if isinstance(value, dt.datetime):
        return f'E.datetime("{value.isoformat()}")'
    if isinstance(value, dt.date):
        return f'E.date("{value.isoformat()}")'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(js_literal(v) for v in value) + "]"
    raise TypeError(f"no JavaScript form for {type(value).__name__}")


_CMP = {"<", "<=", ">", ">="}
_ARITH = {"+": "E.add", "-": "E.sub", "*": "E.mul", "/": "E.div", "%": "E.mod"}
_SIMPLE = {  # function name -> helper, arguments passed as they are
    "len": "E.len", "lower": "E.lower", "upper": "E.upper", "trim": "E.trim", "contains": "E.contains",
    "starts_with": "E.startsWith", "ends_with": "E.endsWith", "substr": "E.substr", "replace": "E.replace",
    "abs": "E.abs", "round": "E.round", "floor": "E.floor", "ceil": "E.ceil", "sqrt": "E.sqrt",
    "distance": "E.distance", "concat": "E.concat", "coalesce": "E.coalesce", "is_null": "E.isNull",
    "is_blank": "E.isBlank", "if": "E.if", "add_days": "E.dateAdd", "date": "E.toDate",
}

JS_FUNCTIONS = set(_SIMPLE) | {"today", "now", "min", "max", "year", "month", "day", "days_between", "changed", "decide"}
_PART = {"year": 0, "month": 1, "day": 2}


class _JsCodegen:
    """Tree -> JavaScript expression text (a visitor over the checked tree; it never evaluates)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def unsupported(self, node: ast.Node, message: str) -> BrowserUnsupported:
        return BrowserUnsupported(message, self.text, node.line, node.column)

    def emit(self, node: ast.Node, rv: str) -> str:
        return getattr(self, "e_" + type(node).__name__)(node, rv)

    def e_Literal(self, node: ast.Literal, rv: str) -> str:
        return js_literal(node.value)

    def e_ListLit(self, node: ast.ListLit, rv: str) -> str:
        return "[" + ", ".join(self.emit(i, rv) for i in node.items) + "]"

    def e_Param(self, node: ast.Param, rv: str) -> str:
        return f"E.get(env.params, {js_string(node.name)})"

    def e_Path(self, node: ast.Path, rv: str) -> str:
        steps = node.steps
        cur = rv
        if node.root is not None:
            cur, steps = "v_" + node.root, steps[1:]
        for i, step in enumerate(steps):
            if i == 0:
                cur = f"E.get({cur}, {js_string(step.name)})"
            else:
                cur = f"E.lf(env, {js_string(steps[i - 1].target or '')}, {cur}, {js_string(step.name)})"
        return cur

    def e_Unary(self, node: ast.Unary, rv: str) -> str:
        x = self.emit(node.operand, rv)
        return f"E.not({x})" if node.op == "not" else f"E.neg({x})"

    def e_Binary(self, node: ast.Binary, rv: str) -> str:
        op = node.op
        if op == "+" and node.type is not None and node.type.kind == "string":
            return f"E.cat({', '.join(self.emit(p, rv) for p in string_sum(node))})"
        left, right = self.emit(node.left, rv), self.emit(node.right, rv)
        if op in ("and", "or"):
            return f"E.{op}({left}, {right})"
        if op == "==":
            return f"E.eq({left}, {right})"
        if op == "!=":
            return f"E.ne({left}, {right})"
        if op in _CMP:
            return f'E.compare("{op}", {left}, {right})'
        if op == "in":
            return f"E.in({left}, {right})"
        if op == "not in":
            return f"E.notIn({left}, {right})"
        lt, rt = node.left.type, node.right.type
        if lt is not None and lt.kind in ("date", "datetime") and op in "+-":
            return f"E.{'dateSub' if op == '-' else 'dateAdd'}({left}, {right})"
        if rt is not None and rt.kind in ("date", "datetime") and op == "+":
            return f"E.dateAdd({right}, {left})"
        return f"{_ARITH[op]}({left}, {right})"

    def e_Call(self, node: ast.Call, rv: str) -> str:
        if node.child_entity is not None:
            return self._aggregate(node, rv)
        name = node.name
        if name == "changed":
            raise self.unsupported(node, "changed() is known only while a write is checked, not in the browser")
        if name == "decide":
            raise self.unsupported(node, "decide() evaluates a decision table on the server, not in the browser")
        args = [self.emit(a, rv) for a in node.args]
        if name in ("today", "now"):
            return f"E.{name}(env)"
        if name in ("min", "max"):
            return args[0] if len(args) == 1 else f"E.{name}({', '.join(args)})"
        if name in _PART:
            return f"E.datePart({_PART[name]}, {args[0]})"
        if name == "days_between":
            return f"E.dateSub({args[1]}, {args[0]})"
        return f"{_SIMPLE[name]}({', '.join(args)})"

    def _aggregate(self, node: ast.Call, rv: str) -> str:
        path = node.args[0]
        assert isinstance(path, ast.Path)
        if path.steps and path.steps[-1].kind == "related":
            raise self.unsupported(node, f"{node.name}() over related records '{'.'.join(path.parts)}' is "
                                         "computed by the database, not in the browser")
        rows = f"E.rows({self.emit(path, rv)})"
        if node.name == "count" and len(node.args) == 1:
            return f"E.agg.count({rows}, env, null)"
        body = self.emit(node.args[1], "r")
        return f"E.agg.{node.name}({rows}, env, function (r, env) {{ return {body}; }})"


def to_js_expression(node: ast.Node, text: str = "") -> str:
    """The JavaScript expression of a checked tree over the record ``r`` (free names: ``r``, ``env``,
    ``E`` and ``v_<root>``)."""
    return _JsCodegen(text).emit(node, "r")


def to_js(node: ast.Node, root_names: list[str] | None = None, text: str = "") -> str:
    """The source of ``function (r, env, v_root...) { return ...; }`` for a checked tree."""
    params = ", ".join(["r", "env", *("v_" + n for n in root_names or [])])
    return f"function ({params}) {{ return {to_js_expression(node, text)}; }}"
