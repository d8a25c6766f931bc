"""Compile a checked expression tree to a Python function.

The tree is turned into Python source once and ``compile()``d. User text never
becomes code: literals go into the constants table ``_K`` (or are emitted with
``repr`` of a str/int), names are identifiers the checker validated against the
schema, and the only callable names are the helpers of :mod:`pyruntime`. The
result runs at the speed of a hand-written lambda (no tree walking).

The function signature is ``f(record, env, *roots)`` with roots in the order of
``root_names``. Null semantics follow SQL: arithmetic and ordering with null give
null, ``and``/``or``/``not`` are three-valued, ``==``/``!=`` are null-safe.
"""

from __future__ import annotations

import marshal
import warnings
from collections.abc import Callable
from typing import Any

from . import ast
from .ast import string_sum
from .decide import python_call, run_decision
from .pyruntime import HELPERS

_SIMPLE = (bool, int, str, type(None))


class _Codegen:
    def __init__(self, root_names: list[str]) -> None:
        self.consts: list[Any] = []
        self.defs: list[str] = []
        self.n = 0
        self.roots = root_names

    def const(self, value: Any) -> str:
        if isinstance(value, _SIMPLE) and not (isinstance(value, str) and len(value) > 200):
            return repr(value)
        self.consts.append(value)
        return f"_K[{len(self.consts) - 1}]"

    def tmp(self) -> str:
        self.n += 1
        return f"_t{self.n}"

    def emit(self, node: ast.Node, rv: str) -> str:
        return getattr(self, "e_" + type(node).__name__)(node, rv)

    # -- leaves
    def e_Literal(self, node: ast.Literal, rv: str) -> str:
        return self.const(node.value)

    def e_ListLit(self, node: ast.ListLit, rv: str) -> str:
        if all(isinstance(i, ast.Literal) for i in node.items):
            return self.const(tuple(i.value for i in node.items))  # type: ignore[attr-defined]
        return "(" + "".join(self.emit(i, rv) + ", " for i in node.items) + ")"

    def e_Param(self, node: ast.Param, rv: str) -> str:
        return f"env.params.get({node.name!r})"

    def e_Path(self, node: ast.Path, rv: str) -> str:
        steps = node.steps
        cur = rv
        if node.root is not None:  # a root variable: a scalar, or a record passed as a dict
            cur, steps = "v_" + node.root, steps[1:]
        for i, step in enumerate(steps):
            if i == 0:
                cur = f"{cur}.get({step.name!r})"
            else:
                cur = f"_lf(env, {steps[i - 1].target!r}, {cur}, {step.name!r})"
        return cur

    # -- operators
    def e_Unary(self, node: ast.Unary, rv: str) -> str:
        x = self.emit(node.operand, rv)
        t = self.tmp()
        op = "not " if node.op == "not" else "-"
        return f"(None if ({t} := {x}) is None else {op}{t})"

    def e_Binary(self, node: ast.Binary, rv: str) -> str:
        op = node.op
        if op == "+" and node.type is not None and node.type.kind == "string":
            return f"_cat({', '.join(self.emit(p, rv) for p in string_sum(node))})"
        left = self.emit(node.left, rv)
        right = self.emit(node.right, rv)
        if op == "and":
            a, b = self.tmp(), self.tmp()
            return (f"(False if ({a} := {left}) is False else (False if ({b} := {right}) is False else "
                    f"(None if {a} is None or {b} is None else True)))")
        if op == "or":
            a, b = self.tmp(), self.tmp()
            return (f"(True if ({a} := {left}) is True else (True if ({b} := {right}) is True else "
                    f"(None if {a} is None or {b} is None else False)))")
        if op == "==":
            return f"({left} == {right})"
        if op == "!=":
            return f"({left} != {right})"
        if op == "in":
            if isinstance(node.right, ast.ListLit) and node.right.items and all(
                isinstance(i, ast.Literal) and i.value is not None for i in node.right.items
            ):
                t = self.tmp()
                return f"(None if ({t} := {left}) is None else {t} in {right})"
            return f"_in({left}, {right})"
        if op == "not in":
            return f"_not(_in({left}, {right}))"
        lt, rt = node.left.type, node.right.type
        if op == "/":
            return f"_div({left}, {right})"
        if op == "%":
            return f"_mod({left}, {right})"
        if lt is not None and lt.kind in ("date", "datetime") and op in "+-":
            fn = "_date_sub" if op == "-" else "_date_add"
            return f"{fn}({left}, {right})"
        if rt is not None and rt.kind in ("date", "datetime") and op == "+":
            return f"_date_add({right}, {left})"
        return self._null_checked(node, left, right, op)

    def _null_checked(self, node: ast.Binary, left: str, right: str, op: str) -> str:
        """``left op right`` unless a side is null; known non-null literals skip the check."""
        checks, operands = [], []
        for side, src in ((node.left, left), (node.right, right)):
            if isinstance(side, ast.Literal) and side.value is not None:
                operands.append(src)
            else:
                t = self.tmp()
                checks.append(f"({t} := {src}) is None")
                operands.append(t)
        if not checks:
            return f"({operands[0]} {op} {operands[1]})"
        return f"(None if {' or '.join(checks)} else {operands[0]} {op} {operands[1]})"

    # -- calls
    def e_Call(self, node: ast.Call, rv: str) -> str:
        if node.child_entity is not None:
            return self._aggregate(node, rv)
        name = node.name
        args = [self.emit(a, rv) for a in node.args]
        if name == "if":
            return f"({args[1]} if {args[0]} is True else {args[2]})"
        if name == "coalesce":
            out = args[-1]
            for a in reversed(args[:-1]):
                t = self.tmp()
                out = f"({t} if ({t} := {a}) is not None else {out})"
            return out
        if name == "is_null":
            return f"({args[0]} is None)"
        if name == "is_blank":
            t = self.tmp()
            return f"(({t} := {args[0]}) is None or {t} == '')"
        if name == "today":
            return "env.today"
        if name == "now":
            return "env.now"
        if name == "changed":
            return f"_changed(env, {args[0]})"
        if name == "decide":
            return python_call(self, node, args)
        if name in ("min", "max"):
            if len(args) == 1:
                return args[0]
            return f"_minmax(_{name}, {', '.join(args)})"
        if name == "concat":
            return f"_concat({', '.join(args)})"
        simple = _NULL_SAFE.get(name)
        if simple is not None:
            return f"_nn({simple}, {', '.join(args)})"
        if name in ("year", "month", "day"):
            return f"_date_part({name!r}, {args[0]})"
        if name == "days_between":
            return f"_date_sub({args[1]}, {args[0]})"
        if name == "add_days":
            return f"_date_add({args[0]}, {args[1]})"
        if name == "date":
            return f"_to_date({args[0]})"
        fn = _DIRECT[name]
        return f"{fn}({', '.join(args)})"

    def _aggregate(self, node: ast.Call, rv: str) -> str:
        path = node.args[0]
        assert isinstance(path, ast.Path)
        if path.steps and path.steps[-1].kind == "related":  # runs as one SQL aggregate
            return f"_rel(env, {self.const(node)}, {self._owner(path, rv)})"
        rows = self.emit(node.args[0], rv)
        if node.name == "count" and len(node.args) == 1:
            return f"_agg_count(None, {rows}, env)"
        fn = f"_c{len(self.defs) + 1}"
        self.defs.append("")  # reserve the name before emitting nested aggregates
        body = self.emit(node.args[1], "r")
        self.defs[int(fn[2:]) - 1] = f"def {fn}(r, env):\n    return {body}\n"
        return f"_agg_{node.name}({fn}, {rows}, env)"


    def _owner(self, path: ast.Path, rv: str) -> str:
        """The record (a dict) holding the last field of ``path``."""
        steps = path.steps[:-1]
        if not steps:
            return rv
        prefix = ast.Path(path.line, path.column, path.parts[:-1])
        prefix.root, prefix.steps = path.root, steps
        if steps[-1].kind == "root":
            return self.e_Path(prefix, rv)
        return f"_lr(env, {steps[-1].target!r}, {self.e_Path(prefix, rv)})"


