"""The decimal scale of a value shown to people: a money or decimal field's declared scale, and for
a computed value the scale its expression produces (``qty * unit_price`` of money: 2 places,
``round(x, 3)``: 3), so that ``241.8`` computed from amounts is shown and exported as ``241.80``.

A division, an average or anything unknown has no fixed scale (None): such values keep the digits
they have. Nothing here evaluates an expression; it reads the checked tree once.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ordo.dsl.expr import ast

if TYPE_CHECKING:
    from .compiled import CompiledApp, CompiledField

MAX_SCALE = 10  # computed decimals are stored with 10 places
_DEPTH = 20  # computed fields reading computed fields, at most this deep


def field_scale(app: CompiledApp, cf: CompiledField, _depth: int = 0) -> int | None:
    """Decimal places of ``cf``'s values: declared for decimal/money, inferred for computed fields."""
    t = cf.defn.type
    if t in ("decimal", "money"):
        return cf.defn.decimal_shape()[1]
    if t == "integer":
        return 0
    if t == "computed" and cf.computed is not None and cf.type.kind in ("decimal", "integer"):
        return expr_scale(app, cf.computed.tree, _depth + 1)
    return None


def expr_scale(app: CompiledApp, node: ast.Node, _depth: int = 0) -> int | None:
    """Decimal places an expression's result has, when the expression fixes them; else None."""
    if _depth > _DEPTH:
        return None
    s = _scale(app, node, _depth)
    return None if s is None else min(s, MAX_SCALE)


def _scale(app: CompiledApp, node: ast.Node, depth: int) -> int | None:
    if isinstance(node, ast.Literal):
        v = node.value
        if isinstance(v, bool) or v is None:
            return None
        if isinstance(v, int):
            return 0
        if isinstance(v, Decimal):
            exp = v.as_tuple().exponent
            return max(0, -exp) if isinstance(exp, int) else None
        return None
    if isinstance(node, ast.Path):
        return _path_scale(app, node, depth)
    if isinstance(node, ast.Unary):
        return _scale(app, node.operand, depth) if node.op == "-" else None
    if isinstance(node, ast.Binary):
        a, b = _scale(app, node.left, depth), _scale(app, node.right, depth)
        if a is None or b is None:
            return None
        if node.op in ("+", "-"):
            return max(a, b)
        if node.op == "*":
            return a + b
        return None
    if isinstance(node, ast.Call):
        return _call_scale(app, node, depth)
    return None


def _call_scale(app: CompiledApp, node: ast.Call, depth: int) -> int | None:
    name, args = node.name, node.args
    if name == "round":
        if len(args) == 1:
            return 0
        digits = args[1]
        if isinstance(digits, ast.Literal) and isinstance(digits.value, (int, Decimal)) \
                and not isinstance(digits.value, bool):
            return max(0, int(digits.value))
        return None
    if name in ("floor", "ceil", "count", "len"):
        return 0
    if name == "abs":
        return _scale(app, args[0], depth)
    if name in ("sum", "min", "max") and node.child_entity is not None:  # aggregates over rows
        return _scale(app, args[1], depth) if len(args) > 1 else None
    if name in ("min", "max", "coalesce", "if"):
        values = args[1:] if name == "if" else args
        scales = [_scale(app, a, depth) for a in values if not _is_null(a)]
        return max(scales) if scales and all(s is not None for s in scales) else None
    return None


def _is_null(node: ast.Node) -> bool:
    return isinstance(node, ast.Literal) and node.value is None


def _path_scale(app: CompiledApp, node: ast.Path, depth: int) -> int | None:
    if not node.steps:
        return None
    last = node.steps[-1]
    if last.kind != "field" or last.entity is None:
        return None
    ce = app.entities.get(last.entity)
    if ce is None:
        return None
    cf = ce.fields.get(last.name)
    if cf is None:
        return 0 if last.name in ("id", "version", "idx") else None
    return field_scale(app, cf, depth)


_QUANTA = {s: Decimal(1).scaleb(-s) for s in range(MAX_SCALE * 4)}


def quantum(scale: int) -> Decimal:
    """``Decimal('0.01')`` for scale 2 (made once per scale)."""
    q = _QUANTA.get(scale)
    return q if q is not None else Decimal(1).scaleb(-scale)


def at_scale(value: Any, scale: int | None) -> Any:
    """``value`` as an exact Decimal with ``scale`` places (binary floats are read through their
    shortest text, so SQLite's 26875.499999999996 becomes 26875.50); other values as they are."""
    if type(value) is Decimal and scale is not None:  # what the store gives: the common case, quickly
        if not value.is_finite():
            return value
        try:
            return value.quantize(quantum(scale), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            return value
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return value
    if isinstance(value, str):
        try:
            d = Decimal(value)
        except ArithmeticError:
            return value
    elif isinstance(value, float):
        d = Decimal(repr(value))
    else:
        d = Decimal(value)
    if not d.is_finite():
        return value
    try:
        if scale is None:
            if isinstance(value, int):
                return value
            d = d.quantize(Decimal(1).scaleb(-MAX_SCALE), rounding=ROUND_HALF_UP)
            return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()
        if isinstance(value, int) and scale == 0:
            return value
        return d.quantize(quantum(scale), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than a Decimal context holds: keep it as it is
        return d


def scaler(scale: int | None, text: bool = False) -> Callable[[Any], Any]:
    """``lambda v: at_scale(v, scale)`` for a whole column of values (chosen once per column, not per value):
    the store's Decimals are quantized with the precomputed quantum directly. ``text``: Decimals then as
    their exact text (``"120.00"``, what the API's JSON carries), other values as they are."""
    if scale is None:
        def unscaled(value: Any) -> Any:
            d = at_scale(value, None)
            return str(d) if text and type(d) is Decimal else d
        return unscaled
    q = quantum(scale)

    def scaled(value: Any) -> Any:
        if type(value) is Decimal:
            try:  # a quiet NaN stays NaN; an infinity or a value too long to quantize is kept as it is
                d = value.quantize(q, rounding=ROUND_HALF_UP)
            except InvalidOperation:
                d = value
        else:
            d = at_scale(value, scale)
        return str(d) if text and type(d) is Decimal else d
    return scaled
