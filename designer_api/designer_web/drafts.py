"""The designer pages' view of an app's stored definitions: the draft's files, its definition and errors,
and an App on the draft for what runs it before publishing (simulate, previews).

Everything goes through the server's ``Live`` (designer_api/live.py): its definition store (draft, versions,
publish) and its ``versions`` (designer_api/versions.py), which load the draft once per content and build
the App that runs it with the published version's authority (the draft's own roles never apply). This module
only adds what pages need on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ordo.dsl.base import humanize, label_text
from ordo.dsl.errors import DefinitionErrors

from ..errors import ApiError
from ..versions import Loaded

if TYPE_CHECKING:
    from ordo.engine.app import App
    from ordo.engine.definitions import DefinitionStore

    from ..context import RequestScope
    from ..live import Live

Draft = Loaded  # the draft as pages use it: files, key, definition (None when it does not load), errors


def live(pg: RequestScope) -> Live:
    return pg.request.app.state.live


def store(pg: RequestScope) -> DefinitionStore:
    """The definition store of the app's database."""
    return live(pg).store


def draft(pg: RequestScope) -> Draft:
    """The current draft, loaded and validated once per content."""
    return live(pg).versions.loaded("draft")


def published_definition(pg: RequestScope) -> Any:
    """The published version's definition (None before the first publish or when it does not load)."""
    number = store(pg).published()
    return None if number is None else live(pg).versions.loaded(number).definition


def draft_app(pg: RequestScope) -> App:
    """An App running the draft on the served database with the published version's authority (schema not
    synced, nothing written; see designer_api/versions.py)."""
    try:
        return live(pg).versions.app("draft", pg.app)
    except DefinitionErrors as e:
        raise ApiError(400, "invalid_definition", "; ".join(str(x) for x in e.errors[:5])
                       or "the draft does not load") from None


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
