"""The arguments of one structured edit, checked (``yaml_edit`` applies the edit).

Values are JSON-like data within the loader's bounds on nesting and size; indexes are in range; a new key
does not exist yet and is written so that it reads back as given. A problem raises :class:`Bad` (the edit's
message, and the node it is about for its line), which ``apply_edits`` turns into a DefinitionError naming
the file and the edit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from .yaml_roundtrip import Style, choose_flow, to_node
from .yaml_source import MAX_DEPTH, MAX_VALUES


class Bad(Exception):
    """An edit that cannot be applied (turned into a DefinitionError naming the edit)."""

    def __init__(self, message: str, node: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


def items_text(n: int) -> str:
    return f"the list has {n} item" + ("" if n == 1 else "s")


def need(edit: Mapping[str, Any], name: str) -> Any:
    if name not in edit:
        raise Bad(f"missing '{name}'")
    if name == "value":
        check_value(edit[name])
    return edit[name]


def check_value(value: Any) -> None:
    """A value is JSON-like data (texts, numbers, true/false, null, lists, mappings with text keys), within
    the loader's bounds on nesting and size."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_VALUES:
            raise Bad(f"the value is too large (at most {MAX_DEPTH} levels, {MAX_VALUES} values)")
        if isinstance(v, Mapping):
            if not all(isinstance(k, str) and k for k in v):
                raise Bad("mapping keys must be non-empty texts")
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend((x, depth + 1) for x in v)
        elif not (v is None or isinstance(v, (str, bool, int, float))):
            raise Bad(f"a {type(v).__name__} cannot be written as YAML (use texts, numbers, true/false, null, "
                       "lists and mappings)")


def styled_node(value: Any, style: Style, old: Any, peers: list[Any], parent: Any) -> Any:
    like = old if old is not None else next((p for p in peers if isinstance(p, str)), None)
    flow = choose_flow(value, old, peers, parent)
    return to_node(value, style, flow, like, [old] if isinstance(old, (CommentedMap, CommentedSeq)) else peers)


def insert_args(seq: Any, edit: Mapping[str, Any], style: Style) -> tuple[int, Any]:
    value = need(edit, "value")
    index = edit.get("index", -1)
    if not isinstance(index, int) or isinstance(index, bool):
        raise Bad("'index' must be a number")
    if index == -1:
        index = len(seq)
    if not 0 <= index <= len(seq):
        raise Bad(f"index {index} out of range ({items_text(len(seq))})", seq)
    return index, styled_node(value, style, None, list(seq), seq)


def move_args(seq: Any, edit: Mapping[str, Any]) -> tuple[int, int]:
    src, dst = need(edit, "from"), need(edit, "to")
    for name, v in (("from", src), ("to", dst)):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < len(seq):
            raise Bad(f"'{name}' index {v} out of range ({items_text(len(seq))})", seq)
    return src, dst


def key_text(new: str, styled: Any) -> str:
    """A mapping key as YAML text that reads back as ``new``: quoted (escaped) when the style or YAML needs
    it (``yes``, ``1.0``, ``C:\\x``), else plain."""
    if isinstance(styled, DoubleQuotedScalarString):
        return json.dumps(new, ensure_ascii=False)
    if isinstance(styled, SingleQuotedScalarString):
        return "'" + new.replace("'", "''") + "'"
    try:
        plain = yaml.safe_load(f"{new}: 0")
    except yaml.YAMLError:
        plain = None
    if isinstance(plain, dict) and list(plain) == [new]:
        return new
    return json.dumps(new, ensure_ascii=False)


def rename_args(parent: Any, key: Any, edit: Mapping[str, Any]) -> str:
    new = need(edit, "to")
    if not isinstance(parent, CommentedMap):
        raise Bad("only mapping keys can be renamed", parent)
    if not isinstance(new, str) or not new:
        raise Bad("'to' must be a non-empty key")
    if any(str(k) == new for k in parent if k != key):
        raise Bad(f"key '{new}' already exists", parent)
    return new
