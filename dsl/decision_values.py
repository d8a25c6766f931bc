"""Literal values in decision tables: output values as written in YAML or DMN, literals inside cells."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .decision_cells import cell_text
from .errors import ExpressionError
from .expr import ast, parse
from .expr import types as T


def literal_value(text: str) -> Any:
    """The value of a literal written in a cell ("VIP", 42, -3.5, true, @2026-01-31), else None."""
    try:
        node = parse(text)
    except ExpressionError:
        return None
    if isinstance(node, ast.Literal):
        return node.value
    if isinstance(node, ast.Unary) and node.op == "-" and isinstance(node.operand, ast.Literal) and isinstance(
            node.operand.value, (int, Decimal)):
        return -node.operand.value
    return None


def literal(raw: Any, t: T.Type) -> Any:
    """An output value written in YAML (or DMN) as a value of type ``t``; ValueError names the problem."""
    if raw is None:
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
        if t.kind in ("string", "any"):
            return text
    if isinstance(text, str) and text == "null":
        return None
    kind = t.kind
    try:
        if kind == "string":
            return text if isinstance(text, str) else cell_text(text)
        if kind == "boolean":
            if isinstance(text, bool):
                return text
            if text in ("true", "false"):
                return text == "true"
            raise ValueError
        if kind in ("integer", "decimal"):
            if isinstance(text, bool):
                raise ValueError
            d = Decimal(str(text))
            if not d.is_finite():
                raise ValueError
            if kind == "integer":
                if d != d.to_integral_value():
                    raise ValueError
                return int(d)
            return int(d) if isinstance(text, int) else d
        if kind == "date":
            if isinstance(text, dt.date):
                return text
            return dt.date.fromisoformat(str(text).lstrip("@"))
        if kind == "datetime":
            if isinstance(text, dt.datetime):
                return text
            return dt.datetime.fromisoformat(str(text).lstrip("@"))
    except (ValueError, InvalidOperation, TypeError):
        raise ValueError(f"expected a {kind} value, got {raw!r}") from None
    if isinstance(text, float):
        return Decimal(str(text))
    if isinstance(text, str):
        if text in ("true", "false"):
            return text == "true"
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+\.\d+", text):
            return Decimal(text)
    return text
