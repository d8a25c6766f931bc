"""YAML reading that remembers where every value came from.

``load_documents(path)`` returns one :class:`SourceDoc` per YAML document with
plain Python data plus a map from each value's path to its line and column, so
any later error (schema, cross-reference, expression) can be reported as
``file:line:column``. Mapping keys stay strings (``on:`` is not a boolean) and
duplicate keys are errors.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import DefinitionError

PathT = tuple[str | int, ...]

MAX_DEPTH = 100  # nesting of mappings and lists in one document
MAX_VALUES = 10_000  # values of one document, counting each use of an alias (no "billion laughs")


class _Loader(yaml.SafeLoader):
    """The safe loader with nesting bounded before PyYAML's recursive composer runs out of stack."""

    _depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # the scanner re-examines every open flow level per token: refuse deep [[[ / {{{ early
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@dataclass(frozen=True)
class Pos:
    line: int  # 1-based
    column: int  # 1-based
    style: str | None = None  # YAML scalar style: None (plain), "'", '"', "|", ">"


@dataclass
class SourceDoc:
    """One YAML document: its data and the position of every value and key."""

    file: str
    data: Any
    values: dict[PathT, Pos] = field(default_factory=dict)
    keys: dict[PathT, Pos] = field(default_factory=dict)
    text: str = ""

    # Pickled (the app cache, dsl/cache.py), the positions travel as one packed bytes value, unpacked at their first
    # use (an error to report, a designer's edit): opening a cached app does not rebuild thousands of them.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if "_packed" not in state:
            state["_packed"] = pickle.dumps((state.pop("values"), state.pop("keys")), pickle.HIGHEST_PROTOCOL)
        return state

    def __getattr__(self, name: str) -> Any:
        packed = self.__dict__.get("_packed") if name in ("values", "keys") else None
        if packed is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.values, self.keys = pickle.loads(packed)  # noqa: S301 - packed by __getstate__ above
        del self.__dict__["_packed"]
        return self.__dict__[name]

    def pos(self, path: Sequence[str | int], *, key: bool = False) -> Pos:
        """Position of ``path`` (its key if ``key``), else of its nearest located ancestor."""
        p = tuple(path)
        if key and p in self.keys:
            return self.keys[p]
        while p:
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), Pos(1, 1))

    def file_at(self, path: Sequence[str | int]) -> str:
        """The file the value at ``path`` was read from (a merged definition's values come from several)."""
        return self.file

    def error(self, path: Sequence[str | int], message: str, *, key: bool = False,
              shown_path: Sequence[str | int] | None = None) -> DefinitionError:
        pos = self.pos(path, key=key)
        return DefinitionError(message, file=self.file, line=pos.line, column=pos.column,
                               path=tuple(path if shown_path is None else shown_path))

    def text_position(self, path: Sequence[str | int], line: int, column: int) -> tuple[int, int]:
        """File position of (line, column) inside the string value at ``path``."""
        pos = self.pos(path)
        if pos.style in ("|", ">"):
            lines = self.text.splitlines()
            target = pos.line + line  # block content starts on the line after the indicator
            indent = 0
            if 0 < target <= len(lines):
                src = lines[target - 1]
                indent = len(src) - len(src.lstrip(" "))
            return target, indent + column
        if line == 1:
            return pos.line, pos.column + column - 1 + (1 if pos.style in ("'", '"') else 0)
        return pos.line + line - 1, column


class _Builder:
    def __init__(self, file: str, doc: SourceDoc) -> None:
        self.file = file
        self.doc = doc
        self.constructor = SafeConstructor()
        self.count = 0

    def build(self, node: Node, path: PathT) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self._err(node, path, f"more than {MAX_VALUES} values (aliases expand too much)")
        if len(path) > MAX_DEPTH:  # an alias inside its own anchor ("&a [*a]") never ends
            raise self._err(node, path[:1], f"nested deeper than {MAX_DEPTH} levels (an alias refers to itself?)")
        self.doc.values[path] = Pos(node.start_mark.line + 1, node.start_mark.column + 1,
                                    getattr(node, "style", None) if isinstance(node, ScalarNode) else None)
        if isinstance(node, MappingNode):
            out: dict[str, Any] = {}
            self.constructor.flatten_mapping(node)
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise self._err(key_node, path, "mapping keys must be plain names")
                key = str(key_node.value)
                if key in out:
                    raise self._err(key_node, (*path, key), f"duplicate key '{key}'")
                self.doc.keys[(*path, key)] = Pos(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)

    def _err(self, node: Node, path: PathT, message: str) -> DefinitionError:
        return DefinitionError(message, file=self.file, line=node.start_mark.line + 1,
                               column=node.start_mark.column + 1, path=path)


def parse_documents(text: str, file: str) -> list[SourceDoc]:
    """Parse YAML ``text`` (possibly several ``---`` documents) into located documents."""
    docs: list[SourceDoc] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is None:
                continue
            doc = SourceDoc(file, None, text=text)
            doc.data = _Builder(file, doc).build(node, ())
            docs.append(doc)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        msg = e.problem or e.context or "invalid YAML"
        raise DefinitionError(f"YAML syntax error: {msg}", file=file, line=line, column=col) from None
    except yaml.YAMLError as e:  # pragma: no cover - non-marked YAML errors are rare
        raise DefinitionError(f"YAML error: {e}", file=file) from None
    return docs


def load_documents(path: str | Path, display: str | None = None) -> list[SourceDoc]:
    """Read and parse a YAML file; errors name ``display`` (default: the path)."""
    p = Path(path)
    name = display or str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DefinitionError(f"cannot read file: {e}", file=name) from None
    return parse_documents(text, name)
