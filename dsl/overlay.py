"""Overlays: an app that ``extends`` a base holds only its differences, merged onto the base's definitions.

* :class:`MergedDoc` is the source of a merged definition: a :class:`SourceDoc` whose every value
  remembers the file and line it came from, so validation and cross-reference errors point at the base
  pack's file or the overlay's file, whichever wrote the value.
* :func:`merge_definition` merges one overlay definition (raw YAML) onto the base's located definition,
  with the rules of :mod:`dsl.merge`; definition-level keys: ``remove: true`` / ``disabled: true`` (the
  definition leaves the app), ``replace: true`` (the overlay's definition replaces the base's whole).
* :class:`BaseRef` is what ``extends:`` names: a pack (``builtin:oms`` or a folder) and the version the
  overlay was written against; older versions of a pack are kept in its ``versions/<version>/`` folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DefinitionError
from .merge import Merger, Node, Origin, annotate, clone, plain, walk
from .yaml_source import PathT, Pos, SourceDoc

REMOVE_KEYS = ("remove", "disabled")
DEF_DIRECTIVES = (*REMOVE_KEYS, "replace")
VERSIONS_DIR = "versions"


@dataclass
class MergedDoc(SourceDoc):
    """A merged definition: its data, and for each value the document and path it was read from."""

    tree: Node | None = None
    origins: dict[PathT, Origin] = field(default_factory=dict)

    @classmethod
    def of(cls, tree: Node, file: str) -> MergedDoc:
        doc = cls(file, plain(tree), tree=tree)
        doc.origins = {path: node.origin for path, node in walk(tree)}
        return doc

    def origin(self, path: PathT) -> tuple[Origin, PathT]:
        """The origin of ``path`` (or of its nearest located ancestor) and the part of ``path`` below it."""
        p = tuple(path)
        while p not in self.origins and p:
            p = p[:-1]
        o = self.origins.get(p) or next(iter(self.origins.values()))
        return o, tuple(path)[len(p):]

    def pos(self, path, *, key: bool = False) -> Pos:
        o, rest = self.origin(path)
        return o.doc.pos((*o.path, *rest), key=key)

    def file_at(self, path) -> str:
        return self.origin(path)[0].doc.file

    def error(self, path, message: str, *, key: bool = False, shown_path=None) -> DefinitionError:
        o, rest = self.origin(path)
        return o.doc.error((*o.path, *rest), message, key=key, shown_path=tuple(path if shown_path is None
                                                                                 else shown_path))

    def text_position(self, path, line: int, column: int) -> tuple[int, int]:
        o, rest = self.origin(path)
        return o.doc.text_position((*o.path, *rest), line, column)


def located_tree(source: SourceDoc | None, base: PathT, layer: str) -> Node | None:
    """The located tree of a definition read from ``source`` at ``base`` (None: built in Python)."""
    if source is None:
        return None
    if isinstance(source, MergedDoc) and source.tree is not None:
        return clone(source.tree)
    data: Any = source.data
    for part in base:
        data = data[part]
    return annotate(source, base, data, layer)


def directive(data: dict, key: str) -> bool:
    return data.get(key) is True


def merge_definition(kind: str, base: Node, over: Node) -> tuple[Node, list[DefinitionError]]:
    """The overlay definition ``over`` merged onto ``base`` (both located trees), and the merge errors."""
    merger = Merger(kind, str(plain(over.value["name"])) if "name" in over.value else "", over.origin.path)
    body = Node({k: v for k, v in over.value.items() if k not in DEF_DIRECTIVES}, over.origin)
    merged = merger.merge(clone(base), body)
    start = merged.get("start")
    for new, anchor, origin in merger.inserted_before:  # a node inserted before the start node starts the flow
        if start is not None and start.value == anchor and "start" not in over.value:
            merged.value["start"] = start = Node(new, origin)
    return merged, merger.errors


# -- what ``extends`` names ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BaseRef:
    """The base of an overlay: a pack and the version the overlay was written against (None: not pinned)."""

    pack: str
    version: str | None = None

    @classmethod
    def of(cls, extends: Any) -> BaseRef | None:
        if extends is None:
            return None
        if isinstance(extends, str):
            return cls(extends)
        return cls(extends.pack, None if extends.version is None else str(extends.version))


def pack_versions(root: Path) -> list[str]:
    """The older versions a pack ships (its ``versions/<version>/`` folders), oldest first."""
    d = root / VERSIONS_DIR
    if not d.is_dir():
        return []
    return sorted((p.name for p in d.iterdir() if (p / "app.yaml").is_file()), key=version_key)


def version_key(v: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(v).replace("-", ".").split("."))


def same_version(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and version_key(a) == version_key(b)


def version_folder(root: Path, current: str, version: str) -> Path | None:
    """The folder of ``version`` of the pack at ``root`` whose current version is ``current``."""
    if same_version(current, version):
        return root
    for v in pack_versions(root):
        if same_version(v, version):
            return root / VERSIONS_DIR / v
    return None


@dataclass
class OverlayInfo:
    """What the loader learnt about an overlay: its base, the base's versions and the overlay's changes."""

    ref: BaseRef
    base_root: Path
    base_version: str  # the version of the base the app is merged onto (the pack's current version)
    base: Any = None  # AppDefinition of the base (unchecked)
    changed: dict[tuple[str, str], Node] = field(default_factory=dict)  # overlay trees by (kind, name)
    added: set[tuple[str, str]] = field(default_factory=set)
    removed: dict[tuple[str, str], Node] = field(default_factory=dict)
    replaced: set[tuple[str, str]] = field(default_factory=set)
    own: set[tuple[str, str]] = field(default_factory=set)  # every definition the overlay's files hold
    conflicts: list[Any] = field(default_factory=list)  # dsl.upgrade.Conflict
    conflict_errors: list[DefinitionError] = field(default_factory=list)

    @property
    def behind(self) -> bool:
        return self.ref.version is not None and not same_version(self.ref.version, self.base_version)
