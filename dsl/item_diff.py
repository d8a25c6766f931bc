"""Item-by-item differences between two versions of an app (draft vs published, any two versions).

``diff_definitions(before, after)`` compares every definition (kind, name) of two AppDefinitions through
the same item paths ``ordo diff`` uses (``overlay_paths.changes`` over the located trees of
``effective.definition_tree``: named list items by their identity, not their position) and returns
:class:`Change` items a person can read: definition added/removed, flow node added/removed/changed (a
branch condition, the approvers, ``next``...), entity field added/removed/made required/default changed,
form section/field moved, and a change by key path for everything else. ``Change.describe(lang)`` renders
one in English or Chinese, with the definitions' labels in that language where they have them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import kinds  # noqa: F401 - registers every definition kind
from .base import KINDS, label_text
from .effective import definition_tree
from .merge import Node, annotate, plain
from .overlay_paths import changes, show_path
from .yaml_source import SourceDoc

if TYPE_CHECKING:
    from .app import AppDefinition

KIND_ZH = {"entity": "实体", "flow": "流程", "form": "表单", "report": "报表", "role": "角色",
           "allocation": "分配规则", "assignment": "指派规则", "decision": "决策表", "intake": "接入",
           "dataset": "数据集", "scenario": "场景", "calendar": "日历"}
ACTIONS = ("added", "removed", "changed", "moved", "required", "optional")


@dataclass(frozen=True)
class Change:
    """One item that differs. ``action``: "added", "removed", "changed", "moved" (a form field or
    section), "required" / "optional" (an entity field made required / optional). ``path``: the item
    path inside the definition (``("nodes", "finance_review")``, ``("fields", "amount", "default")``;
    named list items as ``[identity]``); empty for a whole definition added or removed."""

    kind: str
    name: str
    action: str
    path: tuple[str, ...] = ()
    old: Any = None
    new: Any = None
    label: Any = None  # the definition's label ({en, zh} or a text), where it has one
    item_label: Any = None  # the changed node's / field's label, where it has one

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        """JSON-ready form (for the designer API), with the description in ``lang``."""
        return {"kind": self.kind, "name": self.name, "action": self.action, "path": list(self.path),
                "old": self.old, "new": self.new, "text": self.describe(lang)}

    def describe(self, lang: str = "en") -> str:
        """One line for people, e.g. ``flow order_lifecycle: node finance_review added``."""
        zh = lang == "zh"
        head = self._head(zh)
        if not self.path:
            return f"{head}：{'新增' if self.action == 'added' else '删除'}" if zh else f"{head}: {self.action}"
        return f"{head}{'：' if zh else ': '}{self._what(zh)}"

    def _head(self, zh: bool) -> str:
        if not zh:
            return f"{self.kind} {self.name}"
        shown = label_text(self.label, "zh", "") if self.label is not None else ""
        return f"{KIND_ZH.get(self.kind, self.kind)} {self.name}" + (f"（{shown}）" if shown and shown != self.name else "")

    def _item(self, zh: bool) -> str:
        name = self.path[1].strip("[]") if len(self.path) > 1 else ""
        shown = label_text(self.item_label, "zh", "") if zh and self.item_label is not None else ""
        return name + (f"（{shown}）" if shown and shown != name else "")

    def _what(self, zh: bool) -> str:
        p, item = self.path, self._item(zh)
        rest = show_path(p[2:]) if len(p) > 2 else ""
        old, new = _show(self.old), _show(self.new)
        if self.kind == "flow" and p[0] == "nodes" and len(p) > 1:
            what = ("节点 " if zh else "node ") + item
            return _item_change(what, rest, self.action, old, new, zh)
        if p[0] == "fields" and len(p) > 1 and self.kind == "entity":
            what = ("字段 " if zh else "field ") + item
            if self.action == "required":
                return f"{what} 改为必填" if zh else f"{what} made required"
            if self.action == "optional":
                return f"{what} 改为选填" if zh else f"{what} made optional"
            if rest == "default":
                return f"{what}：默认值 {old} 改为 {new}" if zh else f"{what}: default {old} -> {new}"
            return _item_change(what, rest, self.action, old, new, zh)
        if self.action == "moved":
            if p[0] == "sections" and len(p) == 2:
                return f"分区 {p[1].strip('[]')} 位置调整" if zh else f"section {p[1].strip('[]')} moved"
            field = p[-1]
            lang = "zh" if zh else "en"
            old, new = label_text(self.old, lang, str(self.old)), label_text(self.new, lang, str(self.new))
            if self.old == self.new:
                return f"字段 {field} 在分区 {old} 内调整顺序" if zh else f"field {field} moved within section {old}"
            return f"字段 {field} 从分区 {old} 移到 {new}" if zh else f"field {field} moved from section {old} to {new}"
        return _item_change("", show_path(p), self.action, old, new, zh)


def _item_change(what: str, rest: str, action: str, old: str, new: str, zh: bool) -> str:
    if not rest:
        if zh:
            return f"新增{what}" if action == "added" else f"删除{what}" if action == "removed" else f"{what} 已修改"
        return f"{what} {action}"
    sep = "：" if zh else ": "
    prefix = f"{what}{sep}" if what else ""
    if action == "added":
        return f"{prefix}新增 {rest} = {new}" if zh else f"{prefix}{rest} added: {new}"
    if action == "removed":
        return f"{prefix}删除 {rest}（原为 {old}）" if zh else f"{prefix}{rest} removed (was {old})"
    return f"{prefix}{rest} 由 {old} 改为 {new}" if zh else f"{prefix}{rest} {old} -> {new}"


def _show(value: Any, limit: int = 80) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def diff_definitions(before: AppDefinition, after: AppDefinition) -> list[Change]:
    """Every item that differs between two versions of an app, definition by definition."""
    out: list[Change] = []
    for kind in dict.fromkeys([*KINDS, *before.items, *after.items]):
        names = list(dict.fromkeys([*before.names(kind), *after.names(kind)]))
        for name in names:
            old, new = before.get(kind, name), after.get(kind, name)
            label = _label(new if new is not None else old)
            if old is None:
                out.append(Change(kind, name, "added", label=label))
            elif new is None:
                out.append(Change(kind, name, "removed", label=label))
            else:
                out.extend(_definition_changes(kind, name, _tree(before, kind, name), _tree(after, kind, name), label))
    return out


def _label(definition: Any) -> Any:
    return getattr(definition, "label", None) or getattr(definition, "title", None)


def _tree(app: AppDefinition, kind: str, name: str) -> Node:
    tree = definition_tree(app, kind, name)
    if tree is not None:
        return tree
    data = app.get(kind, name).model_dump(mode="json", exclude_defaults=True)  # built in Python: no source
    return annotate(SourceDoc("<python>", data), (), data, "app")


def _definition_changes(kind: str, name: str, before: Node, after: Node, label: Any) -> list[Change]:
    if plain(before) == plain(after):
        return []
    out: list[Change] = []
    skip: set[tuple[str, ...]] = set()
    if kind == "form":
        out += _form_moves(kind, name, before, after, label, skip)
    for sign, cpath, old, new in changes(kind, before, after):
        if cpath in skip:
            continue
        o = plain(old) if old is not None else None
        n = plain(new) if new is not None else None
        action = {"+": "added", "-": "removed", "~": "changed"}[sign]
        for path, a, b, act in _refine(cpath, o, n, action):
            if kind == "entity" and len(path) == 3 and path[0] == "fields" and path[2] == "required":
                act = "required" if b is True else "optional" if act != "added" or b is False else act
            out.append(Change(kind, name, act, path, a, b, label, _item_label(before, after, path)))
    return out


def _refine(cpath: tuple[str, ...], old: Any, new: Any, action: str):
    """A changed list of unnamed items of the same length (a condition's branches) item by item; a
    changed mapping key by key."""
    if action == "changed" and isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                yield from _refine((*cpath, f"[{i}]"), a, b, action)
        return
    if action == "changed" and isinstance(old, dict) and isinstance(new, dict):
        for k in dict.fromkeys([*old, *new]):
            if k not in old:
                yield (*cpath, str(k)), None, new[k], "added"
            elif k not in new:
                yield (*cpath, str(k)), old[k], None, "removed"
            elif old[k] != new[k]:
                yield from _refine((*cpath, str(k)), old[k], new[k], action)
        return
    yield cpath, old, new, action


def _item_label(before: Node, after: Node, path: tuple[str, ...]) -> Any:
    if len(path) < 2 or path[0] not in ("nodes", "fields"):
        return None
    for tree in (after, before):
        container = tree.get(path[0])
        item = container.get(path[1]) if container is not None else None
        if item is not None and isinstance(item.value, dict) and "label" in item.value:
            return plain(item.value["label"])
    return None


def _form_moves(kind: str, name: str, before: Node, after: Node, label: Any,
                skip: set[tuple[str, ...]]) -> list[Change]:
    """Sections reordered and fields moved within or between sections (by section title)."""
    def layout(tree: Node) -> list[tuple[str, list[str]]]:
        sections = plain(tree).get("sections") or []
        return [(_title(s, i), list(s.get("fields") or [])) for i, s in enumerate(sections) if isinstance(s, dict)]

    titles = {_title(s, i): s.get("title") or _title(s, i)
              for tree in (before, after) for i, s in enumerate(plain(tree).get("sections") or [])
              if isinstance(s, dict)}

    old, new = layout(before), layout(after)
    out: list[Change] = []
    old_titles, new_titles = [t for t, _ in old], [t for t, _ in new]
    common = [t for t in new_titles if t in old_titles]
    if [t for t in old_titles if t in common] != common:
        for t in common:
            if old_titles.index(t) != new_titles.index(t):
                out.append(Change(kind, name, "moved", ("sections", f"[{t}]"), old_titles.index(t),
                                  new_titles.index(t), label))
    where_old = {f: (t, i) for t, fields in old for i, f in enumerate(fields)}
    where_new = {f: (t, i) for t, fields in new for i, f in enumerate(fields)}
    old_fields = dict(old)
    for title, fields in new:
        kept = [f for f in fields if where_old.get(f, (None,))[0] == title]
        before_order = [f for f in old_fields.get(title, []) if f in kept]
        for f in fields:
            if f not in where_old:
                continue
            src = where_old[f][0]
            if src != title or (kept != before_order and _moved(f, before_order, kept)):
                out.append(Change(kind, name, "moved", ("sections", f"[{title}]", "fields", f), titles[src],
                                  titles[title], label))
        if title in old_fields and old_fields[title] != fields and all(f in where_old for f in fields) \
                and all(f in where_new for f in old_fields[title]):
            skip.add(("sections", f"[{title}]", "fields"))
    return out


def _moved(field: str, before: list[str], after: list[str]) -> bool:
    """Did ``field`` move (not just shift because others moved)? Its neighbours changed on both sides."""
    i, j = before.index(field), after.index(field)
    prev_b = before[i - 1] if i else None
    prev_a = after[j - 1] if j else None
    next_b = before[i + 1] if i + 1 < len(before) else None
    next_a = after[j + 1] if j + 1 < len(after) else None
    return prev_b != prev_a and next_b != next_a


def _title(section: dict, index: int) -> str:
    title = section.get("title")
    if isinstance(title, dict):
        return str(title.get("en") or next(iter(title.values()), index))
    return str(title) if title else str(index)
