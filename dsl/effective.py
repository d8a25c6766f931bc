"""What an overlay app is made of, for people: the merged definitions with each line's origin
(``ordo effective``) and the overlay's changes against its base, item by item (``ordo diff``)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .merge import Node, Origin
from .overlay import located_tree
from .overlay_paths import changes, show_path

if TYPE_CHECKING:
    from .app import AppDefinition

COMMENT_COLUMN = 72


def _scalar(value: Any) -> str:
    import yaml  # PyYAML is not imported by opening an app (see yaml_source)

    text = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=10**9).strip()[1:-1]
    if isinstance(value, str) and text.startswith("'"):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    return text


def _inline(node: Node) -> str | None:
    """The node on one line (a scalar, a list of scalars, a small mapping of scalars), else None."""
    v = node.value
    if isinstance(v, list) and all(not isinstance(n.value, (dict, list)) for n in v):
        return "[" + ", ".join(_scalar(n.value) for n in v) + "]"
    if isinstance(v, (dict, list)):
        return "{}" if v == {} else None
    return _scalar(v)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _line(text: str, origin: Origin) -> str:
    pad = COMMENT_COLUMN - 1 - _width(text)
    return f"{text}{' ' * max(pad, 1)} # {origin.where()}"


def render(node: Node, indent: int = 0) -> Iterator[str]:
    """YAML lines of a located mapping, each ending with ``# file:line`` of the value it shows."""
    pad = " " * indent
    for key, child in node.value.items():
        yield from _entry(f"{pad}{_scalar(str(key))}:", child, indent)


def _entry(head: str, child: Node, indent: int) -> Iterator[str]:
    inline = _inline(child)
    if inline is not None:
        yield _line(f"{head} {inline}", child.origin)
        return
    yield _line(head, child.origin)
    if isinstance(child.value, dict):
        yield from render(child, indent + 2)
        return
    for item in child.value:
        yield from _item(item, indent + 2)


def _item(item: Node, indent: int) -> Iterator[str]:
    pad = " " * indent
    inline = _inline(item)
    if inline is not None:
        yield _line(f"{pad}- {inline}", item.origin)
        return
    if isinstance(item.value, list):
        yield _line(f"{pad}-", item.origin)
        for sub in item.value:
            yield from _item(sub, indent + 2)
        return
    first = True
    for key, child in item.value.items():
        head = f"{pad}- {_scalar(str(key))}:" if first else f"{pad}  {_scalar(str(key))}:"
        yield from _entry(head, child, indent + 2)
        first = False


def definition_tree(app: AppDefinition, kind: str, name: str) -> Node | None:
    loc = app.located(kind, name)
    if loc is None:
        return None
    return located_tree(loc.source, loc.base, loc.origin)


def effective_lines(app: AppDefinition, kind: str, name: str) -> list[str]:
    """The definition as merged, one YAML line each with its origin (``# file:line``)."""
    tree = definition_tree(app, kind, name)
    if tree is None:
        return [f"kind: {kind}", f"name: {name}", "# (built in Python: no source)"]
    head = {k: tree.value[k] for k in ("kind", "name") if k in tree.value}
    rest = Node({k: v for k, v in tree.value.items() if k not in head}, tree.origin)
    lines = [f"kind: {kind}"] if "kind" not in head else []
    lines += list(render(Node(head, tree.origin)))
    if "name" not in head:
        lines.insert(1, _line(f"name: {name}", tree.origin))
    return lines + list(render(rest))


def diff_lines(app: AppDefinition) -> list[str]:
    """The overlay's changes against its base, item by item, with the file:line that makes each."""
    info = app.overlay
    if info is None:
        return []
    out: list[str] = []
    base = info.base
    for kind in app.items:
        names = list(dict.fromkeys([*base.names(kind), *app.names(kind)]))
        for name in names:
            key = (kind, name)
            if key in info.removed:
                node = info.removed[key]
                out.append(_line(f"- {kind} {name} (removed)", node.origin))
                continue
            mine, theirs = app.located(kind, name), base.located(kind, name)
            if mine is None or (theirs is not None and mine.source is theirs.source):
                continue
            if theirs is None:
                node = definition_tree(app, kind, name)
                out.append(_line(f"+ {kind} {name} (new)", node.origin) if node else f"+ {kind} {name} (new)")
                continue
            before, after = definition_tree(base, kind, name), definition_tree(app, kind, name)
            found = changes(kind, before, after)
            if key in info.replaced:
                out.append(_line(f"~ {kind} {name} (replaced whole)", info.changed[key].origin))
            elif found:
                out.append(f"~ {kind} {name}")
            for sign, cpath, old, new in found:
                out.append(_change(sign, cpath, old, new))
    return out


def _compact(node: Node, limit: int = 100) -> str:
    import yaml

    from .merge import plain

    text = _inline(node) or yaml.safe_dump(plain(node), default_flow_style=True, allow_unicode=True, sort_keys=False,
                                           width=10**9).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _change(sign: str, cpath: tuple, old: Node | None, new: Node | None) -> str:
    path = show_path(cpath)
    if sign == "+":
        return _line(f"    + {path}: {_compact(new)}", new.origin)  # type: ignore[arg-type, union-attr]
    if sign == "-":
        return f"    - {path}: {_compact(old)}  (base: {old.origin.where()})"  # type: ignore[arg-type, union-attr]
    was, now = _inline(old) or "...", _inline(new) or "..."  # type: ignore[arg-type]
    return _line(f"    ~ {path}: {was} -> {now}", new.origin)  # type: ignore[union-attr]
