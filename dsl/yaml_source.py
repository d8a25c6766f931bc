"""YAML reading that remembers where every value came from.

``load_documents(path)`` returns one :class:`SourceDoc` per YAML document with
plain Python data plus a map from each value's path to its line and column, so
any later error (schema, cross-reference, expression) can be reported as
``file:line:column``. Mapping keys stay strings (``on:`` is not a boolean) and
duplicate keys are errors.

The reading itself (PyYAML) is in :mod:`.yaml_parse`, imported at the first read: a process that opens a
cached app (dsl/cache.py) unpickles its documents without importing PyYAML.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DefinitionError

PathT = tuple[str | int, ...]

MAX_DEPTH = 100  # nesting of mappings and lists in one document
MAX_VALUES = 10_000  # values of one document, counting each use of an alias (no "billion laughs")


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


def parse_documents(text: str, file: str) -> list[SourceDoc]:
    """Parse YAML ``text`` (possibly several ``---`` documents) into located documents."""
    from .yaml_parse import parse_documents as parse

    return parse(text, file)


def load_documents(path: str | Path, display: str | None = None) -> list[SourceDoc]:
    """Read and parse a YAML file; errors name ``display`` (default: the path)."""
    from .yaml_parse import load_documents as load

    return load(path, display)
