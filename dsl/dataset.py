"""Dataset definitions (``datasets/*.yaml``): seeded, realistic sample data.

A dataset lists entity blocks in creation order. A block gives literal
``records``, a ``count`` of generated records, or one record ``for_each``
combination of other records. Each field has a generator: a constant, a
``sequence``, a weighted ``choice``, ``uniform``/``normal`` numbers, ``date``
with seasonality, a ``pattern``, a ``fraction`` of true values, a ``pick`` of
another entity's records (optionally Zipf-distributed), an ``expr`` over the
fields generated so far, ``concat`` of generators, or ``copy`` from a source row.
Table fields get 1-N generated rows, or rows copied ``from`` a linked record.
``variants`` override generators for a fraction of the records (risky values),
``duplicates`` re-submit copies of earlier records. The same seed gives the
same data.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from .base import Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T

Scalar = str | int | float | bool | dt.date | None
MAIN_KEYS = ("const", "sequence", "choice", "uniform", "normal", "date", "pattern", "fraction", "pick", "expr",
             "copy", "concat")


class NormalDef(Model):
    mean: float
    sd: float = Field(gt=0)


class DateDef(Model):
    from_: int | dt.date = Field(alias="from", description="First day: a date, or days relative to today (-365)")
    to: int | dt.date = Field(default=0, description="Last day: a date, or days relative to today")
    seasonality: dict[int, float] = Field(default_factory=dict, description="Weight per month (1-12), default 1")
    weekdays: list[float] | None = Field(default=None, min_length=7, max_length=7,
                                         description="Weight per weekday, Monday first")
    hours: tuple[int, int] = Field(default=(0, 23), description="Hour range of datetimes")

    @model_validator(mode="after")
    def _check(self) -> DateDef:
        for month, w in self.seasonality.items():
            if not 1 <= month <= 12 or w < 0:
                raise ValueError("seasonality maps months 1-12 to non-negative weights")
        if not 0 <= self.hours[0] <= self.hours[1] <= 23:
            raise ValueError("hours must be two hours 0-23, the first not after the second")
        return self


class GenDef(Model):
    """A value generator: exactly one of the main keys, plus modifiers."""

    const: Any = None
    sequence: str | None = Field(default=None, description="Format with {n}, e.g. 'ITEM-{n:04d}'")
    start: int = 1
    choice: dict[str, float] | list[Any] | None = Field(default=None, description="value: weight, or a list")
    uniform: tuple[float, float] | None = None
    normal: NormalDef | None = None
    date: DateDef | None = None
    pattern: str | None = Field(default=None, description="'#' a digit, '?' an upper-case letter, else literal")
    fraction: float | None = Field(default=None, ge=0, le=1, description="Share of records getting 'value'")
    value: Any = True
    otherwise: Any = False
    pick: str | None = Field(default=None, description="Entity whose records are picked")
    where: str | None = Field(default=None, description="Filter of the picked records")
    zipf: float | None = Field(default=None, gt=0, description="Zipf exponent of record popularity")
    distinct: bool = Field(default=False, description="Different records among the rows of one parent")
    expr: str | None = None
    copy_: str | None = Field(default=None, alias="copy", description="Field of the source row (tables with 'from')")
    concat: list[GenSpec] | None = None
    round: int | None = Field(default=None, ge=0, le=10)
    min: float | None = None
    max: float | None = None
    null_fraction: float = Field(default=0, ge=0, le=1, description="Share of records left empty")

    @model_validator(mode="after")
    def _one_main(self) -> GenDef:
        given = [k for k in MAIN_KEYS if (k + "_" if k == "copy" else k) in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(MAIN_KEYS)}" + (f" (got {', '.join(given)})"
                                                                              if given else ""))
        if self.uniform is not None and self.uniform[0] > self.uniform[1]:
            raise ValueError("uniform: the low bound is above the high bound")
        if self.choice is not None and (not self.choice or (isinstance(self.choice, dict) and (
                any(w < 0 for w in self.choice.values()) or sum(self.choice.values()) <= 0))):
            raise ValueError("choice needs values with non-negative weights, not all zero")
        if self.sequence is not None:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.sequence) if f is not None]
            if fields != ["n"]:
                raise ValueError("a sequence format has exactly one {n} placeholder, e.g. 'ITEM-{n:04d}'")
            try:
                self.sequence.format(n=1)
            except (ValueError, IndexError) as e:
                raise ValueError(f"invalid sequence format: {e}") from None
        return self


def _gen_or_scalar(value: Any) -> str:
    return "gen" if isinstance(value, (dict, GenDef)) else "scalar"


GenSpec = Annotated[Annotated[GenDef, Tag("gen")] | Annotated[Scalar, Tag("scalar")], Discriminator(_gen_or_scalar)]
# GenDef's forward reference to GenSpec resolves when its validator is first built (Model's defer_build)


class TableGenDef(Model):
    rows: GenDef | int | None = Field(default=None, description="How many rows per record")
    from_: str | None = Field(default=None, alias="from",
                              description="'link.table': rows are drawn from the table of the linked record")
    fields: dict[str, GenSpec] = Field(default_factory=dict)


class VariantDef(Model):
    name: str
    fraction: float = Field(gt=0, le=1)
    fields: dict[str, GenSpec] = Field(default_factory=dict)
    tables: dict[str, TableGenDef] = Field(default_factory=dict)


class DuplicatesDef(Model):
    fraction: float = Field(gt=0, le=1)
    keep: list[str] = Field(default_factory=list, description="Fields copied from the earlier record "
                                                               "(default: all); the others are generated anew")


class ForEachDef(Model):
    entity: str
    where: str | None = Field(default=None, description="Only the records matching this filter")


class BlockDef(Model):
    entity: str
    records: list[dict[str, Any]] = Field(default_factory=list, description="Literal records")
    count: int | None = Field(default=None, ge=0)
    for_each: dict[str, str | ForEachDef] | None = Field(
        default=None, description="Link field -> entity (or {entity, where}): one record per combination")
    share: float = Field(default=1, gt=0, le=1, description="With for_each: share of the combinations kept")
    scale: bool = Field(default=True, description="Multiply count by the run's scale")
    fields: dict[str, GenSpec] = Field(default_factory=dict)
    tables: dict[str, TableGenDef] = Field(default_factory=dict)
    after_rows: dict[str, GenSpec] = Field(default_factory=dict,
                                           description="Fields generated after the table rows (may aggregate them)")
    variants: list[VariantDef] = Field(default_factory=list)
    duplicates: DuplicatesDef | None = None

    @model_validator(mode="after")
    def _shape(self) -> BlockDef:
        if self.count is not None and self.for_each is not None:
            raise ValueError("give 'count' or 'for_each', not both")
        if (self.count is not None or self.for_each is not None) is False and not self.records:
            raise ValueError("give 'records', a 'count' or 'for_each'")
        if sum(v.fraction for v in self.variants) > 1:
            raise ValueError("the fractions of the variants add up to more than 1")
        return self


@register_kind
class DatasetDef(Definition):
    """Seeded sample data for an app."""

    kind_name = "dataset"
    folder = "datasets"

    kind: Literal["dataset"] = "dataset"
    label: Label | None = None
    seed: int = Field(default=1, description="Default random seed")
    batch_size: int = Field(default=200, ge=1, le=10_000, description="Records per transaction")
    entities: list[BlockDef] = Field(min_length=1)

    def references(self) -> list[tuple[str, str]]:
        return [("entity", b.entity) for b in self.entities]

    def check(self, ctx: CheckContext) -> None:
        for i, block in enumerate(self.entities):
            path = ("entities", i)
            entity = ctx.ref((*path, "entity"), "entity", block.entity)
            if entity is None:
                continue
            if entity.child:
                ctx.error((*path, "entity"), f"'{block.entity}' is a child entity; generate its parent's rows")
                continue
            for link, each in (block.for_each or {}).items():
                target = each if isinstance(each, str) else each.entity
                f = entity.fields.get(link)
                if f is None or f.type != "link" or f.entity != target:
                    ctx.error((*path, "for_each", link), f"'{link}' must be a link field of {block.entity} to {target}")
                elif isinstance(each, ForEachDef) and each.where and ctx.app.get("entity", target) is not None:
                    ctx.expr((*path, "for_each", link, "where"), each.where, Scope(ctx.schema, target), T.BOOLEAN)
            self._check_fields(ctx, (*path, "fields"), block.fields, entity, {})
            self._check_fields(ctx, (*path, "after_rows"), block.after_rows, entity, {})
            self._check_tables(ctx, path, block.tables, entity)
            for j, v in enumerate(block.variants):
                self._check_fields(ctx, (*path, "variants", j, "fields"), v.fields, entity, {})
                self._check_tables(ctx, (*path, "variants", j), v.tables, entity)
            if block.duplicates:
                for j, k in enumerate(block.duplicates.keep):
                    if k not in entity.fields:
                        ctx.error((*path, "duplicates", "keep", j), f"unknown field '{k}' in {block.entity}")

    def _check_tables(self, ctx: CheckContext, path: tuple, tables: dict[str, TableGenDef], entity: Any) -> None:
        for tname, t in tables.items():
            tpath = (*path, "tables", tname)
            f = entity.fields.get(tname)
            if f is None or f.type != "table":
                ctx.error(tpath, f"'{tname}' is not a table field of {entity.name}", key=True)
                continue
            roots: dict[str, T.Type] = {"parent": T.record(entity.name)}
            if t.from_:
                link, _, table = t.from_.partition(".")
                lf = entity.fields.get(link)
                linked = ctx.app.get("entity", lf.entity) if lf is not None and lf.type == "link" else None
                src = linked.fields.get(table) if linked is not None else None
                if src is None or src.type != "table":
                    ctx.error((*tpath, "from"), f"'{t.from_}' must be 'link_field.table_field' of {entity.name}")
                else:
                    roots["source"] = T.record(src.entity or "")
            child = ctx.app.get("entity", f.entity or "")
            if child is not None:
                self._check_fields(ctx, (*tpath, "fields"), t.fields, child, roots)
            if isinstance(t.rows, GenDef):
                self._check_gen(ctx, (*tpath, "rows"), t.rows, None, entity, {})

    def _check_fields(self, ctx: CheckContext, path: tuple, fields: dict[str, GenSpec], entity: Any,
                      roots: dict[str, T.Type]) -> None:
        for fname, spec in fields.items():
            f = entity.fields.get(fname)
            if f is None:
                ctx.error((*path, fname), f"unknown field '{fname}' in {entity.name}", key=True)
            elif f.type in ("computed", "table"):
                ctx.error((*path, fname), f"'{fname}' is a {f.type} field and cannot be generated", key=True)
            elif isinstance(spec, GenDef):
                self._check_gen(ctx, (*path, fname), spec, f, entity, roots)

    def _check_gen(self, ctx: CheckContext, path: tuple, g: GenDef, f: Any, entity: Any,
                   roots: dict[str, T.Type]) -> None:
        if g.pick:
            target = ctx.ref((*path, "pick"), "entity", g.pick)
            if f is not None and (f.type != "link" or f.entity != g.pick):
                ctx.error((*path, "pick"), f"picking {g.pick} records needs a link field to {g.pick}")
            if target is not None and g.where:
                ctx.expr((*path, "where"), g.where, Scope(ctx.schema, g.pick), T.BOOLEAN)
        if g.expr:
            ctx.expr((*path, "expr"), g.expr, Scope(ctx.schema, entity.name, roots))
        if g.copy_ and "source" not in roots:
            ctx.error((*path, "copy"), "'copy' reads the source row of a table generated with 'from'")
        if g.choice is not None and f is not None and f.type == "enum":
            values = g.choice if isinstance(g.choice, list) else list(g.choice)
            bad = [str(v) for v in values if str(v) not in f.option_values]
            if bad:
                ctx.error((*path, "choice"), f"not options of {f.type} field: {', '.join(bad)} "
                                             f"(options: {', '.join(f.option_values)})")
        for k, item in enumerate(g.concat or []):
            if isinstance(item, GenDef):
                self._check_gen(ctx, (*path, "concat", k), item, None, entity, roots)
