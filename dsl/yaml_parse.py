"""The YAML reading of :mod:`.yaml_source` (PyYAML): every value's position kept, mapping keys as strings,
duplicate keys and runaway nesting or aliases refused. Imported at the first read (see yaml_source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import DefinitionError
from .yaml_source import MAX_DEPTH, MAX_VALUES, PathT, Pos, SourceDoc


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
