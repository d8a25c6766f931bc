"""Scenario definitions: a scripted walk through an app, step by step, in YAML.

A scenario is what ``ordo run APP NAME`` (and ``ordo demo``) plays: say something
to the reader, generate or import data, create and change records, move the
clock, run the worker, act on flow tasks, allocate, show queries and reports.
Each step is a mapping with one action key; ``as: var`` keeps the step's result
and ``$var`` / ``$var.field`` in later string values refer to it.

    name: order_to_cash
    steps:
      - say: "1. Two channels deliver orders"
      - import: {intake: orders, file: samples/shop.csv, channel: SHOP}
      - query: {entity: ticket, where: "state == 'open'", columns: [name, title]}
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from .base import Definition, Label, Model, register_kind
from .check import CheckContext


class SayStep(Model):
    say: Label


class CreateStep(Model):
    create: str = Field(description="Entity")
    data: dict[str, Any]
    user: str | None = None


class UpdateStep(Model):
    update: str = Field(description="Entity")
    record: str | int | None = Field(default=None, description="The record (id or name)")
    where: str | None = Field(default=None, description="Or: every record matching this filter")
    params: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any]
    user: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> UpdateStep:
        if (self.record is None) == (self.where is None):
            raise ValueError("an update step needs either 'record' or 'where'")
        return self


class QueryStep(Model):
    query: str = Field(description="Entity")
    where: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    columns: list[str] | None = None
    order_by: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    title: Label | None = None
    user: str | None = None


class SeedStep(Model):
    seed: str = Field(description="Folder of the app with <entity>.yaml|json record lists (fixtures)")
    order: list[str] = Field(default_factory=list, description="Entities to load first")
    user: str | None = None


class GrantStep(Model):
    grant: str = Field(description="User name (created when missing)")
    roles: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    attrs: dict[str, Any] | None = None


class ClockStep(Model):
    clock: dict[Literal["advance", "set"], str] = Field(description="advance: 2h / 3d / 30m, or set: ISO date-time")


class WorkerStep(Model):
    worker: dict[str, Any] = Field(default_factory=dict, description="Run due jobs and deliver notifications")


class ImportStep(Model):
    import_: str = Field(alias="import", description="Intake name")
    file: str = Field(description="Path relative to the app folder, or builtin:PACK/path of a file shipped in a "
                                  "template pack")
    channel: str | None = None
    user: str | None = None


class GenerateStep(Model):
    generate: str = Field(description="Dataset name")
    seed: int | str | None = None
    scale: float | None = Field(default=None, gt=0)
    user: str | None = None


class ReportStep(Model):
    report: str
    params: dict[str, Any] = Field(default_factory=dict)
    materialize: bool = Field(default=False, description="Write the rows into the report's 'materialize.into' "
                                                         "entity instead of printing them")
    title: Label | None = None
    user: str | None = None


class FlowStep(Model):
    flow: Literal["start", "approve", "reject", "act"] = Field(description="What to do")
    name: str | None = Field(default=None, description="Flow name (start)")
    entity: str | None = None
    record: str | int | None = None
    action: str | None = Field(default=None, description="Human action for 'act' (approve, reject, ...)")
    user: str | None = None
    comment: str | None = None
    all: bool = Field(default=False, description="Act on every open task of the record the user may act on "
                                                 "(without 'record': every open task of the user)")


class AllocateStep(Model):
    allocate: str = Field(description="Allocation rule")
    record: str | int
    release: bool = False
    consume: bool = False
    user: str | None = None


STEPS: dict[str, type[Model]] = {
    "say": SayStep, "create": CreateStep, "update": UpdateStep, "query": QueryStep, "clock": ClockStep,
    "worker": WorkerStep, "seed": SeedStep, "grant": GrantStep, "import": ImportStep, "generate": GenerateStep, "report": ReportStep,
    "flow": FlowStep, "allocate": AllocateStep,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``30m``, ``4h``, ``2d``, ``1w``; raise ValueError otherwise."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30m, 4h, 2d, 1w)")
    return float(m.group(1)) * {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


def step_kind(step: dict[str, Any]) -> str | None:
    """The action of a step: its first key."""
    first = next(iter(step), None)
    return first if first in STEPS else None


@register_kind
class ScenarioDef(Definition):
    """A scripted sequence of steps played by ``ordo run``."""

    kind_name = "scenario"
    folder = "scenarios"

    kind: Literal["scenario"] = "scenario"
    title: Label | None = None
    user: str = Field(default="admin", description="Acting user of steps that name none")
    steps: list[dict[str, Any]] = Field(min_length=1)

    def parsed_steps(self) -> list[tuple[str, Model, str | None]]:
        """(kind, validated step, result variable) for every step (after ``check`` passed)."""
        out = []
        for step in self.steps:
            body = {k: v for k, v in step.items() if k != "as"}
            kind = step_kind(body) or ""
            out.append((kind, STEPS[kind].model_validate(body), step.get("as")))
        return out

    def check(self, ctx: CheckContext) -> None:
        for i, step in enumerate(self.steps):
            kind = step_kind(step)
            if kind is None:
                ctx.error(("steps", i), f"a step starts with its action ({', '.join(STEPS)}), "
                                        f"found '{next(iter(step), '')}'")
                continue
            body = {k: v for k, v in step.items() if k != "as"}
            try:
                parsed = STEPS[kind].model_validate(body)
            except ValidationError as e:
                for err in e.errors():
                    loc = [p for p in err["loc"] if isinstance(p, (str, int))]
                    msg = err["msg"].removeprefix("Value error, ")
                    if err["type"] == "extra_forbidden":
                        msg = f"unknown key '{loc[-1]}' for a {kind} step"
                    ctx.error(("steps", i, *loc[:1]), msg, key=err["type"] == "extra_forbidden")
                continue
            self._refs(ctx, i, kind, parsed)

    def _refs(self, ctx: CheckContext, i: int, kind: str, step: Any) -> None:
        path = ("steps", i, kind)
        if kind in ("create", "update", "query"):
            ctx.ref(path, "entity", getattr(step, kind))
        elif kind == "seed" and ctx.app.root is not None and not (ctx.app.root / step.seed).is_dir():
            ctx.error(path, f"no folder '{step.seed}' in the app")
        elif kind == "import" and "intake" in _kinds():
            ctx.ref(path, "intake", step.import_)
        elif kind == "generate" and "dataset" in _kinds():
            ctx.ref(path, "dataset", step.generate)
        elif kind == "report" and "report" in _kinds():
            ctx.ref(path, "report", step.report)
        elif kind == "allocate" and "allocation" in _kinds():
            ctx.ref(path, "allocation", step.allocate)
        elif kind == "clock":
            for how, value in step.clock.items():
                if how == "advance":
                    try:
                        parse_duration(value)
                    except ValueError as e:
                        ctx.error(path, str(e))
        elif kind == "flow" and step.flow == "start" and "flow" in _kinds() and step.name:
            ctx.ref(("steps", i, "name"), "flow", step.name)


def _kinds() -> dict[str, Any]:
    from .base import KINDS

    return KINDS
