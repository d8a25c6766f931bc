"""Flow graph edits on a flow file's text: insert, remove and reconnect nodes, set a node's properties.

Built on :mod:`ordo.dsl.yaml_edit`, so each edit changes only the affected lines. The edits know the flow
schema's edges (``flow_nodes.successors``: ``next``, ``default``, ``branches[i].to``, parallel ``to[i]``,
``on_reject``, ``timeout.to`` / ``timeout[i].to``):

* ``insert_node(text, flow, new_name, node, before=X)`` re-points every edge into ``X`` to the new node and
  gives the new node ``next: X``; ``after=X`` gives the new node ``X``'s ``next`` and points ``X.next`` at it.
* ``remove_node(text, flow, name)`` re-points the edges into the node to its successor: its ``next``, else
  its single target (refused when a condition has several targets, or when there is none).
* ``reconnect(text, flow, node, edge, target)`` re-points one edge: ``"next"``, ``"default"``,
  ``"on_reject"``, ``"branch:N"``, ``"to:N"`` (parallel), ``"timeout"`` / ``"timeout:N"``.
* ``set_node(text, flow, name, props)`` sets (or with value ``None`` removes) properties of a node.

``flow`` is the flow's name (a file may hold several definitions). Errors are DefinitionErrors naming the
file and the line of the node (or of the flow) they are about; the result always still parses (the designer
validates the whole app separately). The flow is found with one parse (:class:`edit_target.Target`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .edit_target import Target
from .errors import DefinitionError

FILE = "<text>"
EdgePath = tuple[str | int, ...]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WITH_NEXT = ("approval", "action", "cc", "wait", "join", "decision")


def edges(node: Any) -> list[tuple[EdgePath, str]]:
    """(path inside the node, target) of every edge leaving a node given as plain data (the same edges as
    ``flow_nodes.successors``, read from a node that may not validate yet)."""
    if not isinstance(node, Mapping):
        return []
    out: list[tuple[EdgePath, str]] = []
    kind = node.get("type")
    if kind in ("condition", "inclusive", "decision") and isinstance(node.get("branches"), list):
        for i, branch in enumerate(node["branches"]):
            if isinstance(branch, Mapping) and isinstance(branch.get("to"), str):
                out.append((("branches", i, "to"), branch["to"]))
    if kind in ("condition", "inclusive") and isinstance(node.get("default"), str):
        out.append((("default",), node["default"]))
    if kind == "parallel" and isinstance(node.get("to"), list):
        out += [(("to", i), t) for i, t in enumerate(node["to"]) if isinstance(t, str)]
    if kind == "approval" and isinstance(node.get("on_reject"), str):
        out.append((("on_reject",), node["on_reject"]))
    timeout = node.get("timeout")
    if kind in ("approval", "wait") and isinstance(timeout, Mapping) and isinstance(timeout.get("to"), str):
        out.append((("timeout", "to"), timeout["to"]))
    if kind == "approval" and isinstance(timeout, list):
        for i, t in enumerate(timeout):
            if isinstance(t, Mapping) and isinstance(t.get("to"), str):
                out.append((("timeout", i, "to"), t["to"]))
    if isinstance(node.get("next"), str):
        out.append((("next",), node["next"]))
    return out


def edge_path(edge: str) -> EdgePath:
    """The path inside a node of an edge named ``next``, ``default``, ``on_reject``, ``branch:N``,
    ``to:N`` (parallel), ``timeout`` or ``timeout:N``."""
    simple = {"next": ("next",), "default": ("default",), "on_reject": ("on_reject",), "timeout": ("timeout", "to")}
    if edge in simple:
        return simple[edge]
    m = re.fullmatch(r"(branch|to|timeout):(\d+)", edge or "")
    if m is None:
        raise ValueError(f"unknown edge '{edge}' (next, default, on_reject, branch:N, to:N, timeout, timeout:N)")
    n = int(m.group(2))
    return {"branch": ("branches", n, "to"), "to": ("to", n), "timeout": ("timeout", n, "to")}[m.group(1)]


class _Flow(Target):
    """A flow definition in a file's text (see edit_target.Target) with its nodes."""

    nodes: dict[str, Any]
    node_map: Any

    @classmethod
    def of(cls, text: str, flow: str, file: str) -> _Flow:
        f = cls.find(text, "flow", flow, file)
        nodes = f.data.get("nodes")
        if not isinstance(nodes, Mapping) or not nodes:
            raise f.error("the flow has no nodes", f.data, "nodes")
        f.node_map = nodes
        f.nodes = {str(k): v for k, v in nodes.items()}
        return f

    def node_error(self, name: str, message: str) -> DefinitionError:
        """An error at the line of node ``name`` (else of the flow's ``nodes:``)."""
        return self.error(message, self.node_map, name if name in self.nodes else None)

    def need(self, name: str) -> Any:
        if name not in self.nodes:
            raise self.error(f"no node '{name}'", self.data, "nodes")
        return self.nodes[name]

    def start(self) -> str:
        start = self.data.get("start")
        return str(start) if isinstance(start, str) else next(iter(self.nodes))

    def node_edit(self, op: str, name: str, path: EdgePath = (), **kw: Any) -> dict[str, Any]:
        return self.edit(op, ["nodes", name, *path], **kw)

    def into(self, target: str) -> list[tuple[str, EdgePath]]:
        """(node, edge path) of every edge pointing at ``target``."""
        return [(name, path) for name, node in self.nodes.items() for path, to in edges(node) if to == target]


