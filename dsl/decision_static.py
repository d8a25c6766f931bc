"""The static checks of a decision table (decision_build.py reports them at load): overlapping rules
where the hit policy forbids them, and the input combinations no rule covers (``complete: true``,
``ordo decide --check``), over the cells' shapes (decision_check.py)."""

from __future__ import annotations

from collections.abc import Callable

from . import decision_check as dc
from .decision_table import DecisionTable
from .expr import types as T


def columns(table: DecisionTable) -> list[dc.Column]:
    """The table's inputs as the analysis sees them (their domains, ordered kinds)."""
    return [dc.Column(i.name, domain(i.type),
                      i.type.kind if i.type.kind in ("integer", "decimal", "date", "datetime") else None)
            for i in table.inputs]


def static_checks(table: DecisionTable, shapes: list[list[dc.Cell]], complete: bool,
                  error: Callable[[tuple, str], None]) -> None:
    """Report (``error(path, message)``) overlaps the hit policy forbids and, for a complete table, gaps."""
    cols = columns(table)
    policy = table.policy
    if policy in ("UNIQUE", "ANY"):
        for a, b in dc.overlaps(shapes, cols):
            ra, rb = table.rules[a], table.rules[b]
            if policy == "UNIQUE":
                error(("rules", b), f"{ra.id} and {rb.id} overlap: both match some inputs, "
                                    f"which hit policy UNIQUE forbids")
            elif any(x.fn is None and y.fn is None and x.value != y.value
                     for x, y in zip(ra.outputs, rb.outputs, strict=True)):
                error(("rules", b), f"{ra.id} and {rb.id} overlap but give different results, "
                                    f"which hit policy ANY forbids")
    if complete:
        found = gaps(shapes, cols)
        if found is None:
            error(("complete",), "cannot prove the table complete: give every input a known "
                                 "domain (values, an enum, boolean, number or date) and use "
                                 "cells without other fields")
        for g in found or []:
            error(("rules",), f"no rule covers {g}")


def gaps(shapes: list[list[dc.Cell]], cols: list[dc.Column]) -> list[str] | None:
    """Descriptions of the input combinations no rule covers (None: not provable)."""
    found = dc.gaps(shapes, cols)
    if found is None:
        return None
    return [", ".join(f"{c.name} {_where(v)}" for c, v in zip(cols, g, strict=True)) for g in found]


def _where(atom: str) -> str:
    if atom == "any" or atom.startswith(("<", ">")):
        return atom
    return f"in {atom}" if atom.startswith("(") else f"= {atom}"


def domain(t: T.Type) -> tuple | None:
    """The values an input can take when finite (boolean, options), else None."""
    if t.kind == "boolean":
        return (True, False)
    if t.options:
        return tuple(t.options)
    return None
