"""Assignment rules (kind ``assignment``, folder ``rules/``): who handles a record or a task.

A rule lists entries tried by priority. The first entry whose condition holds
and that finds someone assigns; entries marked ``also`` add people on top of
earlier matches. Targets are users, roles or groups, resolved when the rule
runs (membership changes apply at once). Users marked unavailable or outside
their working calendar are skipped. ``fallback`` is used when nobody matched.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T

Strategy = Literal["round_robin", "load_balance", "field", "expression", "all"]


class Target(Model):
    """Exactly one of user, role or group."""

    user: str | None = None
    role: str | None = None
    group: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Target:
        if sum(x is not None for x in (self.user, self.role, self.group)) != 1:
            raise ValueError("give exactly one of user, role or group")
        return self


Targets = Target | list[Target]


def target_list(t: Targets | None) -> list[Target]:
    return [] if t is None else (t if isinstance(t, list) else [t])


class EntryDef(Model):
    name: str | None = Field(default=None, description="Names the entry (round-robin turns, explanations)")
    when: str | None = Field(default=None, description="Condition over the record")
    priority: int = Field(default=0, description="Higher is tried first; equal priorities keep the listed order")
    strategy: Strategy = "all"
    to: Targets | None = Field(default=None, description="Who: users, roles or groups")
    by: str | None = Field(default=None, description="field strategy: expression whose value selects in 'map'")
    map: dict[str, Targets] | None = Field(default=None, description="field strategy: value -> who")
    default: Targets | None = Field(default=None, description="field strategy: who when no value matches")
    pick: Literal["all", "round_robin", "load_balance"] = Field(
        default="all", description="field strategy: how to pick among the mapped users")
    users: str | None = Field(default=None, description="expression strategy: user name(s)")
    count: int = Field(default=1, ge=1, description="How many users round_robin / load_balance pick")
    also: bool = Field(default=False, description="Assign in addition to earlier matches")

    @field_validator("map", mode="before")
    @classmethod
    def _keys(cls, v):
        return {str(k).lower() if isinstance(k, bool) else str(k): x for k, x in v.items()} if isinstance(
            v, dict) else v

    @model_validator(mode="after")
    def _settings(self) -> EntryDef:
        s = self.strategy
        if s in ("round_robin", "load_balance", "all") and self.to is None:
            raise ValueError(f"the {s} strategy needs 'to'")
        if s == "field" and (self.by is None or self.map is None):
            raise ValueError("the field strategy needs 'by' and 'map'")
        if s == "expression" and self.users is None:
            raise ValueError("the expression strategy needs 'users'")
        return self


@register_kind
class AssignmentDef(Definition):
    """Who handles records of an entity."""

    kind_name = "assignment"
    folder = "rules"

    kind: Literal["assignment"] = "assignment"
    label: Label | None = None
    entity: str
    when: str | None = Field(default=None, description="Records needing an assignee; when it stops holding, "
                                                       "the record is unassigned")
    rules: list[EntryDef] = Field(min_length=1)
    fallback: Targets | None = Field(default=None, description="Who gets it when no entry finds anyone")
    field: str | None = Field(default=None, description="String field receiving the assignees' names")
    auto: bool = Field(default=False, description="Assign, reassign and unassign automatically on record writes")
    calendar: str | None = Field(default=None, description="Working calendar of users who have none")
    skip_unavailable: bool = Field(default=True, description="Skip users marked unavailable or off their calendar")

    def entry_ids(self) -> list[str]:
        return [e.name or f"#{i + 1}" for i, e in enumerate(self.rules)]

    def references(self) -> list[tuple[str, str]]:
        return [("entity", self.entity)]

    def check(self, ctx: CheckContext) -> None:
        entity = ctx.ref(("entity",), "entity", self.entity)
        if entity is None:
            return
        if entity.child:
            ctx.error(("entity",), f"'{self.entity}' is a child entity")
            return
        scope = Scope(ctx.schema, self.entity)
        if self.when:
            ctx.expr(("when",), self.when, scope, T.BOOLEAN)
        ids = self.entry_ids()
        for dup in {i for i in ids if ids.count(i) > 1}:
            ctx.error(("rules",), f"two entries are named '{dup}'")
        for i, e in enumerate(self.rules):
            if e.when:
                ctx.expr(("rules", i, "when"), e.when, scope, T.BOOLEAN)
            if e.by:
                ctx.expr(("rules", i, "by"), e.by, scope)
            if e.users:
                c = ctx.expr(("rules", i, "users"), e.users, scope)
                if c is not None and not c.type.is_any and c.type.kind != "string" and not (
                        c.type.kind == "list" and isinstance(c.type.arg, T.Type)
                        and c.type.arg.kind in ("string", "null", "any")):
                    ctx.error(("rules", i, "users"), f"must give a user name or a list of names, got {c.type}")
        if self.field is not None:
            f = entity.fields.get(self.field)
            if f is None or f.type not in ("string", "text"):
                ctx.error(("field",), f"'{self.field}' must be a string or text field of {self.entity}")
        if self.calendar is not None:
            ctx.ref(("calendar",), "calendar", self.calendar)
