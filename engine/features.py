"""``app.features``: each extension's runtime object by name, some built at their first lookup.

An extension whose runtime only serves explicit calls (an intake, an allocation, a dataset...) installs it as
:class:`Later`: opening an app (e.g. for one ``ordo get``) then neither imports its modules nor compiles its
definitions; the first ``app.features[name]`` (or ``.get``) builds it, once. Its package exports its names
through :func:`lazy_export`, so importing the package (extension discovery) imports none of them.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any


class Later:
    """A runtime object made by ``build()`` at its first lookup in :class:`Features` (once, under a lock)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build
        self.lock = threading.Lock()


class Features(dict[str, Any]):
    """Extension name -> its runtime object; an entry stored as a :class:`Later` is built at its first lookup."""

    def __getitem__(self, name: str) -> Any:
        found = dict.__getitem__(self, name)
        if type(found) is not Later:
            return found
        with found.lock:
            current = dict.__getitem__(self, name)
            if current is found:
                current = found.build()
                dict.__setitem__(self, name, current)
            return current

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[name] if name in self else default


def lazy_export(package: str, exports: Mapping[str, str], name: str) -> Any:
    """A package's ``__getattr__``: the name from its module (``exports``: name -> relative module), imported
    at the first use."""
    module = exports.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, package), name)