_NULL_SAFE = {
    "len": "_len",
    "lower": "str.lower",
    "upper": "str.upper",
    "trim": "_strip",
    "contains": "_contains",
    "starts_with": "str.startswith",
    "ends_with": "str.endswith",
    "substr": "_substr",
    "replace": "_replace",
    "abs": "_abs",
}
_DIRECT = {"round": "_round", "floor": "_floor", "ceil": "_ceil", "distance": "_distance", "sqrt": "_sqrt"}

PY_FUNCTIONS = set(_NULL_SAFE) | set(_DIRECT) | {
    "if", "coalesce", "is_null", "is_blank", "today", "now", "min", "max", "concat",
    "year", "month", "day", "days_between", "add_days", "date", "changed", "decide",
}

_GLOBALS_BASE: dict[str, Any] = dict(HELPERS)
_GLOBALS_BASE["str"] = str
_GLOBALS_BASE["_strip"] = lambda s: s.strip(" ")
_GLOBALS_BASE["_contains"] = lambda s, part: part in s
_GLOBALS_BASE["_decide"] = run_decision
_GLOBALS_BASE["__builtins__"] = {}
_CODE = "__ordo_code__"  # the compiled module a function came from, kept in its globals (see frozen)


def to_python(node: ast.Node, root_names: list[str] | None = None) -> tuple[Callable[..., Any], str]:
    """Compile a checked tree; return the function and its generated source."""
    gen = _Codegen(list(root_names or []))
    body = gen.emit(node, "r")
    params = ", ".join(["r", "env", *("v_" + n for n in gen.roots)])
    source = "".join(gen.defs) + f"def _f({params}):\n    return {body}\n"
    try:
        with warnings.catch_warnings():  # e.g. "True is True" from literal operands is intended
            warnings.simplefilter("ignore", SyntaxWarning)
            code = compile(source, "<ordo-expression>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        from ..errors import ExpressionError

        raise ExpressionError("expression too complex: split it into computed fields") from None
    return _run(code, tuple(gen.consts)), source


def _run(code: Any, consts: tuple[Any, ...]) -> Callable[..., Any]:
    namespace = dict(_GLOBALS_BASE)
    namespace["_K"] = consts
    namespace[_CODE] = code
    exec(code, namespace)  # noqa: S102 - source built from a checked AST (or its marshalled code, see revive)
    return namespace["_f"]


def frozen(fn: Any) -> tuple[bytes, tuple[Any, ...]] | None:
    """A function made by :func:`to_python` as (marshalled code, constants), for the app cache
    (dsl/cache.py); None for any other object."""
    namespace = getattr(fn, "__globals__", None)
    if namespace is None or _CODE not in namespace or getattr(fn, "__name__", None) != "_f":
        return None
    return marshal.dumps(namespace[_CODE]), namespace["_K"]


def revive(code: bytes, consts: tuple[Any, ...]) -> Callable[..., Any]:
    """The function :func:`frozen` froze, without compiling its source again."""
    return _run(marshal.loads(code), consts)
