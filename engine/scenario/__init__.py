"""Scenarios: play a YAML walkthrough of an app (``ordo run``, ``ordo demo``)."""

from typing import Any

from ..features import lazy_export

__all__ = ["ScenarioResult", "ScenarioRunner", "run_scenario"]

# imported at their first use (extension discovery imports this package: see engine/features.py)
_EXPORTS = {"ScenarioResult": ".runner", "ScenarioRunner": ".runner", "run_scenario": ".runner"}


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)
