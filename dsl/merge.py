"""Merge semantics of overlays: how a customer's differences combine with a base definition.

Definitions are merged as located YAML trees (:class:`Node`: a value and the file position it came from),
before validation, so that the merged definition is validated and checked as a whole and every error
points at the file (base pack, industry overlay or customer) that wrote the offending value.

The rules, per container (see :data:`LIST_RULES` and :data:`ORDERED` for the exceptions by kind):

* a mapping merges key by key (definitions, fields, flow nodes, labels ``{en, zh}``, intake shapes ...);
* a list of named items merges by its items' identity (``name``; ``value`` for enum options; ``title``
  for form sections); a role's ``permissions`` are added to (grants are additive);
* a scalar, or a list of plain values (``fields: [a, b]``), replaces; a list of plain values can also be
  edited with ``{add: [...], remove: [...], before: X | after: X}``;
* ``{remove: true}`` deletes an item (a mapping entry or a named list item);
* ``before: X`` / ``after: X`` place a new (or move an existing) item of an ordered container; a new flow
  node placed ``after: X`` takes over X's ``next`` (X then leads to it), one placed ``before: X`` takes
  over every edge that led to X (and leads to X): the edges are rewired.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .yaml_source import PathT, SourceDoc


@dataclass(frozen=True)
class Origin:
    """Where a value was written: a YAML document, the path in it, and the layer (app) it belongs to."""

    doc: SourceDoc
    path: PathT
    layer: str

    def where(self, *, key: bool = False) -> str:
        pos = self.doc.pos(self.path, key=key)
        return f"{self.doc.file}:{pos.line}"


@dataclass
class Node:
    """A located YAML value: ``value`` is a dict of Nodes, a list of Nodes, or a plain scalar."""

    value: Any
    origin: Origin

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if isinstance(self.value, dict) else None


def annotate(doc: SourceDoc, path: PathT, data: Any, layer: str) -> Node:
    """The located tree of ``data`` found at ``path`` of ``doc``."""
    origin = Origin(doc, path, layer)
    if isinstance(data, dict):
        return Node({k: annotate(doc, (*path, k), v, layer) for k, v in data.items()}, origin)
    if isinstance(data, list):
        return Node([annotate(doc, (*path, i), v, layer) for i, v in enumerate(data)], origin)
    return Node(data, origin)


def clone(node: Node) -> Node:
    """A copy of the tree's structure (origins shared): merging never changes the trees it reads."""
    v = node.value
    if isinstance(v, dict):
        return Node({k: clone(n) for k, n in v.items()}, node.origin)
    if isinstance(v, list):
        return Node([clone(n) for n in v], node.origin)
    return Node(v, node.origin)


def plain(node: Node) -> Any:
    """The plain data of a located tree."""
    v = node.value
    if isinstance(v, dict):
        return {k: plain(n) for k, n in v.items()}
    if isinstance(v, list):
        return [plain(n) for n in v]
    return v


def walk(node: Node, path: PathT = ()) -> Iterator[tuple[PathT, Node]]:
    """Every (path, node) of a tree, parents first."""
    yield path, node
    if isinstance(node.value, dict):
        for k, n in node.value.items():
            yield from walk(n, (*path, k))
    elif isinstance(node.value, list):
        for i, n in enumerate(node.value):
            yield from walk(n, (*path, i))


# -- the table: per kind, containers that differ from the defaults ------------------------------------------
# (kind or "*", container path with "*" for any key) -> how its list items merge:
#   ("key", NAME): by the item's NAME (the default is "name"); ("append",): overlay items are added
LIST_RULES: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {
    ("*", ("fields", "*", "options")): ("key", "value"),
    ("form", ("sections",)): ("key", "title"),
    ("role", ("permissions",)): ("append",),
}
# mappings whose entries are ordered items that ``before:``/``after:`` may place
ORDERED: set[tuple[str, tuple[str, ...]]] = {
    ("entity", ("fields",)),
    ("flow", ("nodes",)),
    ("intake", ("shapes",)),
}
FLOW_EDGE_KEYS = ("next", "default", "on_reject", "to")
LABEL_KEYS = {"label", "title", "message", "help", "subject"}  # texts: a plain one is its English text
PLACE = ("before", "after")
LIST_EDIT = {"add", "remove", "before", "after"}


def _matches(pattern: tuple[str, ...], path: tuple) -> bool:
    return len(pattern) == len(path) and all(p == "*" or p == str(q) for p, q in zip(pattern, path, strict=True))


def list_rule(kind: str, path: tuple) -> tuple[str, ...]:
    """How the list at ``path`` of a ``kind`` definition merges."""
    for (k, pattern), rule in LIST_RULES.items():
        if k in ("*", kind) and _matches(pattern, path):
            return rule
    return ("key", "name")


def is_ordered(kind: str, path: tuple) -> bool:
    return any(k in ("*", kind) and _matches(p, path) for k, p in ORDERED)


