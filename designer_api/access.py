"""What the signed-in user may do and see, one function per concern; every route asks here.

The answers come from the engine's permission definitions (``app.permissions``): default deny once an
app declares roles, the ``everyone`` role, per-entity actions, hidden and read-only fields, flow and
report actions. Row-level rules are applied by the engine's reads and writes themselves; these functions
say what a client may attempt, and every route, ``/api/v1/meta`` and ``/openapi.json`` follow them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ordo.dsl.role import ENTITY_ACTIONS as ACTIONS
from ordo.engine.errors import PermissionDenied

if TYPE_CHECKING:
    from ordo.engine.records import Transaction


@dataclass(frozen=True)
class FieldAccess:
    hidden: frozenset[str]  # never shown, never accepted, unknown to the client
    read_only: frozenset[str]  # shown, not accepted in writes (computed, related, read_only)


def entity_actions(tx: Transaction, entity: str) -> list[str]:
    """The actions (read, create, update, delete) the user may do on some or all records of ``entity``;
    row rules may still refuse a given record."""
    allowed = tx.app.permissions.entity_actions(tx.user, entity)
    return [a for a in ACTIONS if a in allowed]


def require_action(tx: Transaction, entity: str, action: str) -> None:
    """Refuse an action the user may do on no record of ``entity`` at all."""
    if action not in entity_actions(tx, entity):
        raise PermissionDenied(f"{tx.user.name} may not {action} {entity} records")


def field_access(tx: Transaction, entity: str) -> FieldAccess:
    """Which fields of ``entity`` (or of a child entity) the user may not see, and may not set."""
    ce = tx.app.compiled.entities[entity]
    rules = tx.app.permissions.fields(tx.user, entity)
    read_only = {n for n, cf in ce.fields.items()
                 if cf.computed is not None or cf.related_where is not None
                 or (cf.defn.read_only and not tx.user.is_admin)}
    return FieldAccess(frozenset(rules.hidden), frozenset(read_only | set(rules.read_only)))


def readable_entities(tx: Transaction) -> list[str]:
    """The top-level entities the user may read some records of."""
    return [name for name, ce in tx.app.compiled.entities.items()
            if not ce.defn.child and "read" in entity_actions(tx, name)]


def may_run_report(tx: Transaction, name: str, action: str = "run") -> bool:
    """Whether the user may run (or ``export``) report ``name`` (its rows still follow their row rules)."""
    return tx.app.permissions.may_report(tx.user, name, action)


def may_use_intake(tx: Transaction, name: str) -> bool:
    """Whether the user may push payloads through intake ``name`` (each record still needs create)."""
    intake = tx.app.features["intake"].intake(name)
    return "create" in entity_actions(tx, intake.entity.name)


def may_see_flow(tx: Transaction, name: str) -> bool:
    """Whether flow ``name`` is shown to the user (in meta and the OpenAPI description): they may read its
    records or start it."""
    flow = tx.app.features["flows"].flow(name)
    return "read" in entity_actions(tx, flow.entity) or tx.app.permissions.may_flow(tx.user, name, "start")
