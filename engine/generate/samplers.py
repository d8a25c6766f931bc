"""Value generators compiled once from dataset definitions and sampled with a seeded RNG.

A :class:`Sampler` is called with a :class:`GenContext` (the run's random
generator, the transaction, the record generated so far, its parent and source
rows); per-run state (sequence counters, record pools, date weights) lives in
the context, so one compiled dataset can run many times with the same results
for the same seed.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.dataset import DateDef, GenDef, GenSpec
from ordo.dsl.expr import Scope, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.field import FieldDef

from ..coerce import CoercionError, coerce

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction

Sampler = Callable[["GenContext"], Any]


@dataclass
class Pool:
    """Ids of the records a ``pick`` chooses from, with cumulative weights (Zipf or uniform)."""

    ids: list[int]
    cumulative: list[float] | None = None

    def draw(self, rng: random.Random) -> int:
        if self.cumulative is None:
            return self.ids[rng.randrange(len(self.ids))]
        x = rng.random() * self.cumulative[-1]
        return self.ids[min(bisect.bisect_right(self.cumulative, x), len(self.ids) - 1)]


@dataclass
class GenContext:
    rng: random.Random
    tx: Transaction
    today: dt.date
    record: dict[str, Any] = field(default_factory=dict)
    parent: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    siblings: dict[int, set[Any]] = field(default_factory=dict)  # distinct picks among the rows of one parent
    counters: dict[int, int] = field(default_factory=dict)
    pools: dict[tuple, Pool] = field(default_factory=dict)
    dates: dict[int, tuple[list[dt.date], list[float]]] = field(default_factory=dict)

    def roots(self, names: list[str]) -> list[Any]:
        values = {"parent": self.parent, "source": self.source}
        return [values.get(n) for n in names]


class Compiler:
    """Compiles generator definitions for one app."""

    def __init__(self, app: App) -> None:
        self.app = app

    def compile(self, spec: GenSpec, entity: str, fdef: FieldDef | None, roots: dict[str, T.Type]) -> Sampler:
        if not isinstance(spec, GenDef):
            return lambda ctx: spec
        base = self._main(spec, entity, fdef, roots)
        if spec.null_fraction > 0:
            share = spec.null_fraction
            inner = base

            def base(ctx: GenContext) -> Any:
                return None if ctx.rng.random() < share else inner(ctx)

        if fdef is None or fdef.type in ("link", "table", "computed"):
            return base
        typed = base

        def convert(ctx: GenContext) -> Any:  # later expressions see typed values
            value = typed(ctx)
            try:
                return coerce(fdef, value)
            except CoercionError:
                return value  # the store reports it with the field name

        return convert

    def _main(self, g: GenDef, entity: str, fdef: FieldDef | None, roots: dict[str, T.Type]) -> Sampler:
        if "const" in g.model_fields_set:
            return lambda ctx: g.const
        if g.sequence is not None:
            return self._sequence(g)
        if g.choice is not None:
            values = list(g.choice) if isinstance(g.choice, dict) else list(g.choice)
            cum = list(itertools.accumulate(g.choice.values())) if isinstance(g.choice, dict) else None
            if fdef is None or fdef.type == "integer":
                values = [_int_or(v) for v in values]
            return lambda ctx: ctx.rng.choices(values, cum_weights=cum)[0]
        if g.uniform is not None:
            lo, hi = g.uniform
            return lambda ctx: _number(ctx.rng.uniform(lo, hi), g, fdef)
        if g.normal is not None:
            mean, sd = g.normal.mean, g.normal.sd
            return lambda ctx: _number(ctx.rng.gauss(mean, sd), g, fdef)
        if g.date is not None:
            return self._date(g.date, fdef)
        if g.pattern is not None:
            return self._pattern(g.pattern)
        if g.fraction is not None:
            share = g.fraction
            return lambda ctx: g.value if ctx.rng.random() < share else g.otherwise
        if g.pick is not None:
            return self._pick(g)
        if g.expr is not None:
            expr = compile_expression(g.expr, Scope(self.app.definition.schema, entity, roots))
            return lambda ctx: expr(ctx.record, ctx.tx.env, *ctx.roots(expr.root_names))
        if g.copy_ is not None:
            name = g.copy_
            return lambda ctx: (ctx.source or {}).get(name)
        parts = [self.compile(p, entity, None, roots) for p in g.concat or []]
        return lambda ctx: "".join("" if (v := p(ctx)) is None else str(v) for p in parts)

    @staticmethod
    def _sequence(g: GenDef) -> Sampler:
        fmt, start = g.sequence or "{n}", g.start

        def sample(ctx: GenContext) -> str:
            key = id(g)
            n = ctx.counters.get(key, start)
            ctx.counters[key] = n + 1
            return fmt.format(n=n)

        return sample

    @staticmethod
    def _pattern(pattern: str) -> Sampler:
        def sample(ctx: GenContext) -> str:
            out = []
            for ch in pattern:
                if ch == "#":
                    out.append(str(ctx.rng.randrange(10)))
                elif ch == "?":
                    out.append(chr(65 + ctx.rng.randrange(26)))
                else:
                    out.append(ch)
            return "".join(out)

        return sample

    @staticmethod
    def _date(d: DateDef, fdef: FieldDef | None) -> Sampler:
        with_time = fdef is not None and fdef.type == "datetime"

        def days(ctx: GenContext) -> tuple[list[dt.date], list[float]]:
            key = id(d)
            if key not in ctx.dates:
                first = d.from_ if isinstance(d.from_, dt.date) else ctx.today + dt.timedelta(days=d.from_)
                last = d.to if isinstance(d.to, dt.date) else ctx.today + dt.timedelta(days=d.to)
                span = [first + dt.timedelta(days=i) for i in range(max((last - first).days + 1, 1))]
                weights = [d.seasonality.get(day.month, 1.0) * (d.weekdays[day.weekday()] if d.weekdays else 1.0)
                           for day in span]
                ctx.dates[key] = (span, list(itertools.accumulate(weights)))
            return ctx.dates[key]

        def sample(ctx: GenContext) -> Any:
            span, cum = days(ctx)
            day = ctx.rng.choices(span, cum_weights=cum)[0] if cum[-1] > 0 else span[0]
            if not with_time:
                return day
            hour = ctx.rng.randint(d.hours[0], d.hours[1])
            return dt.datetime(day.year, day.month, day.day, hour, ctx.rng.randrange(60), ctx.rng.randrange(60))

        return sample

    def _pick(self, g: GenDef) -> Sampler:
        entity, where, s = g.pick or "", g.where, g.zipf
        table = self.app.compiled.entities[entity].table
        clause = self.app.filters.where(entity, where, {})[1] if where else None

        def pool(ctx: GenContext) -> Pool:
            key = (entity, where, s)
            found = ctx.pools.get(key)
            if found is None:
                assert table is not None
                q = sa.select(table.c.id).order_by(table.c.id)
                if clause is not None:
                    q = q.where(clause)
                ids = [r.id for r in ctx.tx.conn.execute(q)]
                found = Pool(ids)
                if s is not None and ids:
                    ctx.rng.shuffle(found.ids)  # popularity does not follow creation order
                    found.cumulative = list(itertools.accumulate(1 / (rank ** s) for rank in range(1, len(ids) + 1)))
                ctx.pools[key] = found
            return found

        def sample(ctx: GenContext) -> Any:
            p = pool(ctx)
            if not p.ids:
                return None
            value = p.draw(ctx.rng)
            if g.distinct:
                used = ctx.siblings.setdefault(id(g), set())
                for _ in range(20):
                    if value not in used:
                        break
                    value = p.draw(ctx.rng)
                used.add(value)
            return value

        return sample


def _int_or(v: Any) -> Any:
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def _number(x: float, g: GenDef, fdef: FieldDef | None) -> Any:
    if g.min is not None:
        x = max(x, g.min)
    if g.max is not None:
        x = min(x, g.max)
    if fdef is None or fdef.type == "integer":
        return int(round(x))
    digits = g.round
    if fdef.type in ("decimal", "money"):
        scale = fdef.decimal_shape()[1]
        digits = scale if digits is None else min(digits, scale)
    if digits is None:
        return x
    return Decimal(str(round(x, digits)))
