"""Demand-to-supply allocation with atomic reservation (``allocation`` rules).

``install(app)`` compiles every allocation rule once and keeps the service in
``app.features["allocation"]``::

    with app.transaction("alice") as tx:
        result = app.features["allocation"].allocate(tx, "fulfil", record_id, explain=True)
        print(result.explain_text())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .result import Allocated, AllocationResult, LineResult
from .runtime import Allocator

if TYPE_CHECKING:
    from ..app import App

__all__ = ["Allocated", "AllocationResult", "Allocator", "LineResult", "install"]


def install(app: App) -> None:
    app.features["allocation"] = Allocator(app)
