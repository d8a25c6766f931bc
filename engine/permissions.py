"""Row-level permissions from role definitions.

An entity is *governed* once any role declares a permission for it. For a
governed entity a user may do an action on a row when one of their roles has a
permission for that entity and action whose ``where`` (if any) holds for the
row. Admins (the ``admin`` role, or the system user) are never restricted.
Reads are filtered in SQL; writes are checked in Python on the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ordo.dsl.app import AppDefinition
from ordo.dsl.expr import CompiledExpression, Scope, SqlSource, compile_expression
from ordo.dsl.expr import types as T

from .actor import User


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


class Permissions:
    def __init__(self, definition: AppDefinition) -> None:
        self.by_entity: dict[str, list[CompiledPermission]] = {}
        for role in definition.all("role"):
            for p in role.permissions:
                where = None
                if p.where:
                    where = compile_expression(p.where, Scope(definition.schema, p.entity, roots={"user": T.OBJECT}),
                                               T.BOOLEAN)
                self.by_entity.setdefault(p.entity, []).append(
                    CompiledPermission(role.name, p.entity, frozenset(p.actions), where))

    def rules(self, user: User, entity: str, action: str) -> list[CompiledPermission] | None:
        """The permissions that may allow ``action``; None means unrestricted."""
        if user.is_admin or entity not in self.by_entity:
            return None
        rules = [p for p in self.by_entity[entity] if p.role in user.roles and action in p.actions]
        if any(p.where is None for p in rules):
            return None
        return rules

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
