"""Which reports a maintained summary can answer (``summary: true``), checked at load time.

A summary table holds, per combination of dimension values, the additive parts of the
measures (sums and counts; an average as sum and count). It is kept exact on every write of a
source record from that record alone, so everything it depends on must be a stored field of the
record itself: no linked record (it can change without the record changing), no related rows, no
``today()``. Filters are either fixed (applied when the summary is kept) or compare with a period
parameter (the summary answers runs with the period left open; other runs scan).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .expr import CompiledExpression, ast

ADDITIVE = ("count", "sum", "avg")
_MOVING = ("today", "now")


def _problem(expr: CompiledExpression, params_ok: bool) -> str | None:
    for node in ast.walk(expr.tree):
        if isinstance(node, ast.Call) and node.child_entity is not None:
            return f"'{node.name}' over other rows changes when those rows change"
        if isinstance(node, ast.Call) and node.name in _MOVING:
            return f"'{node.name}()' changes with time"
        if isinstance(node, ast.Path):
            if node.root is not None or len(node.steps) != 1 or node.steps[0].kind != "field":
                return f"'{'.'.join(node.parts)}' is not a stored field of the record itself"
        if isinstance(node, ast.Param) and not params_ok:
            return f"parameter :{node.name} (a summary is kept for every value)"
    return None


def period_bounds(defn: Any) -> set[str]:
    """The parameter names bound to the start and end of the report's period parameters."""
    return {f"{name}_{end}" for name, p in defn.params.items() if p.type == "period" for end in ("start", "end")}


def is_period_filter(expr: CompiledExpression, bounds: set[str]) -> bool:
    """Whether ``expr`` reads parameters, all of them period bounds compared with ``<`` / ``>=`` ..."""
    params = [n for n in ast.walk(expr.tree) if isinstance(n, ast.Param)]
    if not params:
        return False
    return all(n.name in bounds for n in params)


def summary_problems(defn: Any, out: Any) -> Iterator[tuple[Sequence[str | int], str]]:
    """(path, message) for each reason report ``defn`` (analysed as ``out``) cannot have a summary."""
    if out.source is None:
        return
    if out.source.parent is not None:
        yield ("summary",), "a summary needs an entity as source, not the rows of a table field"
        return
    bounds = period_bounds(defn)
    for i, f in enumerate(out.filters):
        if f is None:
            continue
        problem = _problem(f, params_ok=is_period_filter(f, bounds))
        if problem:
            yield ("filters", i), f"summary: true: this filter cannot be kept in a summary: {problem}"
    for i, d in enumerate(defn.dimension_list()):
        expr = out.dims.get(d.name, (None, None))[0]
        problem = _problem(expr, params_ok=False) if expr is not None else None
        if problem:
            yield ("dimensions", i), f"summary: true: dimension '{d.name}' cannot be kept in a summary: {problem}"
    for i, m in enumerate(defn.measures):
        if m.formula is not None or m.window is not None:
            continue
        if m.agg not in ADDITIVE:
            yield ("measures", i), (f"summary: true: measure '{m.name}' ({m.agg}) cannot be kept exact when rows "
                                    f"are deleted or changed; a summary keeps {', '.join(ADDITIVE)}")
            continue
        expr, cond, _ = out.measures.get(m.name, (None, None, None))
        for e in (expr, cond):
            problem = _problem(e, params_ok=False) if e is not None else None
            if problem:
                yield ("measures", i), f"summary: true: measure '{m.name}' cannot be kept in a summary: {problem}"
