"""Item paths of definitions, the same way the merge sees them: named list items by their identity.

``flat(kind, tree)`` maps every item path (``fields.status.options[done].label.zh``) of a located
definition to its node; ``touched(kind, overlay, base_flat)`` lists the item paths an overlay sets. The
diff (``ordo diff``) and the 3-way upgrade (``ordo upgrade``) compare definitions through them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .merge import LIST_EDIT, PLACE, Node, is_ordered, is_remove, list_rule, node_identity, plain

CPath = tuple[str, ...]
MISSING: Any = object()


def show_path(cpath: CPath) -> str:
    out = ""
    for part in cpath:
        out += part if part.startswith("[") else ("." if out else "") + part
    return out


def _keyed(kind: str, path: tuple, items: list[Node]) -> str | None:
    rule = list_rule(kind, path)
    if rule[0] != "key" or not items or not any(isinstance(n.value, dict) for n in items):
        return None
    return rule[1] if all(node_identity(n, rule[1]) is not None for n in items) else None


def flat(kind: str, node: Node, path: tuple = (), cpath: CPath = (),
         out: dict[CPath, Node] | None = None) -> dict[CPath, Node]:
    """Every item path of a definition tree and its node (named list items by identity)."""
    out = {} if out is None else out
    out[cpath] = node
    v = node.value
    if isinstance(v, dict):
        for k, n in v.items():
            flat(kind, n, (*path, k), (*cpath, str(k)), out)
    elif isinstance(v, list):
        key = _keyed(kind, path, v)
        if key is not None:
            for n in v:
                ident = node_identity(n, key)
                flat(kind, n, (*path, ident), (*cpath, f"[{ident}]"), out)
    return out


def without_placement(data: Any) -> Any:
    return {k: v for k, v in data.items() if k not in PLACE} if isinstance(data, dict) else data


def touched(kind: str, over: Node, base: dict[CPath, Node], path: tuple = (), cpath: CPath = (),
            item: bool = False) -> Iterator[tuple[CPath, Node]]:
    """The item paths an overlay definition sets (a new or removed item is one path; so is a replaced
    list), given the flat base it was written against."""
    v = over.value
    if isinstance(v, dict):
        if is_remove(over) or (cpath and cpath not in base):
            yield cpath, over
            return
        if cpath in base and isinstance(base[cpath].value, list) and set(v) <= LIST_EDIT:
            yield cpath, over
            return
        children_are_items = is_ordered(kind, path)
        for k, n in v.items():
            if (item and k in PLACE) or (not cpath and k in ("kind", "name", "remove", "disabled", "replace")):
                continue
            yield from touched(kind, n, base, (*path, k), (*cpath, str(k)), children_are_items)
    elif isinstance(v, list) and cpath in base and isinstance(base[cpath].value, list):
        key = _keyed(kind, path, base[cpath].value)
        if key is not None and all(isinstance(n.value, dict) and node_identity(n, key) is not None for n in v) \
                and list_rule(kind, path)[0] == "key":
            for n in v:
                ident = node_identity(n, key)
                yield from touched(kind, n, base, (*path, ident), (*cpath, f"[{ident}]"), True)
        else:
            yield cpath, over
    else:
        yield cpath, over


def value_at(flat_tree: dict[CPath, Node] | None, cpath: CPath) -> Any:
    if flat_tree is None or cpath not in flat_tree:
        return MISSING
    return plain(flat_tree[cpath])


def changes(kind: str, before: Node | None, after: Node | None) -> list[tuple[str, CPath, Node | None, Node | None]]:
    """What changed from ``before`` to ``after``, item by item: ("+"|"-"|"~", path, old node, new node)."""
    fb = flat(kind, before) if before is not None else {}
    fa = flat(kind, after) if after is not None else {}
    out: list[tuple[str, CPath, Node | None, Node | None]] = []
    for cpath, node in fa.items():
        if cpath in (("kind",), ("name",)):
            continue
        if cpath in fb and isinstance(node.value, list) and isinstance(fb[cpath].value, list) \
                and list_rule(kind, cpath)[0] == "append":
            old = [plain(n) for n in fb[cpath].value]
            new = [plain(n) for n in node.value]
            out.extend(("+", (*cpath, "[+]"), None, n) for n in node.value if plain(n) not in old)
            out.extend(("-", (*cpath, "[-]"), n, None) for n in fb[cpath].value if plain(n) not in new)
            continue
        if cpath and cpath not in fb and cpath[:-1] in fb:
            out.append(("+", cpath, None, node))
        elif cpath in fb and not _has_children(fa, cpath) and plain(node) != plain(fb[cpath]):
            out.append(("~", cpath, fb[cpath], node))
    for cpath, node in fb.items():
        if cpath and cpath not in fa and cpath[:-1] in fa and cpath not in (("kind",), ("name",)):
            out.append(("-", cpath, node, None))
    order = {c: i for i, c in enumerate(fa)}
    out.sort(key=lambda c: order.get(c[1], order.get(c[1][:-1], 0)))
    return out


def _has_children(f: dict[CPath, Node], cpath: CPath) -> bool:
    v = f[cpath].value
    if isinstance(v, dict):
        return bool(v)
    if isinstance(v, list):
        return any(k[:-1] == cpath for k in f if len(k) == len(cpath) + 1)
    return False
