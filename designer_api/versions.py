"""The definitions and Apps of what a server does not serve: the draft, and published versions other than the
served one. The designer simulates and previews on them; one :class:`Versions` per served app (``Live.versions``).

* ``loaded(ref)``: a version's (or the draft's) files, their definition (None when they do not load) and
  errors, loaded and validated once per content (by the digest of the files).
* ``app(ref, served)``: an App running that version on the served App's database and clock, never syncing its
  schema (nothing is written by a preview or a simulation), with the **served version's authority**
  (``App(authority=...)``): the roles, row rules, field rules and report grants of the published version apply
  to the acting user, never the draft's own, and the draft's expressions read only what that user may read.
  A designer who adds a role, widens a row rule or unhides a field in the draft sees nothing more through a
  preview or a simulation than the published version shows them; publishing (audited) is what changes that.

The last few are kept, by content, in a bounded cache under a lock (requests run in a thread pool).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ordo.dsl.app import AppDefinition
from ordo.dsl.errors import DefinitionError, DefinitionErrors
from ordo.dsl.files import digest, load_files
from ordo.engine.app import App
from ordo.engine.definitions import DefinitionStore

KEEP = 8  # loaded definitions and Apps kept (the draft changes with every save: older contents go)
T = TypeVar("T")


@dataclass(frozen=True)
class Loaded:
    """A version's files, their definition (None when they do not load) and its errors."""

    files: dict[str, str]
    key: str  # digest of the files
    definition: AppDefinition | None
    errors: list[DefinitionError]


class Versions:
    """Loaded versions and their Apps, kept by content (see the module docstring)."""

    def __init__(self, store: DefinitionStore, keep: int = KEEP) -> None:
        self.store = store
        self.keep = keep
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def loaded(self, ref: int | str = "draft") -> Loaded:
        """The files of version ``ref`` (default: the draft) loaded and validated, once per content."""
        files = self.store.files(ref)
        key = digest(files)

        def build() -> Loaded:
            try:  # the files read above (not read again: the draft may change meanwhile)
                return Loaded(files, key, load_files(files, label=self.store.label, root=self.store.root), [])
            except DefinitionErrors as e:
                return Loaded(files, key, None, list(e.errors))

        return self._cached(("definition", key), build)

    def app(self, ref: int | str, served: App) -> App:
        """The App of version ``ref`` (or the draft) with ``served``'s authority; ``served`` itself when
        ``ref`` is the version it serves. DefinitionErrors when that version does not load."""
        number = self.store.number(ref)
        authority = served.features.get("definitions")
        if number == authority:
            return served
        loaded = self.loaded(number)
        definition = loaded.definition
        if definition is None:
            raise DefinitionErrors(loaded.errors)
        return self._cached(("app", loaded.key, authority), lambda: App(
            definition, engine=served.engine, clock=served.clock, sync=False, check=False,
            authority=served.definition))

    def _cached(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        value = build()  # outside the lock: a slow build does not hold up other requests
        with self._lock:
            value = self._cache.setdefault(key, value)  # a build another request finished first wins
            self._cache.move_to_end(key)
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        return value
