"""Static bounds on a checked expression: what it may cost before it ever runs.

* String growth: the length a string result reaches with the shortest inputs (one character
  per field or parameter); past MAX_TEXT the growth is evident from the literals alone (nested
  ``replace(s, "a", <long text>)``) and the expression is refused.
* SQL size: some operations repeat an operand in SQL (a length guard, a null check); nested,
  that repetition multiplies. The size of the SQL form is bounded.
* SQL depth: SQLite's parser has a small fixed stack, and one level of an expression can become
  several levels of SQL (a link becomes a correlated subquery, an aggregate a subquery, a guard a
  CASE). Each node weighs what its SQL nests (calibrated on SQLite, whose limit is reached
  first); the heaviest path from the root is bounded, so whatever passes compiles everywhere.
"""

from __future__ import annotations

from . import ast
from .limits import MAX_TEXT

MAX_SQL_SIZE = 20_000  # nodes of the SQL form, counting repeated operands
MAX_SQL_DEPTH = 60  # weighted nesting (SQLite's parser stack holds 100 entries; the rest is headroom)

# SQL copies of each argument, for operations that render an argument more than once
_REPEATS = {
    "replace": (3, 3, 2),
    "concat": (2,),
    "starts_with": (1, 2),
    "ends_with": (2, 2),
    "sqrt": (2,),
    "distance": (4, 4, 4, 4),
    "min": (2,),
    "max": (2,),
}
# Parser-stack entries one level takes on SQLite, by operand position (the last one repeats),
# measured by nesting each shape until SQLite refuses it (tests/test_hostile_inputs.py checks them)
_SUBQUERY = 9  # a correlated scalar subquery: ( SELECT ... FROM ... WHERE ... )
_CALL = (3,)
_WEIGHT: dict[str, tuple[int, ...]] = {
    "if": (4, 6, 5), "coalesce": _CALL, "is_null": _CALL, "is_blank": (5,), "len": _CALL, "lower": _CALL,
    "upper": _CALL, "trim": _CALL, "abs": _CALL, "contains": (5,), "starts_with": (10,), "ends_with": (10,),
    "concat": (12,), "replace": (16,), "substr": (6, 13), "round": (6, 16), "sqrt": (6,), "floor": (9,),
    "ceil": (9,), "min": (6,), "max": (6,), "distance": (14,), "year": (6,), "month": (6,), "day": (6,),
    "date": (4,), "days_between": (7,), "add_days": (18,),
}
_AGGREGATE = _SUBQUERY + 6  # coalesce(( SELECT sum( ... ) FROM ... WHERE ... ), 0)
_DATE_SHIFT = 18  # date +/- days: a bounded result (see sql_constructs.DateAdd)


def string_growth(node: ast.Node) -> tuple[int, ast.Node | None]:
    """(length of the string result with one-character inputs, the first node past MAX_TEXT)."""
    if isinstance(node, ast.Literal):
        return (len(node.value) if isinstance(node.value, str) else 0), None
    sizes = []
    for child in node.children():
        size, bad = string_growth(child)
        if bad is not None:
            return size, bad
        sizes.append(size)
    if node.type is None or node.type.kind != "string":
        return 0, None
    size = 1
    if isinstance(node, ast.Binary) and node.op == "+":
        size = sum(sizes)
    elif isinstance(node, ast.Call) and node.child_entity is None:
        if node.name == "concat":
            size = sum(sizes)
        elif node.name == "replace":
            s, old, new = sizes
            old_len = len(old_node.value) if isinstance(old_node := node.args[1], ast.Literal) else 1
            size = s + (s // max(old_len, 1)) * max(new - old_len, 0)
        elif node.name in ("if", "coalesce", "min", "max"):
            size = max(sizes[1:] if node.name == "if" else sizes)
        elif node.name in ("lower", "upper", "trim", "substr"):
            size = sizes[0]
    return size, (node if size > MAX_TEXT else None)


def sql_size(node: ast.Node) -> int:
    """Nodes of the SQL form, counting operands rendered more than once (saturates past the limit)."""
    if _is_string_sum(node):
        parts = ast.string_sum(node)  # type: ignore[arg-type]
        return 1 + sum(2 * sql_size(p) for p in parts)
    repeats: tuple[int, ...] = ()
    if isinstance(node, ast.Call) and node.child_entity is None and (node.name != "replace" or ast.grows(node)):
        repeats = _REPEATS.get(node.name, ())
    total = 1
    for i, child in enumerate(node.children()):
        total += (repeats[min(i, len(repeats) - 1)] if repeats else 1) * sql_size(child)
        if total > MAX_SQL_SIZE:
            break
    return total


def sql_depth(node: ast.Node) -> int:
    """Weighted nesting of the SQL form: the heaviest path from the root to a leaf."""
    if isinstance(node, ast.Path):
        return 1 + _SUBQUERY * sum(1 for s in node.steps[:-1] if s.target and s.kind in ("link", "root"))
    if _is_string_sum(node):
        parts = ast.string_sum(node)  # type: ignore[arg-type]
        return max(_WEIGHT["concat"][0] + sql_depth(p) for p in parts)
    children = node.children()
    weights = _weights(node)
    return max((weights[min(i, len(weights) - 1)] + sql_depth(c) for i, c in enumerate(children)), default=1)


def _weights(node: ast.Node) -> tuple[int, ...]:
    if isinstance(node, ast.Call):
        if node.child_entity is not None:
            return (_AGGREGATE,)
        if node.name == "replace" and not ast.grows(node):
            return _CALL
        return _WEIGHT.get(node.name, _CALL)
    if isinstance(node, ast.Binary):
        lt = node.left.type
        if lt is not None and lt.kind in ("date", "datetime") and node.op in "+-":
            return (_DATE_SHIFT,)
        if node.op in ("/", "%"):
            return (7,)
        return (1, 3)  # the parser reduces a left operand before reading the operator
    if isinstance(node, ast.Unary):
        return (3,)
    return (1,)


def _is_string_sum(node: ast.Node) -> bool:
    return isinstance(node, ast.Binary) and node.op == "+" and node.type is not None and node.type.kind == "string"
