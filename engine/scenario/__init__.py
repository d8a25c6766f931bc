"""Scenarios: play a YAML walkthrough of an app (``ordo run``, ``ordo demo``)."""

from .runner import ScenarioResult, ScenarioRunner, run_scenario

__all__ = ["ScenarioResult", "ScenarioRunner", "run_scenario"]
