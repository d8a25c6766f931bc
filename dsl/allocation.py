"""Allocation rules (kind ``allocation``, folder ``rules/``): which supply fulfils which demand line.

A rule names a demand entity and its lines (item, quantity), a supply entity
(item, location, an available-quantity expression and the field holding the
reserved quantity), a candidate filter and ranking keys (expressions over the
supply record with ``demand`` and ``line`` as roots), a strategy and the entity
the results are written to. Everything is checked at load time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Definition, Label, Model, register_kind
from .check import CheckContext
from .entity import EntityDef
from .expr import Scope
from .expr import types as T

Strategy = Literal["single_source", "fewest_splits", "per_line"]
STATUSES = ("reserved", "released", "consumed")
BACKORDER = "backorder"


class DemandSpec(Model):
    entity: str = Field(description="The demand entity (one record per demand)")
    lines: str = Field(description="Table field of the demand holding its lines")
    item: str = Field(description="Field of a line naming the item wanted")
    quantity: str = Field(description="Field of a line with the quantity wanted")
    location: str | None = Field(default=None, description="Field of a line that receives the location filling "
                                                           "it (the largest share if the line is split)")


class SupplySpec(Model):
    entity: str = Field(description="The supply entity (one record per item and location)")
    item: str = Field(description="Field of the supply record naming its item")
    location: str = Field(description="Field of the supply record naming its location")
    available: str = Field(description="Expression: quantity that may still be reserved, "
                                       "e.g. 'on_hand - reserved - safety_stock'")
    reserved: str = Field(description="Numeric field increased on reservation, decreased on release/consume")
    on_hand: str | None = Field(default=None, description="Numeric field decreased on consume (optional)")


class RankKey(Model):
    expr: str = Field(description="Expression over the supply record (roots: demand, line)")
    order: Literal["asc", "desc"] = "asc"
    label: str | None = None


class ResultSpec(Model):
    entity: str = Field(description="Entity the allocation records are written to")
    demand: str = Field(description="Link field to the demand record")
    supply: str = Field(description="Link field to the supply record (empty on backorder records)")
    quantity: str = Field(description="Numeric field with the quantity")
    status: str = Field(description="String/enum field: reserved, released, consumed (and backorder)")
    line: str | None = Field(default=None, description="Integer field with the id of the demand line")
    item: str | None = Field(default=None, description="Field receiving the line's item")
    location: str | None = Field(default=None, description="Field receiving the supply's location")


@register_kind
class AllocationDef(Definition):
    """Demand-to-supply allocation with atomic reservation."""

    kind_name = "allocation"
    folder = "rules"

    kind: Literal["allocation"] = "allocation"
    label: Label | None = None
    demand: DemandSpec
    supply: SupplySpec
    where: str | None = Field(default=None, description="Candidate filter over the supply record; "
                                                        "'demand' and 'line' are the demand and its line")
    rank: list[str | RankKey] = Field(default_factory=list, description="Ranking keys, most important first")
    strategy: Strategy = "fewest_splits"
    partial: bool = Field(default=False, description="Allow allocating part of the demand (rest is backordered)")
    split_lines: bool = Field(default=False, description="Allow one line to be filled from several locations")
    result: ResultSpec

    def rank_keys(self) -> list[RankKey]:
        return [RankKey(expr=k) if isinstance(k, str) else k for k in self.rank]

    def references(self) -> list[tuple[str, str]]:
        return [("entity", self.demand.entity), ("entity", self.supply.entity), ("entity", self.result.entity)]

    def scope(self, schema, line_entity: str) -> Scope:
        roots = {"demand": T.record(self.demand.entity), "line": T.record(line_entity)}
        return Scope(schema, self.supply.entity, roots=roots)

    # -- checks
    def check(self, ctx: CheckContext) -> None:
        line_entity, item_type = self._check_demand(ctx)
        supply = self._check_supply(ctx, item_type)
        if supply is None or line_entity is None:
            return
        scope = self.scope(ctx.schema, line_entity)
        if self.where is not None:
            ctx.expr(("where",), self.where, scope, T.BOOLEAN)
        for i, key in enumerate(self.rank_keys()):
            path = ("rank", i) if isinstance(self.rank[i], str) else ("rank", i, "expr")
            compiled = ctx.expr(path, key.expr, scope)
            if compiled is None or compiled.type.is_any:
                continue
            kind = compiled.type.kind
            if self.strategy != "per_line" and kind not in ("integer", "decimal", "boolean"):
                ctx.error(path, f"the {self.strategy} strategy adds rank keys over lines: the key must be "
                                f"a number or a condition, got {compiled.type}")
            elif kind not in ("integer", "decimal", "boolean", "string", "date", "datetime"):
                ctx.error(path, f"a rank key must be a number, text, date or condition, got {compiled.type}")
        self._check_result(ctx, item_type)

    def _entity(self, ctx: CheckContext, path: tuple, name: str) -> EntityDef | None:
        e = ctx.ref(path, "entity", name)
        if e is not None and e.child:
            ctx.error(path, f"'{name}' is a child entity; name its parent")
            return None
        return e

    def _field(self, ctx: CheckContext, path: tuple, entity: EntityDef, name: str,
               kinds: tuple[str, ...] | None = None, stored: bool = False) -> T.Type | None:
        fields = ctx.schema.entity_fields(entity.name) or {}
        t = fields.get(name)
        if t is None:
            ctx.error(path, f"unknown field '{name}' of {entity.name}")
            return None
        f = entity.fields.get(name)
        if stored and (f is None or f.type in ("computed", "table")):
            ctx.error(path, f"'{name}' must be a stored field of {entity.name}")
            return None
        if kinds is not None and not t.is_any and t.kind not in kinds:
            ctx.error(path, f"'{name}' of {entity.name} must be {' or '.join(kinds)}, got {t}")
            return None
        return t

    def _check_demand(self, ctx: CheckContext) -> tuple[str | None, T.Type | None]:
        d = self.demand
        demand = self._entity(ctx, ("demand", "entity"), d.entity)
        if demand is None:
            return None, None
        lines = demand.fields.get(d.lines)
        if lines is None or lines.type != "table":
            ctx.error(("demand", "lines"), f"'{d.lines}' must be a table field of {d.entity}")
            return None, None
        line = ctx.app.get("entity", lines.entity or "")
        if line is None:
            return None, None
        item_type = self._field(ctx, ("demand", "item"), line, d.item)
        self._field(ctx, ("demand", "quantity"), line, d.quantity, ("integer", "decimal"))
        if d.location:
            self._field(ctx, ("demand", "location"), line, d.location, stored=True)
        return line.name, item_type

    def _check_supply(self, ctx: CheckContext, item_type: T.Type | None) -> EntityDef | None:
        s = self.supply
        supply = self._entity(ctx, ("supply", "entity"), s.entity)
        if supply is None:
            return None
        t = self._field(ctx, ("supply", "item"), supply, s.item, stored=True)
        if t is not None and item_type is not None and not T.compatible(t, item_type):
            ctx.error(("supply", "item"), f"'{s.item}' ({t}) cannot match the demand line's item ({item_type})")
        self._field(ctx, ("supply", "location"), supply, s.location, stored=True)
        self._field(ctx, ("supply", "reserved"), supply, s.reserved, ("integer", "decimal"), stored=True)
        if s.on_hand is not None:
            self._field(ctx, ("supply", "on_hand"), supply, s.on_hand, ("integer", "decimal"), stored=True)
        ctx.expr(("supply", "available"), s.available, Scope(ctx.schema, s.entity), T.DECIMAL)
        return supply

    def _check_result(self, ctx: CheckContext, item_type: T.Type | None) -> None:
        r = self.result
        result = self._entity(ctx, ("result", "entity"), r.entity)
        if result is None:
            return
        for key, target in (("demand", self.demand.entity), ("supply", self.supply.entity)):
            name = getattr(r, key)
            f = result.fields.get(name)
            if f is None or f.type != "link" or f.entity != target:
                ctx.error(("result", key), f"'{name}' must be a link field of {r.entity} to {target}")
        self._field(ctx, ("result", "quantity"), result, r.quantity, ("integer", "decimal"), stored=True)
        if self._field(ctx, ("result", "status"), result, r.status, ("string",), stored=True) is not None:
            f = result.fields[r.status]
            needed = (*STATUSES, BACKORDER) if self.partial else STATUSES
            missing = [s for s in needed if f.type == "enum" and s not in f.option_values]
            if missing:
                ctx.error(("result", "status"), f"options of '{r.status}' must include {', '.join(missing)}")
        if r.line is not None:
            self._field(ctx, ("result", "line"), result, r.line, ("integer",), stored=True)
        if r.item is not None:
            t = self._field(ctx, ("result", "item"), result, r.item, stored=True)
            if t is not None and item_type is not None and not T.compatible(t, item_type):
                ctx.error(("result", "item"), f"'{r.item}' ({t}) cannot hold the line's item ({item_type})")
        if r.location is not None:
            t = self._field(ctx, ("result", "location"), result, r.location, stored=True)
            loc = (ctx.schema.entity_fields(self.supply.entity) or {}).get(self.supply.location)
            if t is not None and loc is not None and not T.compatible(t, loc):
                ctx.error(("result", "location"), f"'{r.location}' ({t}) cannot hold the supply's location ({loc})")
