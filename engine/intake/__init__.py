"""Channel intake: import payloads (JSON, JSON lines, CSV) through ``intake`` definitions.

    result = app.features["intake"].import_file("alice", "orders", "tmall.json", channel="TMALL")
    result.created, result.duplicates, result.errors  # errors carry line numbers and reasons
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .compiled import CompiledIntake
from .mapping import MappingError
from .readers import PayloadError
from .result import Duplicate, IntakeProblem, IntakeResult
from .runner import IntakeRuntime

if TYPE_CHECKING:
    from ..app import App

__all__ = ["CompiledIntake", "Duplicate", "IntakeProblem", "IntakeResult", "IntakeRuntime", "MappingError",
           "PayloadError", "install"]


def install(app: App) -> None:
    app.features["intake"] = IntakeRuntime(app)
