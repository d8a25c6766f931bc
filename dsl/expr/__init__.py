"""The Ordo expression language.

``compile_expression(text, scope)`` parses (lark LALR), checks names and types
against the scope, and returns a :class:`CompiledExpression` that evaluates in
Python (a compiled function) and compiles to SQL (a SQLAlchemy expression).
Each pass is its own module: parser -> checker -> to_python / to_sql.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .checker import SchemaView, Scope, check
from .pyruntime import Clock, Env
from .to_python import to_python
from .to_sql import SqlSource, to_sql
from .types import Type

__all__ = [
    "Clock",
    "CompiledExpression",
    "Env",
    "Scope",
    "SchemaView",
    "SqlSource",
    "Type",
    "compile_expression",
]


@dataclass
class CompiledExpression:
    """A checked expression, compiled once, evaluated many times."""

    text: str
    tree: ast.Node
    type: Type
    root_names: list[str]
    fn: Callable[..., Any] = field(repr=False)
    source: str = field(repr=False)

    def __call__(self, record: dict[str, Any], env: Env | None = None, *roots: Any) -> Any:
        return self.fn(record, env or _DEFAULT_ENV, *roots)

    def to_sql(
        self,
        source: SqlSource | None,
        roots: dict[str, Any] | None = None,
        clock: Callable[[], Clock] | None = None,
        *,
        where: bool = False,
        not_null_params: Collection[str] = (),
    ) -> Any:
        """The same expression as a SQLAlchemy expression over ``source`` (``where``: a condition
        where null counts as false, see :func:`to_sql.to_sql`)."""
        return to_sql(self.tree, source, roots, clock, where=where, not_null_params=not_null_params)

    def paths(self) -> list[ast.Path]:
        """The field paths the expression reads from its own record and roots (paths inside an
        aggregate's row expression belong to the child rows and are left out)."""
        out: list[ast.Path] = []
        stack = [self.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Path):
                out.append(node)
            elif isinstance(node, ast.Call) and node.child_entity is not None:
                stack.append(node.args[0])  # the table itself, not the per-row expression
                continue
            stack.extend(node.children())
        return out


_DEFAULT_ENV = Env()


def parse(text: str) -> ast.Node:
    """:func:`.parser.parse`, imported when an expression is first parsed: lark is not imported before
    (opening a cached app parses none, see dsl/cache.py)."""
    from .parser import parse as parse_text

    return parse_text(text)


MEMO_SIZE = 4096  # compiled expressions a schema keeps


def compile_expression(text: str, scope: Scope, expect: Type | None = None) -> CompiledExpression:
    """Parse, check and compile ``text``; raise ExpressionError(s) with positions.

    A schema that offers a ``compiled`` memo (an OrderedDict, as the app's schema does) keeps what was
    compiled, so the same expression in the same scope is compiled once per loaded app, however many
    times the app is opened."""
    memo = getattr(scope.schema, "compiled", None)
    key = None
    if memo is not None:
        key = (text, scope.entity, tuple(scope.roots.items()),
               None if scope.params is None else tuple(sorted(scope.params.items())),
               scope.open_params, scope.changes, expect)
        hit = memo.get(key)
        if hit is not None:
            memo.move_to_end(key)
            return hit
    tree = parse(text)
    t = check(tree, text, scope, expect)
    roots = list(scope.roots)
    fn, source = to_python(tree, roots)
    compiled = CompiledExpression(text, tree, t, roots, fn, source)
    if memo is not None:
        memo[key] = compiled
        if len(memo) > MEMO_SIZE:
            memo.popitem(last=False)
    return compiled
