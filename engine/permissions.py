"""Permissions from role definitions: default deny, rows, fields, flows and reports.

An app that declares a role other than ``admin`` is *governed*: a user may do on an entity, a
flow or a report only what one of their roles grants (every user also holds ``everyone`` when
the app declares it). Apps without such roles are open to every user. Admins (the ``admin``
role, or the system user) are never restricted.

* Rows: a user may do an action on a row when one of their roles grants it on the entity with a
  ``where`` (if any) that holds for the row. Reads are filtered in SQL; writes are checked in
  Python on the record.
* Fields: a field is hidden from a user when every grant of ``read`` they hold hides it, and
  read-only for a write when every grant of that write lists it as ``read_only``. Hidden fields
  do not exist for the user: records, audit entries, report columns and the JSON Schema leave
  them out, and the user's expressions and sort keys cannot name them (the same error as an
  unknown field).
* Flows, reports and decision tables: the actions their roles grant (:meth:`Permissions.may_flow`,
  :meth:`Permissions.may_report`, :meth:`Permissions.may_decide`).

What a user may not read directly they may not observe indirectly either: a :class:`ReadGuard`
restricts every link traversal and related-field aggregate in the user's own expressions
(filters, reports) to the rows the user may read, and compiles them against the fields the user
may see. The rules themselves (permission ``where``, validations, computed fields, flows) keep
seeing everything: they are the definition's authority.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement, FromClause

from ordo.dsl.app import AppDefinition
from ordo.dsl.errors import OrdoError
from ordo.dsl.expr import CompiledExpression, Scope, SqlSource, ast, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.role import ADMIN, ENTITY_ACTIONS, EVERYONE, FLOW_ACTIONS

from .actor import User
from .compiled import CompiledApp
from .query import TableSource

ALL = "*"  # the whole ``user`` object is read
OPEN_FLOW_ACTIONS = frozenset({"start", "withdraw"})  # what anyone may do with a flow in an ungoverned app
NO_FIELDS: frozenset[str] = frozenset()


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
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()


class FieldRules(NamedTuple):
    """The fields of one entity a user may not see, and those they may not change."""

    hidden: frozenset[str]
    read_only: frozenset[str]


def _user_fields(where: CompiledExpression | None) -> frozenset[str]:
    if where is None:
        return frozenset()
    out = set()
    for node in ast.walk(where.tree):
        if isinstance(node, ast.Path) and node.root == "user":
            out.add(node.parts[1] if len(node.parts) > 1 else ALL)
    return frozenset(out)


def _where(definition: AppDefinition, entity: str, text: str, foreign: bool) -> CompiledExpression:
    """A permission's ``where`` compiled against ``definition``; a ``foreign`` one (a role of another version)
    that does not compile there (it names a field this version lacks) allows no row."""
    scope = Scope(definition.schema, entity, roots={"user": T.OBJECT})
    try:
        return compile_expression(text, scope, T.BOOLEAN)
    except OrdoError:
        if not foreign:
            raise
        return compile_expression("false", scope, T.BOOLEAN)


def _common(sets: list[frozenset[str]]) -> frozenset[str]:
    """The fields every one of ``sets`` lists (none when there are no sets)."""
    return frozenset.intersection(*sets) if sets else NO_FIELDS


@dataclass
class _Profile:
    """What one set of roles may do; computed once per set of roles (see Permissions._profile)."""

    roles: frozenset[str]
    rules: dict[tuple[str, str], list[CompiledPermission] | None] = field(default_factory=dict)
    fields: dict[str, FieldRules] = field(default_factory=dict)
    read_only: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)  # (entity, write action)
    hidden: dict[str, frozenset[str]] = field(default_factory=dict)  # entity -> hidden fields (non-empty only)
    restricted: list[str] = field(default_factory=list)  # entities readable only in part, or not at all
    flows: dict[str, frozenset[str]] = field(default_factory=dict)
    reports: dict[str, frozenset[str]] = field(default_factory=dict)
    decisions: dict[str, frozenset[str]] = field(default_factory=dict)
    schema: Any = None  # the app schema without the hidden fields (None when nothing is hidden)


class VisibleSchema:
    """The app's entities as one user's expressions see them: hidden fields do not exist."""

    def __init__(self, base: Any, hidden: Mapping[str, frozenset[str]]) -> None:
        self.base = base
        self.hidden = hidden
        self._cache: dict[str, Mapping[str, T.Type] | None] = {}

    def entity_fields(self, entity: str) -> Mapping[str, T.Type] | None:
        if entity not in self._cache:
            fields = self.base.entity_fields(entity)
            gone = self.hidden.get(entity)
            self._cache[entity] = fields if fields is None or not gone else \
                {k: v for k, v in fields.items() if k not in gone}
        return self._cache[entity]


class Permissions:
    def __init__(self, definition: AppDefinition, roles: AppDefinition | None = None) -> None:
        """The permissions of ``definition``'s roles; with ``roles``, those of that definition's roles over
        ``definition``'s entities (an App running unpublished definitions with the published authority): a
        grant on an entity ``definition`` lacks grants nothing, and a grant whose ``where`` does not compile
        against ``definition`` allows no row."""
        self.definition = definition
        self.by_entity: dict[str, list[CompiledPermission]] = {}
        self.by_flow: dict[str, list[tuple[str, frozenset[str]]]] = {}
        self.by_report: dict[str, list[tuple[str, frozenset[str]]]] = {}
        self.by_decision: dict[str, list[tuple[str, frozenset[str]]]] = {}
        # declared role -> its privileges (e.g. manage_users)
        self.privileges: dict[str, frozenset[str]] = {}
        foreign = roles is not None  # another version's roles over this definition's entities
        declared = (roles or definition).all("role")
        # governed: default deny, once the app declares a role other than admin
        self.governed = any(r.name != ADMIN for r in declared)
        self.everyone = any(r.name == EVERYONE for r in declared)
        self.children = frozenset(name for name, e in definition.entities.items() if e.child)
        for role in declared:
            self.privileges[role.name] = frozenset(role.privileges)
            for p in role.permissions:
                actions = frozenset(p.action_list())
                if p.flow is not None:
                    self.by_flow.setdefault(p.flow, []).append((role.name, actions))
                    continue
                if p.report is not None:
                    self.by_report.setdefault(p.report, []).append((role.name, actions))
                    continue
                if p.decision is not None:
                    self.by_decision.setdefault(p.decision, []).append((role.name, actions))
                    continue
                assert p.entity is not None
                if foreign and p.entity not in definition.entities:
                    continue
                where = None
                if p.where:
                    where = _where(definition, p.entity, p.where, foreign)
                self.by_entity.setdefault(p.entity, []).append(CompiledPermission(
                    role.name, p.entity, actions, where, _user_fields(where), frozenset(p.hidden),
                    frozenset(p.read_only)))
        self._ruled = frozenset(p.role for ps in self.by_entity.values() for p in ps)
        self._profiles: dict[frozenset[str], _Profile] = {}
        self._lock = threading.Lock()

    # -- who holds what
    def roles_of(self, user: User) -> frozenset[str]:
        """The user's roles as permissions see them: ``everyone`` included when the app declares it."""
        return user.roles | {EVERYONE} if self.everyone else user.roles

    def _profile(self, user: User) -> _Profile:
        # kept by the user's own roles (roles_of is theirs plus everyone): no set built and hashed per call
        found = self._profiles.get(user.roles)
        if found is not None:
            return found
        roles = self.roles_of(user)
        prof = _Profile(roles)
        hidden: dict[str, frozenset[str]] = {}
        for entity, perms in self.by_entity.items():
            mine = [p for p in perms if p.role in roles]
            fr = FieldRules(_common([p.hidden for p in mine if "read" in p.actions]),
                            _common([p.read_only for p in mine if "update" in p.actions]))
            prof.fields[entity] = fr
            if fr.hidden:
                hidden[entity] = fr.hidden
            for action in ("create", "update"):
                prof.read_only[(entity, action)] = _common([p.read_only for p in mine if action in p.actions])
        prof.hidden = hidden
        prof.schema = VisibleSchema(self.definition.schema, hidden) if hidden else None
        prof.restricted = [e for e in self.definition.entities
                           if e not in self.children and self._rules(prof, e, "read") is not None]
        for grants, out in ((self.by_flow, prof.flows), (self.by_report, prof.reports),
                            (self.by_decision, prof.decisions)):
            for name, pairs in grants.items():
                out[name] = frozenset().union(*(a for r, a in pairs if r in roles))
        with self._lock:
            if len(self._profiles) > 4096:  # role combinations are few; never let them grow without bound
                self._profiles.clear()
            self._profiles[user.roles] = prof
        return prof

    def _rules(self, prof: _Profile, entity: str, action: str) -> list[CompiledPermission] | None:
        key = (entity, action)
        if key in prof.rules:
            return prof.rules[key]
        rules: list[CompiledPermission] | None
        if entity in self.children:
            rules = None  # child rows belong to their record
        else:
            rules = [p for p in self.by_entity.get(entity, ()) if p.role in prof.roles and action in p.actions]
            if any(p.where is None for p in rules):
                rules = None
        prof.rules[key] = rules
        return rules

    def unrestricted(self, user: User) -> bool:
        """Whether ``user`` may do everything (an admin, or any user of an ungoverned app)."""
        return user.is_admin or not self.governed

    def rules(self, user: User, entity: str, action: str) -> list[CompiledPermission] | None:
        """The permissions that may allow ``action``; None means unrestricted, [] nothing allowed."""
        if self.unrestricted(user):
            return None
        return self._rules(self._profile(user), entity, action)

    def restricted(self, user: User) -> list[str]:
        """The entities whose rows ``user`` may read only in part (or not at all)."""
        return [] if self.unrestricted(user) else self._profile(user).restricted

    def entity_actions(self, user: User, entity: str) -> set[str]:
        """What ``user`` may do on ``entity`` at all (on some rows at least): read, create, update, delete."""
        if entity in self.children:
            return set()
        return {a for a in ENTITY_ACTIONS if self.rules(user, entity, a) != []}

    def fields(self, user: User, entity: str) -> FieldRules:
        """(hidden, read_only) fields of ``entity`` for ``user``: hidden when every grant of read hides the
        field; read-only when every grant of update lists it (see :meth:`read_only` for other writes)."""
        if self.unrestricted(user):
            return FieldRules(NO_FIELDS, NO_FIELDS)
        return self._profile(user).fields.get(entity, FieldRules(NO_FIELDS, NO_FIELDS))

    def hidden(self, user: User, entity: str) -> frozenset[str]:
        """The fields of ``entity`` hidden from ``user``."""
        if self.unrestricted(user):
            return NO_FIELDS
        return self._profile(user).hidden.get(entity, NO_FIELDS)

    def read_only(self, user: User, entity: str, action: str) -> frozenset[str]:
        """The fields ``user`` may not set in a ``create`` or ``update`` of ``entity``."""
        if self.unrestricted(user):
            return NO_FIELDS
        return self._profile(user).read_only.get((entity, action), NO_FIELDS)

    def may_flow(self, user: User, flow: str, action: str) -> bool:
        """Whether ``user`` may ``action`` (start, withdraw, cancel, cancel_task) flow ``flow``. In an
        ungoverned app anyone may start a flow and withdraw their own request; only admins cancel."""
        if action not in FLOW_ACTIONS:
            raise ValueError(f"unknown flow action {action!r}")
        if user.is_admin:
            return True
        if not self.governed:
            return action in OPEN_FLOW_ACTIONS
        return action in self._profile(user).flows.get(flow, NO_FIELDS)

    def may_report(self, user: User, report: str, action: str) -> bool:
        """Whether ``user`` may ``action`` (run, export) report ``report``."""
        if self.unrestricted(user):
            return True
        return action in self._profile(user).reports.get(report, NO_FIELDS)

    def may_decide(self, user: User, decision: str) -> bool:
        """Whether ``user`` may run decision table ``decision`` (a stored record still needs read)."""
        if self.unrestricted(user):
            return True
        return "run" in self._profile(user).decisions.get(decision, NO_FIELDS)

    # -- rows
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
        """The read guard of ``user``; None when they may read every row and field of every entity."""
        if self.unrestricted(user):
            return None
        prof = self._profile(user)
        return ReadGuard(self, user, app, prof) if prof.restricted or prof.hidden else None


