"""Role definitions (``roles.yaml``): named groups of users, and what they may see and do.

A role may carry permissions per entity: which actions it allows and, optionally,
a row filter (``where``) evaluated with the acting user as ``user`` (its name,
roles and attributes such as ``user.region``). Once any role declares a
permission for an entity, access to that entity follows the permissions.
``privileges`` grant what is not about records (``manage_users``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T

Action = Literal["read", "create", "update", "delete"]
ACTIONS: tuple[str, ...] = ("read", "create", "update", "delete")
# what a role may do beyond records: manage_users = create users, grant/revoke roles and groups, set attributes
Privilege = Literal["manage_users"]


class PermissionDef(Model):
    entity: str
    actions: list[Action] = Field(default_factory=lambda: list(ACTIONS))
    where: str | None = Field(default=None, description="Row filter; 'user' is the acting user (user.name, "
                                                         "user.<attribute>)")


@register_kind
class RoleDef(Definition):
    """A role. Members are kept in the database; ``users`` are granted the role on sync."""

    kind_name = "role"
    folder = "roles"

    kind: Literal["role"] = "role"
    label: Label | None = None
    users: list[str] = Field(default_factory=list, description="User names granted this role when the app starts")
    permissions: list[PermissionDef] = Field(default_factory=list)
    privileges: list[Privilege] = Field(default_factory=list, description="Privileges beyond records: "
                                        "manage_users (create users, grant and revoke roles and groups, set "
                                        "their attributes, activity and calendars)")

    def references(self) -> list[tuple[str, str]]:
        return [("entity", p.entity) for p in self.permissions]

    def check(self, ctx: CheckContext) -> None:
        for i, p in enumerate(self.permissions):
            entity = ctx.ref(("permissions", i, "entity"), "entity", p.entity)
            if entity is None:
                continue
            if entity.child:
                ctx.error(("permissions", i, "entity"), f"'{p.entity}' is a child entity; set permissions on its parent")
            if p.where:
                scope = Scope(ctx.schema, p.entity, roots={"user": T.OBJECT})
                ctx.expr(("permissions", i, "where"), p.where, scope, T.BOOLEAN)
