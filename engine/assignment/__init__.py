"""Assignment rules: who handles a record or a task (``assignment`` rules, ``calendar`` definitions).

``install(app)`` compiles every rule once and keeps the service in
``app.features["assignment"]``; the flow engine calls
``assign(tx, rule, entity, record)`` to pick approvers::

    with app.transaction("alice") as tx:
        users = app.features["assignment"].assign(tx, "claim_approver", "claim", record)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .people import WorkingCalendar
from .runtime import Assigner

if TYPE_CHECKING:
    from ..app import App

__all__ = ["Assigner", "WorkingCalendar", "install"]


def install(app: App) -> None:
    app.features["assignment"] = Assigner(app)
