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
# parser-stack weight of one level, by SQL shape
_CALL = 3  # name ( arg ...
_CASE = 6  # CASE WHEN ... THEN ... ELSE ... END, with a comparison inside
_GUARDED = 12  # a bounded result: NULLIF(NULLIF(GREATEST(LEAST(...)))) or a CASE over length() sums
_SUBQUERY = 9  # a correlated scalar subquery: ( SELECT ... FROM ... WHERE ... )
_WEIGHT = {
    "if": _CASE, "min": _CASE, "max": _CASE, "sqrt": _CASE, "is_blank": _CALL + 2, "ends_with": _CALL + 3,
    "starts_with": _CALL + 3, "concat": _GUARDED, "replace": _GUARDED, "add_days": _GUARDED,
    "round": _GUARDED, "substr": _GUARDED, "floor": _CALL + 2, "ceil": _CALL + 2, "distance": _GUARDED,
    "year": _CALL + 2, "month": _CALL + 2, "day": _CALL + 2, "days_between": _CALL + 2, "date": _CALL + 2,
}


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
    if isinstance(node, ast.Call) and node.child_entity is None:
        repeats = _REPEATS.get(node.name, ())
    total = 1
    for i, child in enumerate(node.children()):
        total += (repeats[min(i, len(repeats) - 1)] if repeats else 1) * sql_size(child)
        if total > MAX_SQL_SIZE:
            break
    return total


def sql_depth(node: ast.Node) -> int:
    """Weighted nesting of the SQL form (the heaviest path from the root). A left operand is
    reduced by the parser before the operator is read, so it costs at most a parenthesis."""
    if _is_string_sum(node):
        return _GUARDED + max(sql_depth(p) for p in ast.string_sum(node))  # type: ignore[arg-type]
    if isinstance(node, ast.Binary):
        return max(sql_depth(node.left) + 1, _weight(node) + sql_depth(node.right))
    return _weight(node) + max((sql_depth(c) for c in node.children()), default=0)


def _is_string_sum(node: ast.Node) -> bool:
    return isinstance(node, ast.Binary) and node.op == "+" and node.type is not None and node.type.kind == "string"


def _weight(node: ast.Node) -> int:
    if isinstance(node, ast.Path):
        links = sum(1 for s in node.steps[:-1] if s.kind in ("link", "root") and s.target)
        return 1 + _SUBQUERY * links
    if isinstance(node, ast.Call):
        if node.child_entity is not None:  # aggregate: a subquery over the rows
            return _SUBQUERY + _CALL
        return _WEIGHT.get(node.name, _CALL)
    if isinstance(node, ast.Binary):
        if node.left.type is not None and node.left.type.kind in ("date", "datetime") and node.op in "+-":
            return _GUARDED
        return 3
    if isinstance(node, ast.Unary):
        return 3
    return 1