class ReadGuard:
    """What one user may read, as a SQL condition over any alias of an entity's table, and the
    fields their expressions may name (``schema``: hidden fields left out; None: all of them).

    The SQL sources of user expressions (``engine.query``, ``engine.reports.sources``) ask it for
    the condition a linked or related row must meet; a row that fails it reads as null (links) or
    is left out (aggregates). ``key`` is everything the conditions depend on (the user's roles that
    carry rules and the user values those rules read), so SQL compiled for one user is reused only
    for users it is equally valid for.
    """

    def __init__(self, permissions: Permissions, user: User, app: CompiledApp, profile: _Profile) -> None:
        self.permissions = permissions
        self.user = user
        self.app = app
        self.entities = frozenset(profile.restricted)
        self.hidden = profile.hidden
        self.schema = profile.schema
        rules = [p for e in profile.restricted for p in permissions.by_entity.get(e, ()) if p.role in profile.roles]
        fields: set[str] = set().union(*(p.user_fields for p in rules))
        values = UserValues(user).values
        shown = sorted(values) if ALL in fields else sorted(fields)
        self.key: Hashable = (
            "guard",
            tuple(sorted(profile.roles & permissions._ruled)),
            tuple((f, json.dumps(values.get(f), sort_keys=True, default=str)) for f in shown),
        )

    @functools.cached_property
    def partial_tables(self) -> frozenset[str]:
        """The tables (child tables included) of the entities the user may read only in part."""
        names: set[str] = set()
        for entity in {*self.entities, *self.hidden}:
            ce = self.app.entities.get(entity)
            if ce is not None:
                names.update(t.name for t in (ce.table, *(cf.child_table for cf in ce.fields.values()))
                             if t is not None)
        return frozenset(names)

    def rows(self, entity: str, table: FromClause) -> ColumnElement[bool] | None:
        """The condition on ``table`` (an alias of ``entity``'s table) for rows the user may read;
        None when every row is readable."""
        if entity not in self.entities:
            return None
        return self.permissions.row_filter(self.user, entity, TableSource(self.app, entity, table))
