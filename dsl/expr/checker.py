"""Name resolution and type checking of a parsed expression against a scope.

The checker is the only pass that looks at names: it resolves every path to
``Step`` objects and annotates every node with its :class:`Type`. The compilers
then trust the checked tree. All errors of one expression are collected.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import ExpressionError, ExpressionErrors
from . import ast, cost
from .decide import check_decide
from .functions import AGGREGATES, FUNCTIONS
from .limits import INT_MAX, INT_MIN, MAX_TEXT, ROUND_DIGITS, int_in_range
from .types import (
    ANY,
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    INTEGER,
    NULL,
    ROWS,
    STRING,
    Type,
    compatible,
    from_python,
    list_of,
    unify,
)


class SchemaView(Protocol):
    """What the checker needs to know about entities: their fields' types.

    A link field has type ``record(target)``, a child table ``table(child)``,
    an enum a string type with ``options``.
    """

    def entity_fields(self, entity: str) -> Mapping[str, Type] | None: ...


@dataclass
class Scope:
    """Names visible to one expression.

    ``entity``: the current record; its fields are visible unqualified.
    ``roots``: extra named variables (``record(entity)`` or scalar types).
    ``params``: typed ``:name`` parameters; None forbids parameters;
    ``open_params`` accepts any parameter name with type ``any``.
    ``changes``: the expression checks a write, so ``changed('field')`` may ask what it changes.
    """

    schema: SchemaView
    entity: str | None = None
    roots: dict[str, Type] = field(default_factory=dict)
    params: dict[str, Type] | None = None
    open_params: bool = False
    changes: bool = False

    def child(self, entity: str) -> Scope:
        return Scope(self.schema, entity, {}, self.params, self.open_params)


_ORDERED = ("integer", "decimal", "string", "date", "datetime")


class Checker:
    def __init__(self, text: str, scope: Scope) -> None:
        self.text = text
        self.scope = scope
        self.errors: list[ExpressionError] = []

    def error(self, node: ast.Node, message: str) -> Type:
        self.errors.append(ExpressionError(message, self.text, node.line, node.column))
        return ANY

    def visit(self, node: ast.Node, scope: Scope) -> Type:
        method = getattr(self, "visit_" + type(node).__name__)
        t = method(node, scope)
        node.type = t
        return t

    # -- leaves
    def visit_Literal(self, node: ast.Literal, scope: Scope) -> Type:
        v = node.value
        if isinstance(v, int) and not isinstance(v, bool) and not int_in_range(v):
            return self.error(node, f"integer {v} out of range ({INT_MIN}..{INT_MAX}); write {v}.0 for a decimal")
        return from_python(v)

    def visit_ListLit(self, node: ast.ListLit, scope: Scope) -> Type:
        item: Type = NULL
        for it in node.items:
            t = self.visit(it, scope)
            u = unify(item, t)
            if u is None:
                self.error(it, f"list items must have one type, got {item} and {t}")
                u = ANY
            item = u
        return list_of(item)

    def visit_Param(self, node: ast.Param, scope: Scope) -> Type:
        if scope.params is None:
            return self.error(node, f"parameter :{node.name} is not allowed here")
        if node.name in scope.params:
            return scope.params[node.name]
        if scope.open_params:
            return ANY
        known = ", ".join(":" + p for p in scope.params) or "none"
        return self.error(node, f"unknown parameter :{node.name} (declared: {known})")

    def visit_Path(self, node: ast.Path, scope: Scope) -> Type:
        t = self._resolve(node, scope)
        if t.kind in ROWS:
            return self.error(
                node, f"'{'.'.join(node.parts)}' is a table of rows; use it in an aggregate such as "
                f"sum({'.'.join(node.parts)}, ...) or count({'.'.join(node.parts)})"
            )
        return t

    def _resolve(self, node: ast.Path, scope: Scope) -> Type:
        first, *rest = node.parts
        steps: list[ast.Step] = []
        if first in scope.roots:
            node.root = first
            t = scope.roots[first]
            steps.append(ast.Step(None, first, "root", t.arg if t.kind in ("record", *ROWS) else None))
        elif scope.entity is not None:
            t = self._field(node, scope, scope.entity, first, steps)
            if t is None:
                return ANY
        else:
            names = sorted(scope.roots)
            return self.error(node, f"unknown name '{first}'" + _suggest(first, names))
        if t.kind == "object":  # an open mapping such as the acting user: any key, any type
            if len(rest) > 1:
                return self.error(node, f"'{first}' has one level of keys: {first}.{rest[0]}")
            steps.extend(ast.Step(None, part, "field") for part in rest)
            node.steps = steps
            return ANY if rest else t
        for part in rest:
            if t.kind == "record":
                t = self._field(node, scope, str(t.arg), part, steps)
                if t is None:
                    return ANY
            elif t.kind in ROWS:
                return self.error(node, f"cannot take '.{part}' of table '{steps[-1].name}'; use an aggregate")
            else:
                return self.error(node, f"cannot take '.{part}' of {steps[-1].name} ({t}): it is not a link")
        node.steps = steps
        return t

    def _field(self, node: ast.Path, scope: Scope, entity: str, name: str, steps: list[ast.Step]) -> Type | None:
        fields = scope.schema.entity_fields(entity)
        if fields is None:
            self.error(node, f"unknown entity '{entity}'")
            return None
        t = fields.get(name)
        if t is None:
            extra = sorted(scope.roots) if not steps else []
            self.error(node, f"unknown field '{name}' in {entity}" + _suggest(name, [*fields, *extra]))
            return None
        kind = {"record": "link", "table": "table", "related": "related"}.get(t.kind, "field")
        steps.append(ast.Step(entity, name, kind, t.arg if kind != "field" else None))  # type: ignore[arg-type]
        return t

    # -- operators
    def visit_Unary(self, node: ast.Unary, scope: Scope) -> Type:
        t = self.visit(node.operand, scope)
        if node.op == "not":
            if not (t.is_any or t.kind == "boolean"):
                return self.error(node, f"'not' needs a boolean, got {t}")
            return BOOLEAN
        if not (t.is_any or t.is_numeric):
            return self.error(node, f"'-' needs a number, got {t}")
        return t if t.is_numeric else DECIMAL

    def visit_Binary(self, node: ast.Binary, scope: Scope) -> Type:
        lt = self.visit(node.left, scope)
        rt = self.visit(node.right, scope)
        op = node.op
        if op in ("and", "or"):
            for side, t in ((node.left, lt), (node.right, rt)):
                if not (t.is_any or t.kind == "boolean"):
                    self.error(side, f"'{op}' needs booleans, got {t}")
            return BOOLEAN
        if op in ("in", "not in"):
            return self._in(node, lt, rt)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self._compare(node, lt, rt)
        return self._arith(node, lt, rt)

    def _compare(self, node: ast.Binary, lt: Type, rt: Type) -> Type:
        op = node.op
        if op in ("==", "!="):
            ok = compatible(lt, rt) or {lt.kind, rt.kind} == {"record", "integer"}
        else:
            ok = (lt.is_any or rt.is_any) or (
                (lt.is_numeric and rt.is_numeric) or (lt.kind == rt.kind and lt.kind in _ORDERED)
            )
        if not ok:
            return self.error(node, f"cannot compare {lt} {op} {rt}")
        self._check_option(node.left, lt, node.right)
        self._check_option(node.right, rt, node.left)
        return BOOLEAN

    def _check_option(self, field_node: ast.Node, t: Type, other: ast.Node) -> None:
        if t.options and isinstance(other, ast.Literal) and isinstance(other.value, str):
            if other.value not in t.options:
                self.error(other, f"'{other.value}' is not an option of {_name(field_node)} "
                                  f"({', '.join(t.options)})")

    def _in(self, node: ast.Binary, lt: Type, rt: Type) -> Type:
        if rt.is_any:
            return BOOLEAN
        if rt.kind != "list":
            return self.error(node.right, f"'{node.op}' needs a list on the right, got {rt}")
        item = rt.arg
        assert isinstance(item, Type)
        if not compatible(lt, item):
            return self.error(node, f"cannot look for {lt} in {rt}")
        if lt.options and isinstance(node.right, ast.ListLit):
            for it in node.right.items:
                self._check_option(node.left, lt, it)
        return BOOLEAN

    def _arith(self, node: ast.Binary, lt: Type, rt: Type) -> Type:
        op = node.op
        if lt.is_any or rt.is_any:
            if lt.is_null or rt.is_null:
                return NULL if (lt.is_null and rt.is_null) else (rt if lt.is_null else lt).plain()
            return ANY
        if lt.is_numeric and rt.is_numeric:
            if op == "%":
                if lt.kind != "integer" or rt.kind != "integer":
                    return self.error(node, f"'%' needs integers, got {lt} % {rt}")
                return INTEGER
            if op == "/":
                return DECIMAL
            return INTEGER if lt.kind == rt.kind == "integer" else DECIMAL
        if op == "+" and lt.kind == rt.kind == "string":
            return STRING
        if lt.kind == "date":
            if op == "-" and rt.kind == "date":
                return INTEGER
            if op in "+-" and rt.kind == "integer":
                return DATE
        if lt.kind == "datetime":
            if op == "-" and rt.kind == "datetime":
                return DECIMAL
            if op in "+-" and rt.is_numeric:
                return DATETIME
        if op == "+" and rt.kind in ("date", "datetime") and lt.kind == "integer":
            return self.error(node, f"write the date first: date + days, not {lt} + {rt}")
        return self.error(node, f"cannot compute {lt} {op} {rt}")

    # -- calls
    def visit_Call(self, node: ast.Call, scope: Scope) -> Type:
        name = node.name
        if name in AGGREGATES and node.args and isinstance(node.args[0], ast.Path):
            first = node.args[0]
            n_errors = len(self.errors)
            t = self._resolve(first, scope)
            first.type = t
            if t.kind in ROWS:
                return self._aggregate(node, scope, str(t.arg))
            if name not in FUNCTIONS:
                return self.error(first, f"{name}() needs a table field first, got {t}")
            del self.errors[n_errors:]  # re-checked below as an ordinary argument
        if name == "changed":
            return self._changed(node, scope)
        if name == "decide":
            return check_decide(self, node, scope)
        fn = FUNCTIONS.get(name)
        if fn is None:
            return self.error(node, f"unknown function '{name}'" + _suggest(name, [*FUNCTIONS, *AGGREGATES]))
        n = len(node.args)
        if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
            want = str(fn.min_args) if fn.min_args == fn.max_args else (
                f"{fn.min_args}+" if fn.max_args is None else f"{fn.min_args}-{fn.max_args}")
            for a in node.args:
                self.visit(a, scope)
            return self.error(node, f"{name}() takes {want} argument(s), got {n}")
        types = [self.visit(a, scope) for a in node.args]
        if name == "round" and n == 2 and isinstance(node.args[1], ast.Literal):
            digits = node.args[1].value
            lo, hi = ROUND_DIGITS
            if isinstance(digits, int) and not lo <= digits <= hi:
                return self.error(node.args[1], f"round() takes {lo} to {hi} digits, got {digits}")
        result = fn.rule(types)
        if isinstance(result, str):
            return self.error(node, f"{name}(): {result}")
        return result

    def _changed(self, node: ast.Call, scope: Scope) -> Type:
        """``changed('field')``: a field of the record being written, named by a string literal."""
        for a in node.args:
            self.visit(a, scope)
        if not scope.changes:
            return self.error(node, "changed() can only be used where a write is checked (a validation's 'when')")
        arg = node.args[0] if len(node.args) == 1 else None
        if not isinstance(arg, ast.Literal) or not isinstance(arg.value, str):
            return self.error(node, "changed() takes one field name in quotes, e.g. changed('due_date')")
        fields = scope.schema.entity_fields(scope.entity or "") or {}
        if arg.value not in fields:
            return self.error(arg, f"unknown field '{arg.value}' in {scope.entity}" + _suggest(arg.value, [*fields]))
        return BOOLEAN

    def _aggregate(self, node: ast.Call, scope: Scope, child: str) -> Type:
        name = node.name
        node.child_entity = child
        args = node.args
        if name == "count" and len(args) == 1:
            return INTEGER
        if len(args) != 2:
            return self.error(node, f"{name}() over a table takes 2 arguments: {name}(table, expression)")
        t = self.visit(args[1], scope.child(child))
        if name in ("count", "any", "all"):
            if not (t.is_any or t.kind == "boolean"):
                return self.error(args[1], f"{name}() needs a condition, got {t}")
            return INTEGER if name == "count" else BOOLEAN
        if name in ("sum", "avg"):
            if not (t.is_any or t.is_numeric):
                return self.error(args[1], f"{name}() needs a number, got {t}")
            return DECIMAL if name == "avg" else (t if t.is_numeric else DECIMAL)
        if not (t.is_any or t.kind in _ORDERED):
            return self.error(args[1], f"{name}() needs numbers, strings or dates, got {t}")
        return t.plain()


def _name(node: ast.Node) -> str:
    return ".".join(node.parts) if isinstance(node, ast.Path) else "value"


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check(node: ast.Node, text: str, scope: Scope, expect: Type | None = None) -> Type:
    """Check ``node`` (parsed from ``text``) in ``scope``; raise :class:`ExpressionErrors`."""
    checker = Checker(text, scope)
    t = checker.visit(node, scope)
    if expect is not None and not checker.errors and not t.is_any:
        ok = compatible(expect, t) if expect.kind != "boolean" else t.kind == "boolean"
        if not ok:
            checker.error(node, f"expected {expect}, got {t}")
    if not checker.errors:
        _check_cost(checker, node)
    if checker.errors:
        raise ExpressionErrors(checker.errors)
    return t


def _check_cost(checker: Checker, node: ast.Node) -> None:
    """Refuse what would cost too much to run or could not compile to SQL (see :mod:`cost`)."""
    _, grows = cost.string_growth(node)
    if grows is not None:
        checker.error(grows, f"this string can grow past {MAX_TEXT} characters, the longest an expression "
                             f"may build")
        return
    size = cost.sql_size(node)
    if size > cost.MAX_SQL_SIZE:
        checker.error(node, "expression too complex: its SQL form would repeat nested parts too often "
                            "(nested replace/concat/min/max); split it into computed fields")
        return
    depth = cost.sql_depth(node)
    if depth > cost.MAX_SQL_DEPTH:
        checker.error(node, f"expression nested too deeply for SQL (weight {depth}, at most "
                            f"{cost.MAX_SQL_DEPTH}; links and aggregates weigh most); split it into computed fields")
