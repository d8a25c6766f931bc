"""Flow graph edits on a flow file's text: insert, remove and reconnect nodes, set a node's properties.

Built on :mod:`ordo.dsl.yaml_edit`, so each edit changes only the affected lines. The edits know the flow
schema's edges (``flow_nodes.successors``: ``next``, ``default``, ``branches[i].to``, parallel ``to[i]``,
``on_reject``, ``timeout.to`` / ``timeout[i].to``):

* ``insert_node(text, flow, new_name, node, before=X)`` re-points every edge into ``X`` to the new node and
  gives the new node ``next: X``; ``after=X`` gives the new node ``X``'s ``next`` and points ``X.next`` at it.
* ``remove_node(text, flow, name)`` re-points the edges into the node to its single successor (refused when
  the node has several or none, or is the start node with no successor).
* ``reconnect(text, flow, node, edge, target)`` re-points one edge: ``"next"``, ``"default"``,
  ``"on_reject"``, ``"branch:N"``, ``"to:N"`` (parallel), ``"timeout"`` / ``"timeout:N"``.
* ``set_node(text, flow, name, props)`` sets (or with value ``None`` removes) properties of a node.

``flow`` is the flow's name (a file may hold several definitions). Errors are DefinitionErrors naming the
file; the result always still parses (the designer validates the whole app separately).
"""

from __future__ import annotations

from typing import Any

FILE = "<text>"


def insert_node(text: str, flow: str, new_name: str, node: dict[str, Any], *, before: str | None = None,
                after: str | None = None, file: str = FILE) -> str:
    """Insert ``node`` as ``new_name`` before or after an existing node (exactly one of them)."""
    raise NotImplementedError


def remove_node(text: str, flow: str, name: str, *, file: str = FILE) -> str:
    """Remove a node; edges into it go to its single successor."""
    raise NotImplementedError


def reconnect(text: str, flow: str, node: str, edge: str, target: str, *, file: str = FILE) -> str:
    """Point one edge of ``node`` (``next``, ``default``, ``on_reject``, ``branch:N``, ...) at ``target``."""
    raise NotImplementedError


def set_node(text: str, flow: str, name: str, props: dict[str, Any], *, file: str = FILE) -> str:
    """Set properties of a node (a value of None removes the property)."""
    raise NotImplementedError
