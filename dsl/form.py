"""Form definitions: how an entity's fields are laid out for people."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T


class FormSection(Model):
    title: Label | None = None
    columns: int = Field(default=1, ge=1, le=4)
    fields: list[str] = Field(min_length=1)
    visible_if: str | None = Field(default=None, description="Show the section only when this holds")
    tab: Label | None = Field(default=None, description="Tab the section is shown on ({en, zh}); consecutive "
                                                        "sections with the same tab share it")


@register_kind
class FormDef(Definition):
    """A form over an entity: sections of fields, shown in order."""

    kind_name = "form"
    folder = "forms"

    kind: Literal["form"] = "form"
    entity: str
    title: Label | None = None
    sections: list[FormSection] = Field(default_factory=list)

    def references(self) -> list[tuple[str, str]]:
        return [("entity", self.entity)]

    def check(self, ctx: CheckContext) -> None:
        entity = ctx.ref(("entity",), "entity", self.entity)
        if entity is None:
            return
        known = ctx.schema.entity_fields(self.entity) or {}
        seen: list[object] = []
        for i, section in enumerate(self.sections):  # a tab's sections are consecutive
            if section.tab is not None and seen and section.tab != seen[-1] and section.tab in seen:
                ctx.error(("sections", i, "tab"), f"tab {section.tab!r} was used by an earlier section that is "
                          "not the one just before: a tab's sections must follow each other")
            seen.append(section.tab)
        for i, section in enumerate(self.sections):
            for j, fname in enumerate(section.fields):
                if fname not in known:
                    ctx.error(("sections", i, "fields", j), f"unknown field '{fname}' in {self.entity}")
            if section.tab is not None and not (section.tab if isinstance(section.tab, str)
                                                else any(v for v in section.tab.values())):
                ctx.error(("sections", i, "tab"), "a tab needs a label")
            if section.visible_if:
                ctx.expr(("sections", i, "visible_if"), section.visible_if, Scope(ctx.schema, self.entity), T.BOOLEAN)
