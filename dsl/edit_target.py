"""The definition a flow or form edit is about, found once in a file's text (``flow_edit`` and ``form_edit``).

    t = Target.find(text, "flow", "order_lifecycle", file="flows/order_lifecycle.yaml")
    t.data["nodes"]                          # the definition as round-trip data (positions kept)
    raise t.error("no node 'x'", t.data["nodes"])      # flows/order_lifecycle.yaml:12:3: flow order_lifecycle: ...
    t.apply([t.edit("set", ["nodes", "a", "next"], value="b")])

The text is checked (``parse_documents``: syntax, nesting and alias expansion bounded) and read by ruamel
once; the edits address the definition by document and path, so applying them does not look it up again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .yaml_edit import apply_edits
from .yaml_find import PathT, find_definition
from .yaml_roundtrip import Style, load
from .yaml_source import parse_documents


@dataclass
class Target:
    """One definition (``kind``/``name``) in a file's ``text``: its document, path and data."""

    text: str
    file: str
    kind: str
    name: str
    document: int
    path: PathT
    data: Any

    @classmethod
    def find(cls, text: str, kind: str, name: str, file: str) -> Target:
        """The definition in ``text``; DefinitionError (naming the file) when the text holds none such."""
        parse_documents(text, file)  # bounded before ruamel reads it
        docs = load(text, file, Style.of(text))
        found = find_definition(docs, kind, name, file)
        if found is None:
            raise DefinitionError(f"{kind} '{name}' is not defined in this file", file=file)
        document, path = found
        data = docs[document]
        for part in path:
            data = data[part]
        return cls(text, file, kind, name, document, path, data)

    def line(self, node: Any = None, key: Any = None) -> int | None:
        """The 1-based line of ``key`` in the mapping ``node`` (or of ``node``; default: the definition)."""
        node = self.data if node is None else node
        lc = getattr(node, "lc", None)
        if lc is None:
            return None
        if key is not None:
            try:
                return lc.key(key)[0] + 1
            except (KeyError, TypeError, IndexError):
                pass
        return lc.line + 1 if isinstance(lc.line, int) else None

    def error(self, message: str, node: Any = None, key: Any = None) -> DefinitionError:
        """An error of this definition at the line of ``node`` / ``key`` (default: the definition's)."""
        line = self.line(node, key) or self.line()
        return DefinitionError(f"{self.kind} {self.name}: {message}", file=self.file, line=line)

    def edit(self, op: str, path: Sequence[str | int], **kw: Any) -> dict[str, Any]:
        """An edit of ``path`` inside the definition (see ``yaml_edit.apply_edits``)."""
        return {"op": op, "document": self.document, "path": [*self.path, *path], **kw}

    def apply(self, edits: list[dict[str, Any]]) -> str:
        """The text with ``edits`` applied (all or nothing); the text unchanged when there are none."""
        return apply_edits(self.text, edits, file=self.file, parsed=True) if edits else self.text

    def props(self, path: Sequence[str | int], body: Any, props: Any) -> str:
        """Set properties of the mapping ``body`` at ``path`` (a value of None removes one)."""
        if not isinstance(props, Mapping):
            raise self.error("props must be a mapping of property -> value", body)
        edits = []
        for key, value in props.items():
            if value is None:
                if isinstance(body, Mapping) and key in body:
                    edits.append(self.edit("delete", [*path, key]))
            else:
                edits.append(self.edit("set", [*path, key], value=value))
        return self.apply(edits)
