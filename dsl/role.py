"""Role definitions (``roles.yaml``): named groups of users, and what they may see and do.

Access is default deny once an app declares a role other than ``admin``: a user may do on an
entity, a flow or a report only what one of their roles grants. Every user implicitly holds the
role ``everyone`` (when declared), for what all signed-in users may do. Apps that declare no roles
(or only ``admin``) are open to every user. Admins are never restricted.

A permission names exactly one target and the actions it grants on it:

* ``entity``: ``read``, ``create``, ``update``, ``delete``; optionally a row filter (``where``,
  evaluated with the acting user as ``user``: its name, roles and attributes such as
  ``user.region``), fields ``hidden`` from the role (with ``read``) and fields it may not set
  (``read_only``, with ``create`` or ``update``).
* ``flow``: ``start`` (by hand), ``withdraw`` (one's own request), ``cancel`` (anyone's case),
  ``cancel_task`` (one task); acting on one's own task is governed by assignment.
* ``report``: ``run`` (see it: tables, JSON, charts, drill-down) and ``export`` (CSV, XLSX).
* ``decision``: ``run`` (evaluate the table through the API or ``ordo decide``; on a stored record
  the user still needs read on that record).

``privileges`` grant what is not about records (``manage_users``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T

ADMIN = "admin"
EVERYONE = "everyone"  # implicit: every user holds it
ENTITY_ACTIONS: tuple[str, ...] = ("read", "create", "update", "delete")
FLOW_ACTIONS: tuple[str, ...] = ("start", "withdraw", "cancel", "cancel_task")
REPORT_ACTIONS: tuple[str, ...] = ("run", "export")
DECISION_ACTIONS: tuple[str, ...] = ("run",)
ACTIONS_OF: dict[str, tuple[str, ...]] = {"entity": ENTITY_ACTIONS, "flow": FLOW_ACTIONS, "report": REPORT_ACTIONS,
                                          "decision": DECISION_ACTIONS}
KINDS: tuple[str, ...] = ("entity", "flow", "report", "decision")
Action = Literal["read", "create", "update", "delete", "start", "withdraw", "cancel", "cancel_task", "run", "export"]
# what a role may do beyond records: manage_users = create users, grant/revoke roles and groups, set attributes;
# designer = change the app's definitions in the designer: edit the draft, publish, roll back, export
Privilege = Literal["manage_users", "designer"]


class PermissionDef(Model):
    entity: str | None = Field(default=None, description="The entity this permission is about")
    flow: str | None = Field(default=None, description="The flow this permission is about")
    report: str | None = Field(default=None, description="The report this permission is about")
    decision: str | None = Field(default=None, description="The decision table this permission is about")
    actions: list[Action] | None = Field(
        default=None, description="What it allows (default: every action of its kind): entity read, create, "
                                  "update, delete; flow start, withdraw, cancel, cancel_task; report run, export; "
                                  "decision run")
    where: str | None = Field(default=None, description="Entity row filter; 'user' is the acting user (user.name, "
                                                         "user.<attribute>)")
    hidden: list[str] = Field(default_factory=list, description="Entity fields this grant does not show (never "
                                                                "returned, filtered or sorted on)")
    read_only: list[str] = Field(default_factory=list, description="Entity fields this grant may not set")

    @property
    def kind(self) -> str:
        """``entity``, ``flow``, ``report`` or ``decision`` (the first one named)."""
        return next((k for k in KINDS if getattr(self, k) is not None), "report")

    @property
    def target(self) -> str:
        return self.entity or self.flow or self.report or self.decision or ""

    def action_list(self) -> tuple[str, ...]:
        """The actions granted (every action of the kind when none are listed)."""
        return tuple(self.actions) if self.actions is not None else ACTIONS_OF[self.kind]


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
                                        "their attributes, activity and calendars); designer (change the app's "
                                        "definitions: edit the draft, publish, roll back, export)")

    def references(self) -> list[tuple[str, str]]:
        return [(p.kind, p.target) for p in self.permissions if p.target]

    def check(self, ctx: CheckContext) -> None:
        if self.name == EVERYONE:
            if self.users:
                ctx.error(("users",), "every user holds the role 'everyone'; it lists no users")
            if self.privileges:
                ctx.error(("privileges",), "the role 'everyone' cannot carry privileges")
        if self.name == ADMIN and self.permissions:
            ctx.error(("permissions",), "admins may do everything; the role 'admin' takes no permissions")
        for i, p in enumerate(self.permissions):
            self._check_permission(ctx, i, p)

    def _check_permission(self, ctx: CheckContext, i: int, p: PermissionDef) -> None:
        path: tuple[str | int, ...] = ("permissions", i)
        named = [k for k in KINDS if getattr(p, k) is not None]
        if len(named) != 1:
            ctx.error(path, "a permission names exactly one entity, flow, report or decision"
                            + (f" (this one names {' and '.join(named)})" if named else ""))
            return
        kind = named[0]
        allowed = ACTIONS_OF[kind]
        for j, action in enumerate(p.actions or ()):
            if action not in allowed:
                ctx.error((*path, "actions", j), f"'{action}' is not an action on a {kind} "
                                                 f"(actions: {', '.join(allowed)})")
        if kind != "entity":
            for key in ("where", "hidden", "read_only"):
                if getattr(p, key):
                    ctx.error((*path, key), f"'{key}' applies to entity permissions only")
            ctx.ref((*path, kind), kind, p.target, "decision table" if kind == "decision" else None)
            return
        entity = ctx.ref((*path, "entity"), "entity", p.target)
        if entity is None:
            return
        if entity.child:
            ctx.error((*path, "entity"), f"'{p.entity}' is a child entity; set permissions on its parent")
        if p.where:
            scope = Scope(ctx.schema, p.target, roots={"user": T.OBJECT})
            ctx.expr((*path, "where"), p.where, scope, T.BOOLEAN)
        actions = set(p.action_list())
        for key, needs in (("hidden", {"read"}), ("read_only", {"create", "update"})):
            names = getattr(p, key)
            if names and not actions & needs:
                ctx.error((*path, key), f"'{key}' needs the action {' or '.join(sorted(needs))}")
            for j, name in enumerate(names):
                if name not in entity.fields:
                    ctx.error((*path, key, j), f"unknown field '{name}' of {p.target}")
