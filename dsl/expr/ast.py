"""Expression syntax tree.

The parser builds these nodes; the checker fills in ``type`` (and, for paths,
``steps``); the Python and SQL compilers read the checked tree. Nodes never
evaluate anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .types import Type


@dataclass(eq=False)
class Node:
    line: int
    column: int
    type: Type | None = field(default=None, init=False)

    def children(self) -> list[Node]:
        return []


@dataclass(eq=False)
class Literal(Node):
    value: Any  # Decimal, int, str, bool, None, date, datetime


@dataclass(eq=False)
class ListLit(Node):
    items: list[Node]

    def children(self) -> list[Node]:
        return list(self.items)


@dataclass(eq=False)
class Param(Node):
    name: str


@dataclass(frozen=True)
class Step:
    """One resolved step of a path: a field of ``entity`` (or a root variable)."""

    entity: str | None  # entity the field belongs to; None for a scalar root
    name: str
    kind: str  # "root", "field", "link", "table", "related"
    target: str | None = None  # linked / child entity for link and table steps


@dataclass(eq=False)
class Path(Node):
    parts: list[str]
    root: str | None = field(default=None, init=False)  # root variable name, None = the current record
    steps: list[Step] = field(default_factory=list, init=False)


@dataclass(eq=False)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node

    def children(self) -> list[Node]:
        return [self.operand]


@dataclass(eq=False)
class Binary(Node):
    op: str  # + - * / % == != < <= > >= and or in "not in"
    left: Node
    right: Node

    def children(self) -> list[Node]:
        return [self.left, self.right]


@dataclass(eq=False)
class Call(Node):
    name: str
    args: list[Node]
    # For aggregates: the checked child path (first argument) and the child entity.
    child_entity: str | None = field(default=None, init=False)

    def children(self) -> list[Node]:
        return list(self.args)


def walk(node: Node):
    """Yield every node of the tree, parents before children (iteratively)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children()))


def string_sum(node: Binary) -> list[Node]:
    """The operands of a chain of string ``+`` (``a + b + c``), compiled as one concatenation so
    that its length is checked once (and SQL does not repeat the operands at every step)."""
    out: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Binary) and n.op == "+" and n.type is not None and n.type.kind == "string":
            stack.extend((n.right, n.left))
        else:
            out.append(n)
    return out


def grows(node: Call) -> bool:
    """Whether ``replace(s, old, new)`` may make ``s`` longer (not when both are literals and
    ``new`` is not longer than ``old``, e.g. removing characters): only then is its length guarded."""
    old, new = node.args[1], node.args[2]
    return not (isinstance(old, Literal) and isinstance(new, Literal) and isinstance(old.value, str)
                and isinstance(new.value, str) and len(new.value) <= len(old.value))