def identity(item: Any, key: str) -> Any:
    """The identity of a plain list item under ``key`` (a label's English text for titles); None: none."""
    if isinstance(item, dict):
        v = item.get(key)
        if isinstance(v, dict):
            v = v.get("en") or next(iter(v.values()), None)
        return v if isinstance(v, (str, int)) and not isinstance(v, bool) else None
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return item
    return None


def node_identity(node: Node, key: str) -> Any:
    """:func:`identity` of a located list item, reading only its key (not the whole item)."""
    v = node.value
    if isinstance(v, dict):
        k = v.get(key)
        return None if k is None else identity({key: plain(k)}, key)
    return identity(v, key) if not isinstance(v, list) else None


def is_remove(node: Node) -> bool:
    v = node.value
    return isinstance(v, dict) and set(v) - {"name", "value", "title", "entity"} == {"remove"} \
        and plain(v["remove"]) is True


class Merger:
    """Merges one overlay definition onto a base definition of kind ``kind``; collects located errors."""

    def __init__(self, kind: str, name: str = "", root: PathT = ()) -> None:
        self.kind = kind
        self.name = name
        self.root = root  # where the overlay definition starts in its document
        self.errors: list[DefinitionError] = []
        self.inserted_before: list[tuple[str, str, Origin]] = []  # flow nodes placed before: (new, anchor)

    def error(self, node: Node, message: str, path: tuple = (), *, key: bool = False) -> None:
        o = node.origin
        inside = o.path[len(self.root):] if o.path[:len(self.root)] == self.root else ()
        self.errors.append(o.doc.error((*o.path, *path), message, key=key,
                                       shown_path=(self.kind, self.name, *inside, *path)))

    def merge(self, base: Node, over: Node, path: tuple = ()) -> Node:
        b, o = base.value, over.value
        if isinstance(b, str) and isinstance(o, dict) and path and path[-1] in LABEL_KEYS \
                and all(isinstance(k, str) and len(k) <= 5 for k in o):
            base, b = Node({"en": Node(b, base.origin)}, base.origin), None  # "Order" is {en: Order}
            return self._mapping(base, over, path)
        if isinstance(b, dict) and isinstance(o, dict):
            return self._mapping(base, over, path)
        if isinstance(b, list) and isinstance(o, list):
            return self._list(base, over, path)
        if isinstance(b, list) and isinstance(o, dict) and set(o) <= LIST_EDIT and o:
            return self._edit_list(base, over, path)
        return copy.copy(over)

    # -- mappings
    def _mapping(self, base: Node, over: Node, path: tuple) -> Node:
        out: dict[str, Node] = dict(base.value)
        ordered = is_ordered(self.kind, path)
        placed: list[tuple[str, Node, bool]] = []
        for key, ov in over.value.items():
            if is_remove(ov):
                if key in out:
                    removed = out.pop(key)
                    if self.kind == "flow" and path == ("nodes",):
                        self._bypass(out, key, removed, ov)
                else:
                    self.error(over, f"nothing to remove: the base has no '{key}'", (key,), key=True)
                continue
            place = self._place(ov) if ordered else None
            new = key not in out
            if new:
                out[key] = self._strip(ov) if ordered else ov
            else:
                out[key] = self.merge(out[key], self._strip(ov) if ordered else ov, (*path, key))
            if place:
                placed.append((key, ov, new))
        node = Node(out, base.origin)
        for key, ov, new in placed:
            self._reposition(node, key, ov, rewire=new and self.kind == "flow" and path == ("nodes",))
        return node

    def _place(self, node: Node) -> tuple[str, Any] | None:
        if not isinstance(node.value, dict):
            return None
        found = [(p, plain(node.value[p])) for p in PLACE if p in node.value]
        if len(found) > 1:
            self.error(node, "give either 'before' or 'after', not both")
            return None
        if found and not isinstance(found[0][1], str):
            self.error(node, f"'{found[0][0]}' names the item to place this one next to", (found[0][0],))
            return None
        return found[0] if found else None

    @staticmethod
    def _strip(node: Node) -> Node:
        if isinstance(node.value, dict) and any(p in node.value for p in PLACE):
            return Node({k: v for k, v in node.value.items() if k not in PLACE}, node.origin)
        return node

    def _reposition(self, container: Node, key: str, ov: Node, *, rewire: bool = False) -> None:
        where, anchor = self._place(ov) or (None, None)
        items: dict[str, Node] = container.value
        if anchor not in items or anchor == key:
            self.error(ov, f"'{where}: {anchor}': no such item to place '{key}' {where}"
                       + (f" (known: {', '.join(list(items)[:12])})" if items else ""), (where,))
            return
        moved = items.pop(key)
        keys = list(items)
        at = keys.index(anchor) + (1 if where == "after" else 0)
        keys.insert(at, key)
        rebuilt = {k: (moved if k == key else items[k]) for k in keys}
        items.clear()
        items.update(rebuilt)
        if rewire:  # a new flow node: the edges around it lead through it
            self._rewire(items, key, where, anchor, ov)

    def _rewire(self, nodes: dict[str, Node], new: str, where: str, anchor: str, ov: Node) -> None:
        """A flow node inserted next to ``anchor``: the edges around it lead through it."""
        node = nodes[new]
        at = ov.value[where]
        if where == "after":
            target = nodes[anchor]
            nxt = target.get("next") if isinstance(target.value, dict) else None
            if nxt is None or not isinstance(nxt.value, str):
                self.error(ov, f"cannot insert after '{anchor}': it has no single 'next' (use before: on the "
                               "node it leads to)", (where,))
                return
            if "next" not in node.value:
                node.value["next"] = copy.copy(nxt)
            target.value = {**target.value, "next": Node(new, at.origin)}
            return
        for name, other in nodes.items():
            if name != new:
                self._redirect(other, anchor, new, at.origin)
        self.inserted_before.append((new, anchor, at.origin))
        if "next" not in node.value:
            node.value["next"] = Node(anchor, at.origin)

    def _bypass(self, nodes: dict[str, Node], name: str, removed: Node, ov: Node) -> None:
        """A removed flow node with a single ``next``: the edges that led to it lead there instead."""
        nxt = removed.get("next")
        if nxt is not None and isinstance(nxt.value, str):
            for other in nodes.values():
                self._redirect(other, name, nxt.value, ov.origin)

    def _redirect(self, node: Node, old: str, new: str, origin: Origin) -> None:
        if not isinstance(node.value, dict):
            if isinstance(node.value, list):
                for item in node.value:
                    self._redirect(item, old, new, origin)
            return
        for k, v in list(node.value.items()):
            if k in FLOW_EDGE_KEYS and v.value == old:
                node.value[k] = Node(new, origin)
            elif k in FLOW_EDGE_KEYS and isinstance(v.value, list):
                v.value = [Node(new, origin) if i.value == old else i for i in v.value]
            elif isinstance(v.value, (dict, list)):
                self._redirect(v, old, new, origin)

    # -- lists
    def _list(self, base: Node, over: Node, path: tuple) -> Node:
        rule = list_rule(self.kind, path)
        if rule[0] == "append":
            return self._append(base, over)
        key = rule[1]
        base_ids = [node_identity(n, key) for n in base.value]
        named_over = all(isinstance(n.value, dict) and node_identity(n, key) is not None for n in over.value)
        if not base.value or None in base_ids or not named_over or all(not isinstance(n.value, dict) for n in base.value):
            return copy.copy(over)  # plain values or anonymous items: the overlay's list replaces
        if len(set(base_ids)) != len(base_ids):
            return copy.copy(over)  # the base repeats a name: no item can be told apart
        items: dict[Any, Node] = dict(zip(base_ids, base.value, strict=True))
        placed: list[tuple[Any, Node]] = []
        for ov in over.value:
            ident = node_identity(ov, key)
            if is_remove(ov):
                if items.pop(ident, None) is None:
                    self.error(ov, f"nothing to remove: the base has no item '{ident}'")
                continue
            place = self._place(ov)
            stripped = self._strip(ov)
            items[ident] = self.merge(items[ident], stripped, (*path, ident)) if ident in items else stripped
            if place:
                placed.append((ident, ov))
        for ident, ov in placed:
            where, anchor = self._place(ov) or (None, None)
            if anchor not in items or anchor == ident:
                self.error(ov, f"'{where}: {anchor}': no such item", (where,))
                continue
            moved = items.pop(ident)
            order = list(items)
            order.insert(order.index(anchor) + (1 if where == "after" else 0), ident)
            items = {k: (moved if k == ident else items[k]) for k in order}
        return Node(list(items.values()), base.origin)

    def _append(self, base: Node, over: Node) -> Node:
        items = list(base.value)
        for ov in over.value:
            data = plain(ov)
            if is_remove(ov):
                match = {k: v for k, v in data.items() if k != "remove"}
                kept = [n for n in items if not (isinstance(n.value, dict) and
                                                 all(plain(n).get(k) == v for k, v in match.items()))]
                if len(kept) == len(items):
                    self.error(ov, f"nothing to remove: no item with {match}")
                items = kept
            elif not any(plain(n) == data for n in items):
                items.append(ov)
        return Node(items, base.origin)

    def _edit_list(self, base: Node, over: Node, path: tuple) -> Node:
        """``{add: [...], remove: [...], before|after: X}`` on a list of plain values."""
        items = list(base.value)
        o = over.value
        for r in (o["remove"].value if "remove" in o and isinstance(o["remove"].value, list) else []):
            values = [n.value for n in items]
            if r.value in values:
                items.pop(values.index(r.value))
            else:
                self.error(r, f"nothing to remove: '{r.value}' is not in the list")
        add = o["add"].value if "add" in o and isinstance(o["add"].value, list) else []
        place = self._place(over)
        at = len(items)
        if place:
            where, anchor = place
            values = [n.value for n in items]
            if anchor in values:
                at = values.index(anchor) + (1 if where == "after" else 0)
            else:
                self.error(over, f"'{where}: {anchor}': not in the list", (where,))
        for n in add:
            if n.value not in [i.value for i in items]:
                items.insert(at, n)
                at += 1
        return Node(items, over.origin)
