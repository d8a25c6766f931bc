"""Row-level permissions from role definitions.

An entity is *governed* once any role declares a permission for it. For a
governed entity a user may do an action on a row when one of their roles has a
permission for that entity and action whose ``where`` (if any) holds for the
row. Admins (the ``admin`` role, or the system user) are never restricted.
Reads are filtered in SQL; writes are checked in Python on the record.

What a user may not read directly they may not observe indirectly either: a
:class:`ReadGuard` restricts every link traversal and related-field aggregate
in the user's own expressions (filters, reports) to the rows the user may read.
The rules themselves (permission ``where``, validations, computed fields,
flows) keep seeing everything: they are the definition's authority.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement, FromClause

from ordo.dsl.app import AppDefinition
from ordo.dsl.expr import CompiledExpression, Scope, SqlSource, ast, compile_expression
from ordo.dsl.expr import types as T

from .actor import User
from .compiled import CompiledApp
from .query import TableSource

ALL = "*"  # the whole ``user`` object is read


class UserValues:
    """The acting user as an expression root, in Python (a dict) and in SQL (bound literals)."""

    def __init__(self, user: User) -> None:
        self.values: dict[str, Any] = {**user.attrs, "name": user.name, "roles": sorted(user.roles)}

    def column(self, name: str) -> Any:
        value = self.values.get(name)
        return sa.null() if value is None else sa.literal(value)

    def link(self, name: str, target: str) -> SqlSource:  # pragma: no cover - the checker forbids it
        raise TypeError("the user has no links")

    def children(self, name: str, target: str):  # pragma: no cover - the checker forbids it
        raise TypeError("the user has no child tables")


@dataclass(frozen=True)
class CompiledPermission:
    role: str
    entity: str
    actions: frozenset[str]
    where: CompiledExpression | None
    user_fields: frozenset[str] = frozenset()  # what the rule reads of ``user`` (ALL: everything)


def _user_fields(where: CompiledExpression | None) -> frozenset[str]:
    if where is None:
        return frozenset()
    out = set()
    for node in ast.walk(where.tree):
        if isinstance(node, ast.Path) and node.root == "user":
            out.add(node.parts[1] if len(node.parts) > 1 else ALL)
    return frozenset(out)


class Permissions:
    def __init__(self, definition: AppDefinition) -> None:
        self.by_entity: dict[str, list[CompiledPermission]] = {}
        # declared role -> its privileges (e.g. manage_users)
        self.privileges: dict[str, frozenset[str]] = {}
        for role in definition.all("role"):
            self.privileges[role.name] = frozenset(role.privileges)
            for p in role.permissions:
                where = None
                if p.where:
                    where = compile_expression(p.where, Scope(definition.schema, p.entity, roots={"user": T.OBJECT}),
                                               T.BOOLEAN)
                self.by_entity.setdefault(p.entity, []).append(
                    CompiledPermission(role.name, p.entity, frozenset(p.actions), where, _user_fields(where)))

    def rules(self, user: User, entity: str, action: str) -> list[CompiledPermission] | None:
        """The permissions that may allow ``action``; None means unrestricted."""
        if user.is_admin or entity not in self.by_entity:
            return None
        rules = [p for p in self.by_entity[entity] if p.role in user.roles and action in p.actions]
        if any(p.where is None for p in rules):
            return None
        return rules

    def restricted(self, user: User) -> list[str]:
        """The entities whose rows ``user`` may read only in part (or not at all)."""
        return [e for e in self.by_entity if self.rules(user, e, "read") is not None]

    def row_filter(self, user: User, entity: str, source: SqlSource) -> Any:
        """A SQL condition restricting rows of ``entity`` (over ``source``) for ``user``; None = all rows."""
        rules = self.rules(user, entity, "read")
        if rules is None:
            return None
        if not rules:
            return sa.false()
        values = UserValues(user)
        return sa.or_(*[p.where.to_sql(source, roots={"user": values}) for p in rules if p.where is not None])

    def allows(self, user: User, entity: str, action: str, record: Mapping[str, Any], env: Any) -> bool:
        rules = self.rules(user, entity, action)
        if rules is None:
            return True
        values = UserValues(user).values
        return any(p.where is not None and p.where(dict(record), env, values) is True for p in rules)

    def may(self, user: User, privilege: str) -> bool:
        """Whether ``user`` holds ``privilege`` (admins hold every privilege)."""
        return user.is_admin or any(privilege in self.privileges.get(r, ()) for r in user.roles)

    def guard(self, user: User, app: CompiledApp) -> ReadGuard | None:
        """The read guard of ``user``; None when they may read every row of every entity."""
        restricted = self.restricted(user)
        return ReadGuard(self, user, app, restricted) if restricted else None


class ReadGuard:
    """What one user may read, as a SQL condition over any alias of an entity's table.

    The SQL sources of user expressions (``engine.query``, ``engine.reports.sources``) ask it for
    the condition a linked or related row must meet; a row that fails it reads as null (links) or
    is left out (aggregates). ``key`` is everything the conditions depend on (the user's roles that
    carry rules and the user values those rules read), so SQL compiled for one user is reused only
    for users it is equally valid for. Field-level rules will plug in here as well.
    """

    def __init__(self, permissions: Permissions, user: User, app: CompiledApp, restricted: list[str]) -> None:
        self.permissions = permissions
        self.user = user
        self.app = app
        self.entities = frozenset(restricted)
        rules = [p for e in restricted for p in permissions.by_entity[e] if p.role in user.roles]
        fields: set[str] = set().union(*(p.user_fields for p in rules))
        values = UserValues(user).values
        shown = sorted(values) if ALL in fields else sorted(fields)
        self.key: Hashable = (
            "guard",
            tuple(sorted({p.role for p in rules})),
            tuple(sorted(self.entities)),
            tuple((f, json.dumps(values.get(f), sort_keys=True, default=str)) for f in shown),
        )

    def rows(self, entity: str, table: FromClause) -> ColumnElement[bool] | None:
        """The condition on ``table`` (an alias of ``entity``'s table) for rows the user may read;
        None when every row is readable."""
        if entity not in self.entities:
            return None
        return self.permissions.row_filter(self.user, entity, TableSource(self.app, entity, table))
