"""The decision service: find a compiled table, evaluate it on JSON input or a stored record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ordo.dsl.app import AppDefinition
from ordo.dsl.decision_table import DecisionError, DecisionTable
from ordo.dsl.decision_table import coerce as coerce_value
from ordo.dsl.expr import Env
from ordo.dsl.expr import types as T

from ..coerce import CoercionError, coerce
from ..errors import NotFound, PermissionDenied

if TYPE_CHECKING:
    from ..records import Transaction


class Decisions:
    def __init__(self, definition: AppDefinition) -> None:
        self.definition = definition

    def names(self) -> list[str]:
        return self.definition.names("decision")

    def table(self, name: str) -> DecisionTable:
        table = self.definition.schema.decision(name) if name in self.names() else None
        if table is None or table == "cycle":
            known = ", ".join(self.names()) or "none"
            raise NotFound(f"unknown decision '{name}' (decisions: {known})")
        return table

    def allowed(self, tx: Transaction, name: str) -> DecisionTable:
        """Table ``name`` if ``tx.user`` may run it (the roles' decision permissions), else
        PermissionDenied."""
        table = self.table(name)
        if not tx.app.permissions.may_decide(tx.user, name):
            raise PermissionDenied(f"{tx.user.name} may not run decision {name}")
        return table

    def decide(self, name: str, data: Mapping[str, Any], *, explain: bool = False,
               env: Env | None = None, hidden: frozenset[str] = frozenset()) -> Any:
        """The table's result for JSON-like ``data``: the named inputs of a table without an entity, or
        the fields of a record of its entity (links given as ids are read through ``env``); fields in
        ``hidden`` (those hidden from the acting user) are unknown fields."""
        table = self.table(name)
        if not isinstance(data, Mapping):
            raise DecisionError(f"decision '{name}': give the inputs as a JSON object")
        if table.entity is None:
            roots = table.root_values(data)
            record: Mapping[str, Any] = {}
        else:
            roots, record = [], self._record(table, data, hidden)
        return _run(table, explain, record, env, roots)

    def decide_record(self, tx: Transaction, name: str, key: int | str, *, explain: bool = False) -> Any:
        """The table's result for the stored record ``key`` (id or name), read as the acting user may
        (a record they cannot read is not found; fields hidden from them read as null)."""
        table = self.table(name)
        if table.entity is None:
            raise DecisionError(f"decision '{name}' has no entity: give its inputs as JSON")
        record = tx.get(table.entity, key)
        env = Env(link=lambda entity, k: _readable(tx, entity, k), clock=tx.app.clock)
        return _run(table, explain, record, env, [])

    def _record(self, table: DecisionTable, data: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
        entity = self.definition.get("entity", table.entity)
        out: dict[str, Any] = {}
        for key, value in data.items():
            f = entity.fields.get(key) if entity is not None and key not in hidden else None
            if f is None:
                raise DecisionError(f"decision '{table.name}': unknown field '{key}' of {table.entity}")
            if f.type in ("table", "related"):
                raise DecisionError(f"decision '{table.name}': field '{key}' cannot be given ({f.type})")
            if f.type == "computed":  # a what-if: the value the computed field would have
                types = self.definition.schema.entity_fields(table.entity) or {}
                out[key] = coerce_value(value, types.get(key) or T.ANY, f"field '{key}'")
                continue
            try:
                out[key] = None if value is None or f.type == "link" else coerce(f, value)
            except CoercionError as e:
                raise DecisionError(f"decision '{table.name}': field '{key}': {e}") from None
            if f.type == "link":
                out[key] = value
        return out


def _run(table: DecisionTable, explain: bool, record: Mapping[str, Any], env: Env | None, roots: list) -> Any:
    try:
        return table.explain(record, env, roots) if explain else table.evaluate(record, env, roots)
    except (TypeError, ArithmeticError) as e:  # e.g. text given for an input of type any, compared with 5
        raise DecisionError(f"decision '{table.name}': an input cannot be compared as its cells do ({e})") from None


def _readable(tx: Transaction, entity: str, key: Any) -> Any:
    try:
        return tx.get(entity, key)
    except NotFound:
        return None
