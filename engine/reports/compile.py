"""A report definition compiled once into SQL building blocks; one statement per run.

Expressions are compiled when the app opens. Each run turns them into SQL over a
fresh :class:`JoinPlan` (the caller's row filter may add joins) and assembles a
single statement:

    SELECT * FROM (SELECT dims, aggregates, derived FROM src LEFT JOIN ... WHERE filters
                   AND row_filter GROUP BY 1, 2) WHERE having ORDER BY ... LIMIT n
    [UNION ALL the same grouped by fewer dimensions, for totals and pivot totals]

Aggregation always happens in the database; parameters are bound.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.base import humanize, label_text
from ordo.dsl.errors import DefinitionError, DefinitionErrors, ExpressionError, ExpressionErrors
from ordo.dsl.expr import CompiledExpression, ast, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.expr.sql_constructs import SafeDiv
from ordo.dsl.expr.to_sql import to_sql
from ordo.dsl.report import ReportDef, Source
from ordo.dsl.report_dates import ALL_END, ALL_START

from ..errors import PermissionDenied
from ..query import conjuncts, is_cheap, readable_first
from ..scales import expr_scale
from .buckets import DateBucket
from .grouping import MARK, aggregate, groupings, typed
from .sources import JoinPlan, JoinSource, RowSource
from .stored_buckets import bucket_column

if TYPE_CHECKING:
    from ..app import App
    from ..query import Guard
    from ..records import Transaction

MAX_GROUPS = 100_000


@dataclass(frozen=True)
class Dimension:
    name: str
    label: str
    expr: CompiledExpression
    type: T.Type
    bucket: str | None


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    agg: str | None
    expr: CompiledExpression | None
    filter: CompiledExpression | None
    formula: CompiledExpression | None
    type: T.Type
    format: str | None
    decimals: int | None
    window: tuple[str, str] | None = None  # (running_total / share / change / growth, the measure it reads)


@dataclass
class Built:
    """SQL pieces of one run."""

    plan: JoinPlan
    source: JoinSource
    roots: dict[str, JoinSource]
    where: list[Any]
    dims: dict[str, Any]
    measures: dict[str, Any]  # aggregated measures (formulas are computed over them, see finish)
    allowed: Any = None  # the user's read filter on the governed rows (None: all rows)
    measures_in: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # (value, condition) per aggregate
    dialect: str = "sqlite"
    summary: Any = None  # the maintained summary answering this run (summary.py), None: scan
    summary_where: list[Any] = field(default_factory=list)  # its conditions (a bounded period on its buckets)


def _strict(path, text, scope, expect) -> CompiledExpression:
    return compile_expression(text, scope, expect)


def _refuse(path, message) -> None:
    raise ValueError(message)


class CompiledReport:
    def __init__(self, app: App, defn: ReportDef) -> None:
        self.app = app
        self.defn = defn
        self.name = defn.name
        self.label = label_text(defn.label, fallback=humanize(defn.name))
        try:
            a = defn.analyze(app.definition.schema, _strict, _refuse,
                             lambda path, name: app.definition.get("entity", name))
        except (ValueError, ExpressionError, ExpressionErrors) as e:  # definitions were checked at load
            raise DefinitionErrors([DefinitionError(f"report {defn.name}: {e}", file=f"<report {defn.name}>")]) \
                from None
        assert a.source is not None
        self.source: Source = a.source
        self.param_types = a.param_types
        self.filters = [f for f in a.filters if f is not None]
        self.dimensions = [Dimension(d.name, label_text(d.label, fallback=humanize(d.name)), a.dims[d.name][0],
                                     a.dims[d.name][1], d.bucket) for d in defn.dimension_list()]
        self.measures = [Measure(m.name, label_text(m.label, fallback=humanize(m.name)), m.agg,
                                 a.measures[m.name][0], a.measures[m.name][1], a.formulas.get(m.name),
                                 a.measures[m.name][2], m.format, m.decimals, a.windows.get(m.name))
                         for m in defn.measures]
        self.dim = {d.name: d for d in self.dimensions}
        self.defn_measure = {m.name: m for m in defn.measures}
        self.measure = {m.name: m for m in self.measures}
        self.having = a.having
        self.alert_when = a.alert_when
        self.sort = [(s.strip().lstrip("+-").strip(), s.strip().startswith("-")) for s in defn.sort]
        self.cohort: tuple[CompiledExpression, CompiledExpression] | None = a.cohort  # type: ignore[assignment]
        exprs = [*self.filters, *(d.expr for d in self.dimensions), *(a.cohort or ()),
                 *(e for m in self.measures for e in (m.expr, m.filter) if e is not None)]
        source = {(self.source.parent, self.source.field)} if self.source.parent and self.source.field else set()
        # (entity, field) of every field the report reads: a reader from whom one is hidden may not run it
        self.reads: frozenset[tuple[str, str]] = frozenset(source | fields_read(exprs))
        self.summary: Any = None  # its maintained summary (summary.py), when it declares one
        self.stored: dict[str, str] = {}  # dimension -> the generated column keeping its bucket (stored_buckets.py)
        self.stored_sources: tuple[str, ...] = ()  # the columns those buckets are computed from

    def check_reader(self, tx: Transaction) -> None:
        """Refuse a reader from whom a field this report reads is hidden (no column, filter or group
        may show it); which field is not said."""
        perms = self.app.permissions
        if perms.unrestricted(tx.user):
            return
        if any(f in perms.hidden(tx.user, e) for e, f in self.reads):
            raise PermissionDenied(f"{tx.user.name} may not run report {self.name}: it reads fields hidden "
                                   "from them")

    # -- SQL pieces
    def base(self, guard: Guard | None = None) -> tuple[JoinPlan, JoinSource, dict[str, JoinSource], JoinSource]:
        """(plan, source of the grouped rows, expression roots, source of the governed entity).

        ``guard``: the user's read guard, restricting every link and related row the report's
        expressions reach to what the user may read."""
        entities = self.app.compiled.entities
        src = self.source
        if src.parent is None:
            table = entities[src.entity].table
            assert table is not None
            base = table.alias("src")
            plan = JoinPlan(self.app.compiled, base, guard)
            s = JoinSource(plan, src.entity, base)
            return plan, s, {}, s
        child = entities[src.parent].fields[src.field or ""].child_table
        assert child is not None
        base = child.alias("src")
        plan = JoinPlan(self.app.compiled, base, guard)
        s = JoinSource(plan, src.entity, base)
        parent = plan.join(("parent",), src.parent, base.c.parent_id, outer=False)  # rows belong to it
        return plan, s, {"parent": parent}, parent

    def build(self, tx: Transaction, binds: Mapping[str, Any] | None = None) -> Built:
        """The SQL pieces of a run as ``tx.user``; ``binds``: the values the statement runs with (a
        period left open drops its comparisons, parameters bound to a value are known not null)."""
        self.check_reader(tx)
        plan, src, roots, governed = self.base(tx.guard)
        clock = self._clock
        binds = binds or {}
        bound = frozenset(k for k, v in binds.items() if v is not None)
        cheap: list[Any] = []
        rest: list[Any] = []
        seen: set[str] = set()
        for f in self.filters:
            for part in conjuncts(f.tree):
                side = open_side(part, binds)
                if side is not None:  # x >= :period_start with no period asked: only "x is not null" remains
                    sql = to_sql(side, src, roots, clock).is_not(None)
                    key = str(sql)
                    if key not in seen:
                        seen.add(key)
                        (cheap if is_cheap(part) else rest).append(sql)
                    continue
                sql = to_sql(part, src, roots, clock, where=True, not_null_params=bound)
                (cheap if is_cheap(part) else rest).append(sql)
        allowed = tx.row_filter(self.source.governed_entity, governed.unguarded())
        where = readable_first(allowed, cheap, rest)
        dims = {}
        for d in self.dimensions:
            if d.name in self.stored and tx.conn.dialect.name != "sqlite":
                # the same bucket, computed by the database when the row was written (on SQLite the
                # index holds the expression itself: see stored_buckets.py)
                dims[d.name] = bucket_column(src.table, self.stored[d.name])
                continue
            sql = d.expr.to_sql(src, roots, clock)
            dims[d.name] = DateBucket(d.bucket, sql) if d.bucket else sql
        measures: dict[str, Any] = {}
        inputs: dict[str, tuple[Any, Any]] = {}
        for m in self.measures:
            if m.formula is not None or m.window is not None:
                continue
            value = m.expr.to_sql(src, roots, clock) if m.expr is not None else None
            cond = m.filter.to_sql(src, roots, clock, where=True, not_null_params=bound) \
                if m.filter is not None else None
            inputs[m.name] = (value, cond)
            measures[m.name] = aggregate(m.agg or "count", value, cond, self.defn_measure[m.name].p)
        answer = self.summary.answer(tx, binds) if self.summary is not None else None
        summary = self.summary if answer is not None else None
        return Built(plan, src, roots, where, dims, measures, allowed, inputs, tx.conn.dialect.name, summary,
                     answer or [])

    # -- how columns are shown
    def title(self, lang: str = "en") -> str:
        """The report's label in ``lang``."""
        return label_text(self.defn.label, lang, self.label)

    def column_label(self, name: str, lang: str = "en") -> str:
        """The label of dimension or measure ``name`` in ``lang``."""
        for d in self.defn.dimension_list():
            if d.name == name:
                if d.label is None:  # a field path: the field's own label
                    f = self._field(name, d.expr)
                    if f is not None and f.label is not None:
                        return label_text(f.label, lang, self.dim[name].label)
                return label_text(d.label, lang, self.dim[name].label)
        for m in self.defn.measures:
            if m.name == name:
                return label_text(m.label, lang, self.measure[name].label)
        return name

    def _field(self, name: str, text: str) -> Any:
        """The field a dimension shows when its expression ``text`` is a plain field path (a link
        dimension is compiled as ``path.name``: the link field), else None."""
        tree = self.dim[name].expr.tree
        if not isinstance(tree, ast.Path) or not tree.steps:
            return None
        step = tree.steps[len(text.strip().split(".")) - 1] if len(tree.steps) >= len(text.strip().split(".")) \
            else tree.steps[-1]
        entity = self.app.definition.get("entity", step.entity or "")
        return entity.fields.get(step.name) if entity is not None else None

    def options(self, name: str, lang: str = "en") -> tuple[tuple[str, str], ...] | None:
        """(value, label in ``lang``) of a dimension that is an enum field, else None."""
        d = next(d for d in self.defn.dimension_list() if d.name == name)
        f = self._field(name, d.expr)
        if f is None or f.type != "enum" or d.bucket is not None:
            return None
        return tuple((o, o) if isinstance(o, str) else (o.value, label_text(o.label, lang, o.value))
                     for o in f.options or ())

    def scale(self, name: str) -> int | None:
        """Decimal places of a column's values: ``decimals``, money 2, integer 0, else what the
        aggregated expression fixes (a sum of money: 2); None when nothing fixes them."""
        m = self.measure.get(name)
        if m is None:
            d = self.dim[name]
            return expr_scale(self.app.compiled, d.expr.tree) if d.type.kind == "decimal" else None
        if m.window is not None and m.window[0] in ("running_total", "change") and m.decimals is None:
            return self.scale(m.window[1])
        if m.format == "percent":
            return (1 if m.decimals is None else m.decimals) + 2  # a ratio: 12.5% is 0.125
        if m.decimals is not None:
            return m.decimals
        if m.format == "money":
            return 2
        if m.format == "integer" or m.type.kind == "integer" or m.agg in ("count", "count_distinct"):
            return 0
        if m.agg in ("sum", "min", "max") and m.expr is not None:
            return expr_scale(self.app.compiled, m.expr.tree)
        return None

    def _clock(self) -> Any:
        return self.app.clock

    def base_measures(self) -> list[Measure]:
        """The aggregated measures (formulas are computed over them, each once per row)."""
        return [m for m in self.measures if m.formula is None and m.window is None]

    def finish(self, grouping: sa.Select, alias: str, having: bool = False) -> sa.Select:
        """The result columns of a grouping: dimensions, every measure (a formula computed over the
        aggregated columns, so a measure it reuses is aggregated once), the mark; ``having`` applied."""
        sub = grouping.subquery(alias)
        values: dict[str, Any] = {}
        cols = [sub.c[d.name] for d in self.dimensions]
        for m in self.measures:
            if m.window is not None:
                values[m.name] = self._window(m.window, values[m.window[1]], sub)
                cols.append(typed(values[m.name], m.type).label(m.name))
            elif m.formula is None:
                values[m.name] = sub.c[m.name]
                cols.append(sub.c[m.name])
            else:
                values[m.name] = m.formula.to_sql(RowSource(values), clock=self._clock)
                cols.append(typed(values[m.name], m.type).label(m.name))
        q = sa.select(*cols, sub.c[MARK])
        if not having or self.having is None:
            return q
        out = q.subquery(f"{alias}h")
        return sa.select(*out.c).where(self.having.to_sql(RowSource(out.c), clock=self._clock, where=True))

    def _window(self, window: tuple[str, str], value: Any, sub: Any) -> Any:
        """A measure across result rows (SQL window functions over the grouped rows, before ``having``
        and ``limit``): along the first date-bucketed dimension (else the first dimension), separately
        for each combination of the other dimensions."""
        kind = window[0]
        if kind == "share":  # of the grand total of all groups
            return SafeDiv(value, sa.func.sum(value).over())
        along = next((d for d in self.dimensions if d.bucket), self.dimensions[0] if self.dimensions else None)
        if along is None:  # no dimension: one row
            return value if kind == "running_total" else sa.null()
        others = [sub.c[d.name] for d in self.dimensions if d.name != along.name]
        order = [sa.case((sub.c[along.name].is_(None), 1), else_=0), sub.c[along.name]]
        if kind == "running_total":
            return sa.func.sum(value).over(partition_by=others or None, order_by=order, rows=(None, 0))
        previous = sa.func.lag(value).over(partition_by=others or None, order_by=order)
        return value - previous if kind == "change" else SafeDiv(value - previous, previous)

    def order(self, cols: Any) -> list[Any]:
        keys = list(self.sort) or [(d.name, False) for d in self.dimensions]
        keys += [(d.name, False) for d in self.dimensions if d.name not in {k for k, _ in keys}]
        out: list[Any] = []
        for name, desc in keys:
            c = cols[name]
            out += [sa.case((c.is_(None), 1), else_=0), c.desc() if desc else c.asc()]
        return out

    def statement(self, built: Built, *, pivot_sets: list[tuple[tuple[str, ...], int]] | None = None,
                  capped: bool = True) -> sa.Select:
        """The single SQL statement of a run (totals computed in the same pass where possible);
        ``capped=False``: every row (a streamed export), else at most ``MAX_GROUPS + 1``."""
        all_dims = tuple(d.name for d in self.dimensions)
        if pivot_sets is not None:
            parts = groupings(self, built, [(all_dims, 0), *pivot_sets])
            shaped = [self.finish(p, f"g{i}", having=i == 0) for i, p in enumerate(parts)]
            if len(shaped) == 1:
                return shaped[0].limit(MAX_GROUPS + 1) if capped else shaped[0]
            u = sa.union_all(*shaped).subquery("u")
            return sa.select(*u.c).limit(4 * (MAX_GROUPS + 1)) if capped else sa.select(*u.c)
        parts = groupings(self, built, [(all_dims, 0), ((), 1)] if self.defn.totals else [(all_dims, 0)])
        main = self.finish(parts[0], "g0", having=True).subquery("r")
        q = sa.select(*main.c).order_by(*self.order(main.c))
        if capped:
            q = q.limit(min(self.defn.limit or MAX_GROUPS + 1, MAX_GROUPS + 1))
        elif self.defn.limit:
            q = q.limit(self.defn.limit)
        if not self.defn.totals:
            return q
        u = sa.union_all(sa.select(*q.subquery("top").c), self.finish(parts[1], "g1")).subquery("u")
        return sa.select(*u.c).order_by(u.c[MARK], *self.order(u.c))


