"""Decision tables at run time (``decision`` definitions, see ``dsl/decision.py``).

``install(app)`` keeps the service in ``app.features["decisions"]``. Tables are compiled once
per loaded app (by the app schema, the same objects ``decide()`` in expressions uses)::

    decisions = app.features["decisions"]
    decisions.decide("approval", {"Age": 18, "RiskCategory": "Low", "isAffordable": True})
    with app.reader("alice") as tx:
        decisions.decide_record(tx, "review_level", "SO-2026-00001", explain=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .runtime import Decisions

if TYPE_CHECKING:
    from ..app import App

__all__ = ["Decisions", "install"]


def install(app: App) -> None:
    app.features["decisions"] = Decisions(app.definition)