def insert_node(text: str, flow: str, new_name: str, node: dict[str, Any], *, before: str | None = None,
                after: str | None = None, file: str = FILE) -> str:
    """Insert ``node`` as ``new_name`` before or after an existing node (exactly one of them).

    ``before=X``: every edge into X (and the start, if X is the start) now leads to the new node, whose
    ``next`` is X. ``after=X``: the new node takes over X's ``next`` and X's ``next`` is the new node (X
    must have a ``next``; for branches, insert before the branch's target or reconnect it)."""
    f = _Flow.of(text, flow, file)
    if (before is None) == (after is None):
        raise f.error("insert a node either before or after another node (give exactly one)")
    if not isinstance(new_name, str) or not _NAME.match(new_name):
        raise f.error(f"node name '{new_name}' must be lower case letters, digits and _")
    if new_name in f.nodes:
        raise f.node_error(new_name, f"a node '{new_name}' already exists")
    if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
        raise f.error("the new node must be a mapping with a 'type'")
    body = dict(node)
    edits: list[dict[str, Any]] = []
    if before is not None:
        f.need(before)
        if body.get("type") in _WITH_NEXT:
            body.setdefault("next", before)
        edits.append(f.node_edit("set", new_name, value=body, before=before))
        for name, path in f.into(before):
            edits.append(f.node_edit("set", name, path, value=new_name))
        if isinstance(f.data.get("start"), str) and f.data["start"] == before:
            edits.append(f.edit("set", ["start"], value=new_name))
    else:
        assert after is not None
        target = f.need(after)
        nxt = target.get("next") if isinstance(target, Mapping) else None
        if not isinstance(nxt, str):
            raise f.node_error(after, f"node '{after}' has no 'next' to insert after; insert before one of its "
                               "targets or reconnect one of its edges")
        if body.get("type") in _WITH_NEXT:
            body.setdefault("next", nxt)
        edits.append(f.node_edit("set", new_name, value=body, after=after))
        edits.append(f.node_edit("set", after, ("next",), value=new_name))
    return f.apply(edits)


def remove_node(text: str, flow: str, name: str, *, file: str = FILE) -> str:
    """Remove a node; edges into it go to its successor: its ``next`` (an approval's ``on_reject`` or a
    timeout's target go with the node), else its single target. Refused when a condition or parallel node
    has several targets, or when the node has none while other nodes still lead to it."""
    f = _Flow.of(text, flow, file)
    node = f.need(name)
    if len(f.nodes) == 1:
        raise f.node_error(name, f"node '{name}' is the flow's only node")
    nxt = node.get("next") if isinstance(node, Mapping) else None
    targets = [nxt] if isinstance(nxt, str) and nxt != name else sorted({to for _, to in edges(node) if to != name})
    incoming = [(n, p) for n, p in f.into(name) if n != name]
    is_start = f.start() == name
    if len(targets) > 1 and (incoming or is_start):
        raise f.node_error(name, f"node '{name}' has several successors ({', '.join(targets)}): reconnect the "
                           "edges into it first, then remove it")
    if not targets and (incoming or is_start):
        shown = ", ".join(f"{n}.{'.'.join(str(p) for p in path)}" for n, path in incoming) or "start"
        raise f.node_error(name, f"node '{name}' has no successor to lead {shown} to: reconnect them first")
    edits = [f.node_edit("set", n, p, value=targets[0]) for n, p in incoming]
    if is_start:
        if isinstance(f.data.get("start"), str) or list(f.nodes).index(name) != 0 \
                or list(f.nodes)[1] != targets[0]:
            start = f.edit("set", ["start"], value=targets[0])
            if not isinstance(f.data.get("start"), str):
                start["before"] = "nodes"
            edits.append(start)
    edits.append(f.node_edit("delete", name))
    return f.apply(edits)


def reconnect(text: str, flow: str, node: str, edge: str, target: str, *, file: str = FILE) -> str:
    """Point one edge of ``node`` (``next``, ``default``, ``on_reject``, ``branch:N``, ``to:N``,
    ``timeout``, ``timeout:N``) at ``target``."""
    f = _Flow.of(text, flow, file)
    f.need(node)
    f.need(target)
    try:
        path = edge_path(edge)
    except ValueError as e:
        raise f.node_error(node, str(e)) from None
    if len(path) > 1:
        container: Any = f.nodes[node]
        for part in path[:-1]:
            ok = (isinstance(container, Mapping) and part in container) or \
                 (isinstance(container, list) and isinstance(part, int) and part < len(container))
            if not ok:
                raise f.node_error(node, f"node '{node}' has no edge '{edge}'")
            container = container[part]
    return f.apply([f.node_edit("set", node, path, value=target)])


def set_node(text: str, flow: str, name: str, props: dict[str, Any], *, file: str = FILE) -> str:
    """Set properties of a node (a value of None removes the property)."""
    f = _Flow.of(text, flow, file)
    return f.props(["nodes", name], f.need(name), props)
