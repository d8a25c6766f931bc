"""Report definitions: dimensions, measures, filters with typed parameters, sort, totals,
pivot, chart and alert over one source (an entity, or an entity's child table).

The same :meth:`ReportDef.analyze` pass serves the load-time check (errors located
in the YAML file) and the runtime compiler (``engine/reports``), so both agree on
names, scopes and types.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from .base import IDENT, Definition, Label, register_kind
from .check import CheckContext
from .expr import CompiledExpression, Scope
from .expr import types as T
from .report_parts import (  # noqa: F401 - re-exported: the parts belong to the report definition
    AT,
    EVERY,
    AlertDef,
    ChartDef,
    CohortDef,
    DimensionDef,
    MaterializeDef,
    MeasureDef,
    NotifyDef,
    ParamDef,
    param_value,
)
from .report_summary import summary_problems

ROW = "report row"  # the pseudo-entity whose fields are a result row's columns
_PARAM_TYPES = {"string": T.STRING, "integer": T.INTEGER, "decimal": T.DECIMAL, "boolean": T.BOOLEAN,
                "date": T.DATE, "datetime": T.DATETIME}
_ORDERED = ("integer", "decimal", "string", "date", "datetime")


@dataclass
class Source:
    entity: str  # the entity whose rows are grouped (a child entity for a table source)
    parent: str | None = None  # for PARENT.FIELD sources: the parent entity (the 'parent' root)
    field: str | None = None  # the table field

    @property
    def governed_entity(self) -> str:
        """The top-level entity whose row permissions apply."""
        return self.parent or self.entity


@dataclass
class Analysis:
    """What the check pass learned; compiled expressions are None where they failed."""

    source: Source | None = None
    param_types: dict[str, T.Type] = field(default_factory=dict)
    filters: list[CompiledExpression | None] = field(default_factory=list)
    dims: dict[str, tuple[CompiledExpression | None, T.Type]] = field(default_factory=dict)
    measures: dict[str, tuple[CompiledExpression | None, CompiledExpression | None, T.Type]] = field(
        default_factory=dict)
    formulas: dict[str, CompiledExpression | None] = field(default_factory=dict)
    windows: dict[str, tuple[str, str]] = field(default_factory=dict)  # measure -> (window, of)
    having: CompiledExpression | None = None
    alert_when: CompiledExpression | None = None
    cohort: tuple[CompiledExpression | None, CompiledExpression | None] | None = None  # (actor, date)

    def row_types(self) -> dict[str, T.Type]:
        out = {n: t for n, (_, t) in self.dims.items()}
        out.update({n: t for n, (_, _, t) in self.measures.items()})
        return out


class RowSchema:
    """A SchemaView where the pseudo-entity ``ROW`` has the result columns as fields."""

    def __init__(self, fields: Mapping[str, T.Type], app_schema: Any = None) -> None:
        self.fields = dict(fields)
        memos = getattr(app_schema, "row_memos", None)
        if memos is not None:  # expressions over these columns are compiled once per loaded app
            self.compiled = memos.setdefault(tuple(self.fields.items()), OrderedDict())

    def entity_fields(self, entity: str) -> Mapping[str, T.Type] | None:
        return self.fields if entity == ROW else None


Compile = Callable[[Sequence[str | int], Any, Scope, T.Type | None], CompiledExpression | None]
Report = Callable[[Sequence[str | int], str], None]


@register_kind
class ReportDef(Definition):
    """A report: grouped, aggregated figures over an entity (or an entity's child table)."""

    kind_name = "report"
    folder = "reports"

    kind: Literal["report"] = "report"
    label: Label | None = None
    source: str = Field(description="Entity, or ENTITY.TABLE_FIELD for the rows of a child table")
    params: dict[str, ParamDef] = Field(default_factory=dict)
    filters: list[str] = Field(default_factory=list, description="Conditions rows must meet (all of them)")
    dimensions: list[DimensionDef | str] = Field(default_factory=list)
    measures: list[MeasureDef] = Field(default_factory=list, description="At least one, unless 'cohort' is set")
    cohort: CohortDef | None = Field(default=None, description="A cohort retention report: rows are the "
                                                              "cohorts, columns the periods since")
    having: str | None = Field(default=None, description="Condition on result rows (dimensions and measures)")
    sort: list[str] = Field(default_factory=list, description="Column names; '-name' sorts descending")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="Keep the first N rows (top N)")
    totals: bool = False
    pivot: str | None = Field(default=None, description="Dimension whose values become columns")
    chart: ChartDef | None = None
    alert: AlertDef | None = None
    index: bool = Field(default=True, description="Create an index covering what the report reads on its "
                                                 "source table (schema sync); false: none")
    stored_buckets: bool = Field(default=True, description="Keep each time bucket the report groups by "
                                                           "(of a date field of its rows) in a generated "
                                                           "column in its index (schema sync); false: "
                                                           "compute it per row")
    summary: bool = Field(default=False, description="Keep a summary table of this report exact on every write "
                                                     "and answer runs from it (see docs/reports.md)")
    materialize: MaterializeDef | None = Field(default=None, description="Write the result rows into records "
                                                                         "of an entity (ordo report --into)")

    def dimension_list(self) -> list[DimensionDef]:
        return [d if isinstance(d, DimensionDef) else DimensionDef.of_path(d) for d in self.dimensions]

    def references(self) -> list[tuple[str, str]]:
        refs = [("entity", self.source.split(".")[0])]
        if self.materialize is not None:
            refs.append(("entity", self.materialize.into))
        return refs

    def check(self, ctx: CheckContext) -> None:
        out = self.analyze(ctx.schema, lambda path, text, scope, expect: ctx.expr(path, text, scope, expect),
                           ctx.error, resolve=lambda path, name: ctx.ref(path, "entity", name))
        if self.materialize is not None and out.source is not None:
            self.check_materialize(ctx, out)
        if self.summary:
            for path, message in summary_problems(self, out):
                ctx.error(path, message)

    def check_materialize(self, ctx: CheckContext, out: Analysis) -> None:
        m = self.materialize
        assert m is not None
        target = ctx.ref(("materialize", "into"), "entity", m.into)
        if target is None:
            return
        if target.child:
            ctx.error(("materialize", "into"), f"'{m.into}' is a child entity; materialize into a top-level entity")
            return
        if self.pivot is not None:
            ctx.error(("materialize",), "a pivoted report cannot be materialized (its columns depend on the data)")
        columns = list(out.dims) + list(out.measures)
        for i, k in enumerate(m.key):
            if k not in out.dims:
                ctx.error(("materialize", "key", i), f"unknown key column '{k}': keys are dimensions "
                                                     f"({', '.join(out.dims) or 'none'})")
        mapping = m.mapping(columns, target.fields)
        for fname, col in m.fields.items():
            if col not in columns:
                ctx.error(("materialize", "fields", fname), f"unknown result column '{col}' "
                                                            f"(columns: {', '.join(columns)})")
        for fname in mapping:
            f = target.fields.get(fname)
            if f is None:
                ctx.error(("materialize", "fields", fname), f"'{m.into}' has no field '{fname}'", key=True)
            elif f.type in ("computed", "table", "related"):
                ctx.error(("materialize", "fields", fname), f"cannot write the {f.type} field '{fname}'", key=True)
        for i, k in enumerate(m.key):
            if k in out.dims and k not in mapping.values():
                ctx.error(("materialize", "key", i), f"key column '{k}' is not written to any field of '{m.into}'")
        if m.where:
            ctx.expr(("materialize", "where"), m.where, Scope(ctx.schema, m.into), T.BOOLEAN)
        if m.every is not None:
            try:
                m.interval()
            except ValueError as e:
                ctx.error(("materialize", "every"), str(e))
        if m.at is not None and not AT.match(m.at):
            ctx.error(("materialize", "at"), f"invalid time {m.at!r} (use HH:MM)")
        for k, v in m.params.items():
            p = self.params.get(k)
            if p is None:
                ctx.error(("materialize", "params", k), f"unknown parameter '{k}'")
                continue
            try:
                param_value(p, v, dt.date(2000, 1, 1))
            except (ValueError, TypeError) as e:
                ctx.error(("materialize", "params", k), str(e))

    # -- the shared analysis
    def resolve_source(self, schema: Any, report: Report, resolve: Callable[[Any, str], Any]) -> Source | None:
        parts = self.source.split(".")
        if len(parts) > 2 or not all(re.match(IDENT, p) for p in parts):
            report(("source",), f"invalid source '{self.source}': use ENTITY or ENTITY.TABLE_FIELD")
            return None
        entity = resolve(("source",), parts[0])
        if entity is None:
            return None
        if len(parts) == 1:
            if entity.child:
                report(("source",), f"'{parts[0]}' is a child entity; use PARENT.TABLE_FIELD as the source")
                return None
            return Source(parts[0])
        f = entity.fields.get(parts[1])
        if f is None or f.type != "table":
            report(("source",), f"'{parts[1]}' is not a table field of {parts[0]}")
            return None
        return Source(f.entity, parent=parts[0], field=parts[1])

    def scope(self, schema: Any, source: Source, param_types: dict[str, T.Type]) -> Scope:
        roots = {"parent": T.record(source.parent)} if source.parent else {}
        return Scope(schema, source.entity, roots=roots, params=param_types)

    def analyze(self, schema: Any, compile: Compile, report: Report,
                resolve: Callable[[Any, str], Any]) -> Analysis:
        out = Analysis()
        out.param_types = self._params(report)
        out.source = self.resolve_source(schema, report, resolve)
        if out.source is None:
            return out
        scope = self.scope(schema, out.source, out.param_types)
        out.filters = [compile(("filters", i), text, scope, T.BOOLEAN) for i, text in enumerate(self.filters)]
        if self.cohort is not None:
            self._cohort(out, scope, compile, report)
            return out
        if not self.measures:
            report(("measures",), "a report needs at least one measure (or a 'cohort')")
        names: set[str] = set()
        for i, d in enumerate(self.dimension_list()):
            self._unique(names, d.name, ("dimensions", i), report)
            out.dims[d.name] = self._dimension(d, i, scope, compile, report)
        for i, m in enumerate(self.measures):
            self._unique(names, m.name, ("measures", i), report)
            if m.agg is not None:
                out.measures[m.name] = self._measure(m, i, scope, compile, report)
        row_scope = Scope(RowSchema(out.row_types(), schema), ROW, params=out.param_types)
        for i, m in enumerate(self.measures):
            if m.window is not None:
                of = out.measures.get(m.of or "")
                if of is None or m.of in out.windows:
                    report(("measures", i, "of"), f"'of: {m.of}' must name an aggregated or derived measure "
                                                  "declared before it")
                    of = (None, None, T.ANY)
                elif not (of[2].is_numeric or of[2].is_any):
                    report(("measures", i, "of"), f"'{m.of}' is not a number ({of[2]})")
                keeps = m.window in ("running_total", "change") and of[2].kind == "integer"
                out.windows[m.name] = (m.window, m.of or "")
                out.measures[m.name] = (None, None, T.INTEGER if keeps else T.DECIMAL)
                continue
            if m.formula is not None:
                row_scope.schema = RowSchema({n: t for n, (_, _, t) in out.measures.items()}, schema)
                c = compile(("measures", i, "formula"), m.formula, row_scope, None)
                if c is not None and not (c.type.is_numeric or c.type.is_any):
                    report(("measures", i, "formula"), f"a derived measure must be a number, got {c.type}")
                out.formulas[m.name] = c
                out.measures[m.name] = (None, None, c.type.plain() if c is not None else T.ANY)
        row_scope.schema = RowSchema(out.row_types(), schema)
        if self.having:
            out.having = compile(("having",), self.having, row_scope, T.BOOLEAN)
        self._layout(out, report)
        if self.alert is not None:
            out.alert_when = self._alert(self.alert, row_scope, compile, report)
        return out

    def _cohort(self, out: Analysis, scope: Scope, compile: Compile, report: Report) -> None:
        c = self.cohort
        assert c is not None
        for key in ("dimensions", "measures", "having", "pivot", "alert", "materialize", "chart", "limit"):
            if getattr(self, key):
                report((key,), f"a cohort report has no '{key}': its rows are the cohorts, its columns the "
                                "periods since")
        if self.summary or self.totals or self.sort:
            report(("cohort",), "a cohort report takes no 'summary', 'totals' or 'sort'")
        actor = compile(("cohort", "actor"), c.actor, scope, None)
        if actor is not None and actor.type.kind == "record":
            actor = compile(("cohort", "actor"), c.actor.strip() + ".name", scope, None)
        date = compile(("cohort", "date"), c.date, scope, None)
        if date is not None and date.type.kind not in ("date", "datetime") and not date.type.is_any:
            report(("cohort", "date"), f"'date' must be a date or datetime, got {date.type}")
        out.cohort = (actor, date)

    def _params(self, report: Report) -> dict[str, T.Type]:
        types: dict[str, T.Type] = {}
        today = dt.date(2000, 1, 1)
        for name, p in self.params.items():
            if not re.match(IDENT, name):
                report(("params", name), f"parameter name '{name}' must be lower case letters, digits and _")
            if p.type == "period":
                types[f"{name}_start"] = types[f"{name}_end"] = T.DATE
            else:
                types[name] = T.Type("string", options=tuple(p.options)) if p.options else _PARAM_TYPES[p.type]
            if p.options and p.type != "string":
                report(("params", name, "options"), "'options' apply to string parameters")
            if p.default is not None:
                try:
                    param_value(p, p.default, today)
                except (ValueError, TypeError) as e:
                    report(("params", name, "default"), f"invalid default: {e}")
        clash = [n for n in self.params if self.params[n].type != "period"
                 and any(p.type == "period" and n in (f"{k}_start", f"{k}_end") for k, p in self.params.items())]
        for n in clash:
            report(("params", n), f"parameter '{n}' clashes with a period parameter's :{n}")
        return types

    @staticmethod
    def _unique(names: set[str], name: str, path: tuple, report: Report) -> None:
        if name in names:
            report((*path, "name"), f"duplicate column name '{name}'")
        names.add(name)

    def _dimension(self, d: DimensionDef, i: int, scope: Scope, compile: Compile,
                   report: Report) -> tuple[CompiledExpression | None, T.Type]:
        c = compile(("dimensions", i, "expr"), d.expr, scope, None)
        if c is None:
            return None, T.ANY
        t = c.type
        if t.kind == "record":
            if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*", d.expr.strip()):
                report(("dimensions", i, "expr"), "a link used as a dimension must be a plain field path")
                return None, T.ANY
            c = compile(("dimensions", i, "expr"), d.expr.strip() + ".name", scope, None)
            return c, T.STRING
        if d.bucket is not None:
            if t.kind not in ("date", "datetime") and not t.is_any:
                report(("dimensions", i, "bucket"), f"'bucket' needs a date or datetime, got {t}")
            return c, T.DATE
        if t.kind in ("json", "list", "table"):
            report(("dimensions", i, "expr"), f"cannot group by a {t.kind} value")
        return c, t.plain()

    def _measure(self, m: MeasureDef, i: int, scope: Scope, compile: Compile,
                 report: Report) -> tuple[CompiledExpression | None, CompiledExpression | None, T.Type]:
        path = ("measures", i)
        expr = compile((*path, "expr"), m.expr, scope, None) if m.expr else None
        flt = compile((*path, "filter"), m.filter, scope, T.BOOLEAN) if m.filter else None
        if expr is not None and expr.type.kind == "record" and (m.expr or "").strip() == "parent":
            expr = compile((*path, "expr"), "parent.id", scope, None)  # the parent record, by id
        t = expr.type if expr is not None else T.ANY
        if m.agg in ("count", "count_distinct"):
            return expr, flt, T.INTEGER
        if m.agg in ("sum", "avg", "median", "percentile"):
            if not (t.is_numeric or t.is_any):
                report((*path, "expr"), f"{m.agg} needs a number, got {t}")
            return expr, flt, T.DECIMAL if (m.agg != "sum" or t.kind != "integer") else T.INTEGER
        if not (t.is_any or t.kind in _ORDERED):
            report((*path, "expr"), f"{m.agg} needs numbers, strings or dates, got {t}")
        return expr, flt, t.plain()

    def _layout(self, out: Analysis, report: Report) -> None:
        dims, measures = list(out.dims), list(out.measures)
        for i, s in enumerate(self.sort):
            name = s.strip().lstrip("+-").strip()
            if name not in out.dims and name not in out.measures:
                report(("sort", i), f"unknown column '{name}' (dimensions and measures: "
                                    f"{', '.join(dims + measures)})")
        if self.pivot is not None and self.pivot not in out.dims:
            report(("pivot",), f"unknown dimension '{self.pivot}' (known: {', '.join(dims) or 'none'})")
        c = self.chart
        if c is not None:
            for key in ("x", "series"):
                v = getattr(c, key)
                if v is not None and v not in out.dims:
                    report(("chart", key), f"unknown dimension '{v}'")
            for j, y in enumerate(c.measures):
                if y not in out.measures:
                    report(("chart", "y", j) if isinstance(c.y, list) else ("chart", "y"), f"unknown measure '{y}'")
            if c.type == "pie" and (len(c.measures) > 1 or c.series):
                report(("chart", "type"), "a pie chart shows one measure and no series")
            if not dims:
                report(("chart",), "a chart needs at least one dimension")

    def _alert(self, a: AlertDef, row_scope: Scope, compile: Compile, report: Report) -> CompiledExpression | None:
        try:
            a.interval()
        except ValueError as e:
            report(("alert", "every"), str(e))
        if a.on == "totals" and not self.totals:
            report(("alert", "on"), "an alert on totals needs 'totals: true'")
        if a.at is not None and not AT.match(a.at):
            report(("alert", "at"), f"invalid time {a.at!r} (use HH:MM)")
        for k, v in a.params.items():
            p = self.params.get(k)
            if p is None:
                report(("alert", "params", k), f"unknown parameter '{k}' (declared: {', '.join(self.params) or 'none'})")
                continue
            try:
                param_value(p, v, dt.date(2000, 1, 1))
            except (ValueError, TypeError) as e:
                report(("alert", "params", k), str(e))
        return compile(("alert", "when"), a.when, row_scope, T.BOOLEAN)
