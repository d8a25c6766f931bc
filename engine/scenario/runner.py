"""Play a scenario definition step by step against an open app.

Each step runs in its own transaction(s) through the public APIs of the engine
and its features; a failing step stops the scenario with the step number and
the reason (nothing of that step is kept). ``$var`` references in string values
are replaced by the results of earlier steps (``as: var``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, TextIO

from ordo.dsl.base import label_text
from ordo.dsl.scenario import ScenarioDef

from ..app import App
from ..errors import NotFound, OrdoError, UsageError
from ..present import SYSTEM_FIELDS, Presenter
from ..textfmt import cell_text
from .output import Printer
from .steps import STEP_HANDLERS

_VAR = re.compile(r"\$([a-z_][a-z0-9_]*)((?:\.(?:[a-z_][a-z0-9_]*|\d+))*)")


@dataclass
class ScenarioResult:
    steps: int = 0
    variables: dict[str, Any] = field(default_factory=dict)


class ScenarioError(OrdoError):
    pass


class ScenarioRunner:
    def __init__(self, app: App, scenario: str, *, out: TextIO | None = None, lang: str = "en",
                 variables: dict[str, Any] | None = None) -> None:
        definition = app.definition.get("scenario", scenario)
        if definition is None:
            known = ", ".join(app.definition.names("scenario")) or "none"
            raise NotFound(f"no scenario '{scenario}' in app {app.name} (scenarios: {known})")
        self.app = app
        self.defn: ScenarioDef = definition
        self.printer = Printer(out, lang)
        self.vars: dict[str, Any] = dict(variables or {})
        self.var_entities: dict[str, str] = {}  # variable -> entity of the record(s) it holds
        if app.clock.fixed is None:  # scenarios move the clock; start from now
            app.clock.fixed = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

    @property
    def lang(self) -> str:
        return self.printer.lang

    def text(self, label: Any) -> str:
        """A label in the scenario's language with ``$var.field`` references replaced by the values
        as people read them (a record's enum field by its option label, a link by its title)."""
        if label is None:
            return ""
        return _VAR.sub(lambda m: self._shown(m.group(1), m.group(2)), label_text(label, self.lang))

    def _shown(self, name: str, attrs: str) -> str:
        value = self._lookup(name, attrs)
        entity = self.var_entities.get(name)
        parts = [a for a in attrs.split(".") if a]
        field = parts[-1] if parts else ""
        ce = self.app.compiled.entities.get(entity or "")
        if ce is None or not (len(parts) == 1 or (len(parts) == 2 and parts[0].isdigit())) \
                or (field not in ce.fields and field not in SYSTEM_FIELDS) or isinstance(value, (list, dict)):
            return str(value)
        with self.app.reader(self.defn.user) as tx:
            shown = Presenter(tx, ce.name, [field], self.lang).text([{field: value}])[0][field]
        return cell_text(shown)

    def role_label(self, role: str) -> str:
        """A role's label in the scenario's language."""
        r = self.app.definition.get("role", role)
        return label_text(r.label, self.lang, role) if r is not None else role

    def entity_label(self, entity: str) -> str:
        """An entity's label in the scenario's language."""
        e = self.app.definition.get("entity", entity)
        return label_text(e.label, self.lang, entity) if e is not None else entity

    def user(self, step: Any) -> str:
        return getattr(step, "user", None) or self.defn.user

    def resolve(self, value: Any) -> Any:
        """Replace ``$var.field`` references (a whole-string reference keeps the value's type)."""
        if isinstance(value, str):
            whole = _VAR.fullmatch(value)
            if whole:
                return self._lookup(whole.group(1), whole.group(2))
            return _VAR.sub(lambda m: str(self._lookup(m.group(1), m.group(2))), value)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def _lookup(self, name: str, attrs: str) -> Any:
        builtins = {"today": self.app.clock.today(), "now": self.app.clock.now()}
        if name not in self.vars and name not in builtins:
            raise UsageError(f"unknown variable ${name} (set one with 'as: {name}' on an earlier step)")
        value = self.vars.get(name, builtins.get(name))
        for attr in filter(None, attrs.split(".")):
            if isinstance(value, list) and attr.isdigit() and int(attr) < len(value):
                value = value[int(attr)]  # $rows.0.name: the first row's name
            elif isinstance(value, dict) and attr in value:
                value = value[attr]
            else:
                raise UsageError(f"${name}{attrs}: no '{attr}'")
        return value

    def run(self) -> ScenarioResult:
        result = ScenarioResult()
        if self.defn.title:
            self.printer.heading(self.text(self.defn.title))
        for i, (kind, step, var) in enumerate(self.defn.parsed_steps(), start=1):
            try:
                value = STEP_HANDLERS[kind](self, step)
            except OrdoError as e:
                raise ScenarioError(f"scenario {self.defn.name}, step {i} ({kind}): {e}") from None
            if var:
                self.vars[var] = value
                entity = getattr(step, kind, None) if kind in ("create", "update", "query") else None
                if isinstance(entity, str):
                    self.var_entities[var] = entity
            result.steps += 1
        result.variables = dict(self.vars)
        return result


def run_scenario(app: App, scenario: str, *, out: TextIO | None = None, lang: str = "en",
                 variables: dict[str, Any] | None = None) -> ScenarioResult:
    return ScenarioRunner(app, scenario, out=out, lang=lang, variables=variables).run()
