"""Demand-to-supply allocation with atomic reservation (``allocation`` rules).

``install(app)`` keeps the service in ``app.features["allocation"]``, built (every allocation rule
compiled once) at its first lookup::

    with app.transaction("alice") as tx:
        result = app.features["allocation"].allocate(tx, "fulfil", record_id, explain=True)
        print(result.explain_text())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..features import Later, lazy_export

if TYPE_CHECKING:
    from ..app import App

__all__ = ["Allocated", "AllocationResult", "Allocator", "LineResult", "install"]

# imported at their first use (see engine/features.py): opening an app imports none of them
_EXPORTS = {"Allocated": ".result", "AllocationResult": ".result", "LineResult": ".result",
            "Allocator": ".runtime"}


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)


def install(app: App) -> None:
    def runtime() -> Any:  # the rules compiled at the first allocation or lookup
        from .runtime import Allocator

        return Allocator(app)

    app.features["allocation"] = Later(runtime)
