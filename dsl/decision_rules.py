"""A decision table's rules joined into a few compiled functions (decision_build.py checks and builds the
table, then compiles its rules here): evaluating a table never looks at cell text."""

from __future__ import annotations

import copy
from typing import Any

from .decision_cells import INPUT
from .decision_table import DecisionTable
from .expr import Scope, ast
from .expr.checker import Checker
from .expr.to_python import to_python

FIRST_CHUNK = 25  # rules per nested if() chain (Python nests parentheses at most 200 deep)
ALL_CHUNK = 200  # rules per tuple of matches


def rule_tree(exprs: list[tuple[int, Any]]) -> ast.Node:
    """All the cells of a rule as one tree over the inputs ``_0``, ``_1``, ... (True when all are '-')."""
    tree: ast.Node | None = None
    for j, (compiled, _) in exprs:
        node = copy.deepcopy(compiled.tree)
        for n in ast.walk(node):
            if isinstance(n, ast.Path) and n.parts[0] == INPUT:
                n.parts = [f"{INPUT}{j}", *n.parts[1:]]
        tree = node if tree is None else ast.Binary(1, 1, "and", tree, node)
    return tree if tree is not None else ast.Literal(1, 1, True)


def compile_rules(table: DecisionTable, base: Scope) -> None:
    """The rules as a few compiled functions of (record, env, *roots, *inputs): FIRST tables as chains
    of nested if() giving the first matching rule's index, others as tuples of every rule's index or
    null. One call runs many rules; no cell text is looked at. ``base``: the table's scope (its entity
    and roots)."""
    scope = Scope(base.schema, base.entity, roots={**base.roots, **{
        f"{INPUT}{j}": i.type for j, i in enumerate(table.inputs)}})
    trees = [(r.index, r.match) for r in table.rules]
    for r in table.rules:
        r.match = None

    def hit(k: int, tree: ast.Node, other: ast.Node) -> ast.Node:
        return ast.Call(1, 1, "if", [tree, ast.Literal(1, 1, k), other])

    first = table.policy == "FIRST"
    fns = []
    size = FIRST_CHUNK if first else ALL_CHUNK
    for start in range(0, len(trees), size):
        chunk = trees[start:start + size]
        if first:
            node: ast.Node = ast.Literal(1, 1, None)
            for k, tree in reversed(chunk):
                node = hit(k, tree, node)
        else:
            node = ast.ListLit(1, 1, [hit(k, tree, ast.Literal(1, 1, None)) for k, tree in chunk])
        checker = Checker("", scope)  # types only: this tree runs in Python, never as one SQL text
        checker.visit(node, scope)
        assert not checker.errors, checker.errors
        fns.append(to_python(node, list(scope.roots))[0])
    table.first = first
    table.chunks = fns