def open_side(part: ast.Node, binds: Mapping[str, Any]) -> ast.Node | None:
    """The compared expression of ``x >= :p`` (or ``x < :p``, ``:p <= x`` ...) when parameter ``p`` is
    bound to the first (last) day of the calendar: an open period bound, true for any non-null ``x``."""
    if not isinstance(part, ast.Binary) or part.op not in ("<", "<=", ">", ">="):
        return None
    for param, other, lower_ops in ((part.right, part.left, (">=",)), (part.left, part.right, ("<=",))):
        if not isinstance(param, ast.Param) or param.name not in binds:
            continue
        value = binds[param.name]
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            return None
        if value == ALL_START and part.op in lower_ops:
            return other
        upper_ops = ("<", "<=") if lower_ops == (">=",) else (">", ">=")
        if value == ALL_END and part.op in upper_ops:
            return other
    return None


def fields_read(exprs: list[CompiledExpression]) -> set[tuple[str, str]]:
    """(entity, field) of every field the expressions name, through links and aggregates."""
    out = set()
    for e in exprs:
        for node in ast.walk(e.tree):
            if isinstance(node, ast.Path):
                out.update((s.entity, s.name) for s in node.steps if s.entity is not None)
    return out


def convert(row: Mapping[str, Any], columns: Mapping[str, T.Type]) -> dict[str, Any]:
    """A fetched row with integer columns as int (PostgreSQL sums come back as numeric)."""
    out = {}
    for name, t in columns.items():
        v = row[name]
        if v is not None and t.kind == "integer" and not isinstance(v, bool):
            v = int(v)
        out[name] = v
    return out
