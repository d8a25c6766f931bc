"""The designer pages' view of an app's stored definitions: the draft's files, its definition and errors,
and an App on the draft for what runs it before publishing (simulate, previews).

Everything goes through the definition store (``engine/definitions``: draft, versions, publish); this module
only adds what pages need on top, built once per draft content: the loaded draft (``draft_definition``)
and an App bound to the live database that runs the draft's definitions (``draft_app``), never syncing
its schema (nothing is written by a preview or a simulation).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ordo.dsl.base import humanize, label_text
from ordo.dsl.errors import DefinitionError, DefinitionErrors
from ordo.dsl.files import load_files

from ..errors import ApiError

_CACHE: OrderedDict[tuple[int, str, str], Any] = OrderedDict()
_LOCK = threading.Lock()
_KEEP = 8


def store(app: Any) -> Any:
    """The definition store of ``app``'s database."""
    from ordo.engine.definitions import DefinitionStore

    return DefinitionStore(app.engine, root=app.definition.root, label=app.name, clock=app.clock)


def fingerprint(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return h.hexdigest()


def _cached(app: Any, what: str, key: str, build: Any) -> Any:
    k = (id(app.engine), what, key)
    with _LOCK:
        if k in _CACHE:
            _CACHE.move_to_end(k)
            return _CACHE[k]
    value = build()
    with _LOCK:
        _CACHE[k] = value
        while len(_CACHE) > _KEEP:
            _CACHE.popitem(last=False)
    return value


@dataclass
class Draft:
    """The draft as pages use it: its files, its definition (None when it does not load) and errors."""

    files: dict[str, str]
    key: str
    definition: Any
    errors: list[DefinitionError]


def draft(app: Any) -> Draft:
    """The current draft of ``app``, loaded and validated once per content."""
    st = store(app)
    files = st.draft()
    key = fingerprint(files)

    def build() -> Draft:
        try:  # the files read above, loaded once (not read again: the draft may change meanwhile)
            return Draft(files, key, load_files(files, label=st.label, root=st.root), [])
        except DefinitionErrors as e:
            return Draft(files, key, None, list(e.errors))

    return _cached(app, "draft", key, build)


def published_definition(app: Any) -> Any:
    """The published version's definition (None before the first publish)."""
    st = store(app)
    number = st.published()
    if number is None:
        return None
    return _cached(app, "version", str(number), lambda: st.definition(number))


def draft_app(app: Any, d: Draft) -> Any:
    """An App running the draft's definitions on ``app``'s database (schema not synced, nothing written)."""
    if d.definition is None:
        raise ApiError(400, "invalid_definition", "; ".join(str(e) for e in d.errors[:5])
                       or "the draft does not load")
    from ordo.engine.app import App

    return _cached(app, "app", d.key, lambda: App(d.definition, engine=app.engine, sync=False, check=False,
                                                 clock=app.clock))


def file_of(definition: Any, kind: str, name: str) -> str | None:
    """The file (relative path) a definition was read from."""
    located = definition.located(kind, name) if definition is not None else None
    if located is None or located.source is None:
        return None
    return located.source.file


def listing(definition: Any, lang: str) -> list[dict[str, Any]]:
    """Every definition of the app (its own, not its base's): kind, name, label, file; by kind then label."""
    out = []
    if definition is None:
        return out
    for kind, items in definition.items.items():
        for name, located in items.items():
            if located.origin != "app":
                continue
            d = located.definition
            label = getattr(d, "label", None)
            out.append({"kind": kind, "name": name, "label": label_text(label, lang, humanize(name)),
                        "file": located.source.file if located.source else None})
    return sorted(out, key=lambda r: (r["kind"], r["label"].lower()))


def check_path(files: dict[str, str], path: str | None) -> str:
    """``path`` if it names a file of the draft, else a 404 naming it."""
    if not path:
        raise ApiError(400, "bad_request", "name the file: ?path=flows/x.yaml", field="path")
    if path not in files:
        raise ApiError(404, "not_found", f"no file {path!r} in the draft", field="path")
    return path
