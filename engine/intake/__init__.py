"""Channel intake: import payloads (JSON, JSON lines, CSV) through ``intake`` definitions.

    result = app.features["intake"].import_file("alice", "orders", "tmall.json", channel="TMALL")
    result.created, result.duplicates, result.errors  # errors carry line numbers and reasons
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..features import Later, lazy_export

if TYPE_CHECKING:
    from ..app import App

__all__ = ["CompiledIntake", "Duplicate", "IntakeProblem", "IntakeResult", "IntakeRuntime", "MappingError",
           "PayloadError", "install"]

# imported at their first use (see engine/features.py): opening an app imports none of them
_EXPORTS = {"CompiledIntake": ".compiled", "MappingError": ".mapping", "PayloadError": ".readers",
            "Duplicate": ".result", "IntakeProblem": ".result", "IntakeResult": ".result",
            "IntakeRuntime": ".runner"}


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)


def install(app: App) -> None:
    def runtime() -> Any:  # the intakes compiled at the first import or lookup
        from .runner import IntakeRuntime

        return IntakeRuntime(app)

    app.features["intake"] = Later(runtime)
