"""Load an app folder: read every YAML file, validate every definition, check
cross-references, and report all errors at once as ``file:line:column``.

Layout: ``app.yaml`` plus definition files in kind folders (``entities/``,
``flows/``, ``rules/``, ``reports/``, ``forms/``) and ``roles.yaml``. A file may
hold several definitions (a YAML list or ``---`` documents); a ``kind:`` key
names the kind where the folder does not.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import kinds  # noqa: F401 - registers every definition kind
from .app import AppDefinition, AppManifest, Located
from .base import KINDS, Definition
from .errors import DefinitionError, DefinitionErrors
from .load_errors import pydantic_errors, salvage
from .merge import annotate
from .overlay import (
    DEF_DIRECTIVES,
    REMOVE_KEYS,
    BaseRef,
    MergedDoc,
    OverlayInfo,
    located_tree,
    merge_definition,
    version_key,
)
from .yaml_source import SourceDoc, load_documents, parse_documents

BUILTIN_PREFIX = "builtin:"


def definition_folders() -> set[str]:
    """The folders of an app whose YAML files hold definitions (besides the app's top level)."""
    return {cls.folder for cls in KINDS.values()} | {"rules", "definitions"}


def is_definition_file(rel: Path) -> bool:
    """Whether the loader reads the file at ``rel`` (relative to the app folder), as it reads a folder:
    ``*.yaml`` / ``*.yml`` at the top level (but ``app.yaml``) or anywhere under a kind folder."""
    if rel.suffix not in (".yaml", ".yml") or not rel.parts:
        return False
    if len(rel.parts) == 1:
        return rel.name not in ("app.yaml", "app.yml")
    return rel.parts[0] in definition_folders()


def builtin_templates_dir() -> Path:
    """Folder of the template packs shipped with Ordo."""
    return Path(str(resources.files("ordo.builtin_templates")))


def resolve_app_path(path: str | Path) -> Path:
    """An app folder from a path or ``builtin:NAME``."""
    s = str(path)
    if s.startswith(BUILTIN_PREFIX):
        return builtin_templates_dir() / s[len(BUILTIN_PREFIX):]
    return Path(s)


def resolve_data_path(path: str | Path, base: Path | None = None) -> Path:
    """A data file (a payload to import, a scenario's file): ``builtin:PACK/sub/file`` is a file shipped
    inside a template pack (e.g. ``builtin:oms/samples/shop_orders.csv``); a relative path is taken
    from ``base`` when given (a scenario's app folder), else from the current directory.

    Raises ValueError for a ``builtin:`` path that leaves the shipped template packs."""
    s = str(path)
    if s.startswith(BUILTIN_PREFIX):
        packs = builtin_templates_dir().resolve()
        found = (packs / s[len(BUILTIN_PREFIX):]).resolve()
        if not found.is_relative_to(packs) or found == packs:
            raise ValueError(f"{s!r} is not a file of a shipped template pack (builtin:PACK/path/to/file)")
        return found
    p = Path(s)
    return base / p if base is not None and not p.is_absolute() else p


class AppLoader:
    """Reads one app folder (and the apps it extends) into an AppDefinition."""

    def __init__(self) -> None:
        self.errors: list[DefinitionError] = []
        self.display_base: Path | None = None  # files are shown relative to this folder (default: the app's parent)
        # the texts of the top-level app's files when they come from memory (see dsl/files.py), by full path
        self.memory: dict[Path, str] | None = None
        self.memory_root: Path | None = None  # the folder those files stand for

    def load(self, path: str | Path, _chain: tuple[Path, ...] = ()) -> AppDefinition | None:
        root = resolve_app_path(path)
        manifest_file = root / "app.yaml"
        in_memory = self.memory is not None and root == self.memory_root
        if not (manifest_file in self.memory if in_memory else manifest_file.is_file()):  # type: ignore[operator]
            self.errors.append(DefinitionError(f"not an Ordo app: {manifest_file} not found", file=str(root)))
            return None
        manifest = self._manifest(manifest_file)
        if manifest is None:
            return None
        app = AppDefinition(manifest, root)
        ref = BaseRef.of(manifest.extends)
        if ref is not None and not self._extend(app, root, manifest_file, ref, _chain):
            return None
        own: set[tuple[str, str]] = set()
        for file in self._definition_files(root):
            self._load_file(app, root, file, own)
        if app.overlay is not None:
            app.overlay.own = set(own)
        if app.overlay is not None and app.overlay.behind:
            from .upgrade import conflicts

            app.overlay.conflicts = conflicts(app, self)
            app.overlay.conflict_errors = [c.error() for c in app.overlay.conflicts]
            self.errors.extend(app.overlay.conflict_errors)
        return app

    def _extend(self, app: AppDefinition, root: Path, manifest_file: Path, ref: BaseRef,
                chain: tuple[Path, ...]) -> bool:
        """Load the base ``ref`` names and start ``app`` from its definitions."""
        base_path = (resolve_app_path(ref.pack) if ref.pack.startswith(BUILTIN_PREFIX)
                     else (root / ref.pack).resolve())
        if base_path.resolve() in chain or base_path.resolve() == root.resolve():
            self.errors.append(DefinitionError("'extends' forms a cycle", file=str(manifest_file)))
            return False
        base = self.load(base_path, (*chain, root.resolve()))
        if base is None:
            return False
        app.overlay = OverlayInfo(ref, base_path, base.version, base)
        if ref.version is not None and version_key(ref.version) > version_key(base.version):
            self.errors.append(DefinitionError(
                f"extends {ref.pack} version {ref.version}, but the installed {ref.pack} is version "
                f"{base.version} (older): install the newer pack or pin {base.version}", file=str(manifest_file)))
        for kind_items in base.items.values():
            for loc in kind_items.values():
                app.add(Located(loc.definition, loc.source, loc.base, loc.origin if loc.origin != "app"
                                else base.name))
        return True

    def _manifest(self, file: Path) -> AppManifest | None:
        try:
            docs = self._documents(file, str(file) if self.memory is None else self._display(file.parent, file))
        except DefinitionError as e:
            self.errors.append(e)
            return None
        if len(docs) != 1 or not isinstance(docs[0].data, dict):
            self.errors.append(DefinitionError("app.yaml must be one mapping (name, version, ...)", file=str(file)))
            return None
        try:
            return AppManifest.model_validate(docs[0].data)
        except ValidationError as e:
            self.errors.extend(pydantic_errors(e, docs[0], (), docs[0].data, AppManifest))
            return None

    def _documents(self, file: Path, display: str) -> list[SourceDoc]:
        if self.memory is not None and file in self.memory:
            return parse_documents(self.memory[file], display)
        return load_documents(file, display)

    def _display(self, root: Path, file: Path) -> str:
        shown_from = self.display_base if self.display_base in file.parents else root.parent
        return str(file.relative_to(shown_from)) if shown_from in file.parents else str(file)

    def _definition_files(self, root: Path) -> list[Path]:
        if self.memory is not None and root == self.memory_root:
            rels = sorted((p.relative_to(root) for p in self.memory), key=lambda r: (len(r.parts) > 1, r.parts))
            return [root / r for r in rels if is_definition_file(r)]
        folders = definition_folders()
        files = [p for p in root.glob("*.y*ml") if p.name not in ("app.yaml", "app.yml")]
        for folder in sorted(folders):
            d = root / folder
            if d.is_dir():
                files.extend(sorted(p for p in d.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")))
        return files

    def _default_kind(self, root: Path, file: Path) -> str | None:
        rel = file.relative_to(root)
        if len(rel.parts) == 1:
            return "role" if file.stem == "roles" else None
        matches = [k for k, cls in KINDS.items() if cls.folder == rel.parts[0]]
        return matches[0] if len(matches) == 1 else None

    def _load_file(self, app: AppDefinition, root: Path, file: Path, own: set) -> None:
        display = self._display(root, file)
        try:
            docs = self._documents(file, display)
        except DefinitionError as e:
            self.errors.append(e)
            return
        default_kind = self._default_kind(root, file)
        for doc in docs:
            for base, data in self._entries(doc, default_kind):
                self._load_definition(app, doc, base, data, default_kind, own)

    def _entries(self, doc: SourceDoc, default_kind: str | None):
        data = doc.data
        if isinstance(data, list):
            for i, item in enumerate(data):
                yield (i,), item
        elif isinstance(data, dict) and default_kind == "role" and set(data) == {"roles"}:
            roles = data["roles"]
            if not isinstance(roles, dict):
                self.errors.append(doc.error(("roles",), "'roles' must map role names to settings"))
                return
            for name, body in roles.items():
                body = dict(body or {}) if isinstance(body, dict) or body is None else body
                if isinstance(body, dict):
                    body.setdefault("name", name)
                    body.setdefault("kind", "role")
                yield ("roles", name), body
        else:
            yield (), data

    def _load_definition(self, app: AppDefinition, doc: SourceDoc, base: tuple, data: Any,
                         default_kind: str | None, own: set) -> None:
        if not isinstance(data, dict):
            self.errors.append(doc.error(base, "a definition must be a mapping of keys to values"))
            return
        kind = data.get("kind", default_kind)
        if kind is None:
            self.errors.append(doc.error(base, f"missing 'kind' (one of: {', '.join(KINDS)})"))
            return
        cls = KINDS.get(kind)
        if cls is None:
            close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(KINDS)})"
            self.errors.append(doc.error((*base, "kind"), f"unknown kind '{kind}'{hint}"))
            return
        data = {**data, "kind": kind}
        shown = (kind, data.get("name", "?"))
        name = data.get("name")
        if isinstance(name, str) and app.overlay is not None and (kind, name) not in own \
                and app.located(kind, name) is not None:
            merged = self._overlay(app, doc, base, data, kind, name, own)
            if merged is None:
                return
            doc, base, data = merged
        elif isinstance(name, str) and app.overlay is not None and any(data.get(k) is True for k in DEF_DIRECTIVES):
            self.errors.append(doc.error((*base, "name"), f"{kind} '{name}' is not in the base "
                                         f"{app.overlay.ref.pack}: nothing to remove, disable or replace"))
            return
        try:
            definition: Definition = cls.model_validate(data)
        except ValidationError as e:
            self.errors.extend(pydantic_errors(e, doc, base, data, cls, shown))
            repaired = salvage(cls, data, e)
            if repaired is None:
                if isinstance(data.get("name"), str):
                    app.broken.add((kind, data["name"]))
                return
            definition, dropped = repaired
            app.partial[(kind, definition.name)] = dropped
        key = (kind, definition.name)
        if key in own:
            self.errors.append(doc.error((*base, "name"), f"{kind} '{definition.name}' is defined twice"))
            return
        own.add(key)
        app.add(Located(definition, doc, base))


    def _overlay(self, app: AppDefinition, doc: SourceDoc, base: tuple, data: dict, kind: str, name: str,
                 own: set) -> tuple[SourceDoc, tuple, dict] | None:
        """An overlay's definition of a base definition: merged onto it (None: removed or not mergeable)."""
        info: OverlayInfo = app.overlay
        key = (kind, name)
        over = annotate(doc, base, data, app.name)
        info.changed[key] = over
        if any(data.get(k) is True for k in REMOVE_KEYS):
            info.removed[key] = over
            own.add(key)
            app.remove(kind, name)
            return None
        if data.get("replace") is True:
            info.replaced.add(key)
            return doc, base, {k: v for k, v in data.items() if k != "replace"}
        located = app.located(kind, name)
        tree = located_tree(located.source, located.base, located.origin)
        if tree is None:
            return doc, base, data
        merged, errors = merge_definition(kind, tree, over)
        self.errors.extend(errors)
        mdoc = MergedDoc.of(merged, doc.file)
        return mdoc, (), mdoc.data


_LOADED: OrderedDict[str, AppDefinition] = OrderedDict()  # content fingerprint -> checked definitions
_LOADED_MAX = 16
_EXTENDS = re.compile(r"^extends:[ \t]*(?:\{[^}]*?pack:\s*)?['\"]?([^'\",}\s#]+)", re.MULTILINE)
_PACK = re.compile(r"^\s+pack:\s*['\"]?([^'\",}\s#]+)", re.MULTILINE)


def fingerprint(path: str | Path, _seen: frozenset[Path] = frozenset()) -> str | None:
    """A digest of every YAML file of the app at ``path`` and of the apps it extends (None: unknown)."""
    root = resolve_app_path(path)
    manifest = root / "app.yaml"
    if not manifest.is_file() or root.resolve() in _seen:
        return None
    digest = hashlib.sha256()
    try:
        files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
        base = extended(manifest.read_text(encoding="utf-8", errors="replace"), root)
    except OSError:
        return None
    if base is not None:
        inner = fingerprint(base, _seen | {root.resolve()})
        if inner is None:
            return None
        digest.update(inner.encode())
    return digest.hexdigest()


def extended(manifest: str, root: Path) -> str | Path | None:
    """The app the manifest text ``manifest`` of the app at ``root`` extends (``builtin:NAME`` or a
    folder), None when it extends none."""
    found = _EXTENDS.search(manifest)
    if found is None and re.search(r"^extends:", manifest, re.MULTILINE):
        found = _PACK.search(manifest)  # extends: written as a block mapping (pack: ..., version: ...)
    if found is None:
        return None
    target = found.group(1)
    return target if target.startswith(BUILTIN_PREFIX) else (root / target).resolve()


def load_app(path: str | Path) -> AppDefinition:
    """Load and fully check an app; raise :class:`DefinitionErrors` listing every problem.

    Checked definitions are kept per process by the content of their files, so opening the same app
    again (tests, several App objects, a server's workers' reloads) neither re-parses nor re-checks it;
    and on disk (dsl/cache.py), so that a new process (a command) does not either."""
    from . import cache

    key = fingerprint(path)
    if key is not None and key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    cached = cache.load(cache.place_of(path), key) if key is not None else None
    if cached is not None:
        _keep(key, cached)
        return cached
    loader = AppLoader()
    app = loader.load(path)
    errors = list(loader.errors)
    if app is not None:
        errors.extend(app.check())
    if errors or app is None:
        raise DefinitionErrors(errors)
    if key is not None:
        _keep(key, app)
        cache.store(cache.place_of(path), key, app)
    return app


def _keep(key: str, app: AppDefinition) -> None:
    _LOADED[key] = app
    if len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)


def validate_app(path: str | Path) -> list[DefinitionError]:
    """Every problem of the app at ``path`` (empty when valid)."""
    try:
        load_app(path)
    except DefinitionErrors as e:
        return e.errors
    return []
