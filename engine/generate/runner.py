"""Run a dataset: generate records block by block and write them through the store
in batches (one transaction per batch, one savepoint per record), reporting progress.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.dataset import BlockDef, DatasetDef, GenDef, TableGenDef
from ordo.dsl.expr import types as T

from ..actor import UserLike
from ..errors import OrdoError, UsageError, ValidationFailed
from ..seed import _naming_field
from .samplers import Compiler, GenContext, Sampler

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction

Progress = Callable[[str, int, int], None]  # (entity, done, total)
MAX_MESSAGES = 20


@dataclass
class GenerateResult:
    dataset: str
    seed: int
    scale: float
    created: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # literal records that already existed
    duplicates_rejected: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def _add(self, counter: dict[str, int], entity: str) -> None:
        counter[entity] = counter.get(entity, 0) + 1

    def summary(self) -> str:
        parts = [f"{n} {e}" for e, n in self.created.items()]
        text = f"dataset {self.dataset} (seed {self.seed}): created " + (", ".join(parts) or "nothing")
        if self.duplicates_rejected:
            text += "; duplicates refused: " + ", ".join(f"{n} {e}" for e, n in self.duplicates_rejected.items())
        if self.errors:
            text += "; refused: " + ", ".join(f"{n} {e}" for e, n in self.errors.items())
        return text


@dataclass
class _Table:
    name: str
    rows: Sampler | int | None
    source: tuple[str, str, str] | None  # (link field, table field of the linked record, linked entity)
    fields: dict[str, Sampler]


@dataclass
class _Block:
    defn: BlockDef
    fields: dict[str, Sampler]
    tables: dict[str, _Table]
    after_rows: dict[str, Sampler]
    variants: list[tuple[float, dict[str, Sampler], dict[str, _Table]]]


class CompiledDataset:
    def __init__(self, app: App, defn: DatasetDef) -> None:
        self.app = app
        self.defn = defn
        self.compiler = Compiler(app)
        self.blocks = [self._block(b) for b in defn.entities]

    def _fields(self, entity: str, specs: dict[str, Any], roots: dict[str, T.Type]) -> dict[str, Sampler]:
        ce = self.app.compiled.entities[entity]
        return {f: self.compiler.compile(s, entity, ce.fields[f].defn, roots) for f, s in specs.items()}

    def _tables(self, entity: str, specs: dict[str, TableGenDef]) -> dict[str, _Table]:
        ce = self.app.compiled.entities[entity]
        out = {}
        for tname, t in specs.items():
            child = ce.fields[tname].child
            assert child is not None
            roots: dict[str, T.Type] = {"parent": T.record(entity)}
            source = None
            if t.from_:
                link, _, table = t.from_.partition(".")
                linked = self.app.compiled.entities[ce.fields[link].defn.entity or ""]
                roots["source"] = T.record(linked.fields[table].defn.entity or "")
                source = (link, table, linked.name)
            rows: Sampler | int | None = (self.compiler.compile(t.rows, entity, None, {})
                                          if isinstance(t.rows, GenDef) else t.rows)
            out[tname] = _Table(tname, rows, source, self._fields(child.name, t.fields, roots))
        return out

    def _block(self, b: BlockDef) -> _Block:
        variants = []
        for v in b.variants:
            fields = self._fields(b.entity, v.fields, {})
            tables = self._tables(b.entity, v.tables)
            variants.append((v.fraction, fields, tables))
        return _Block(b, self._fields(b.entity, b.fields, {}), self._tables(b.entity, b.tables),
                      self._fields(b.entity, b.after_rows, {}), variants)

    # -- running
    def run(self, user: UserLike, *, seed: int | None = None, scale: float = 1.0, batch_size: int | None = None,
            progress: Progress | None = None) -> GenerateResult:
        if scale <= 0:
            raise UsageError(f"scale must be positive, got {scale}")
        seed = self.defn.seed if seed is None else seed
        rng = random.Random(seed)
        result = GenerateResult(self.defn.name, seed, scale)
        size = batch_size or self.defn.batch_size
        counters: dict[int, int] = {}
        for block in self.blocks:
            b = block.defn
            if b.records:
                self._literals(user, b, result)
            if b.count is None and b.for_each is None:
                continue
            with self.app.reader(user) as tx:
                plan = self._plan(tx, b, rng, scale)
            done = 0
            history: list[dict[str, Any]] = []
            pools: dict[tuple, Any] = {}  # picked records, loaded once per block (popularity stays put)
            dates: dict[int, Any] = {}
            while done < len(plan):
                with self.app.transaction(user) as tx:
                    ctx = GenContext(rng, tx, self.app.clock.today(), counters=counters, pools=pools, dates=dates)
                    for links in plan[done:done + size]:
                        self._one(ctx, block, links, history, result)
                done = min(done + size, len(plan))
                if progress is not None:
                    progress(b.entity, done, len(plan))
        return result

    def _plan(self, tx: Transaction, b: BlockDef, rng: random.Random, scale: float) -> list[dict[str, Any]]:
        """One entry per record to generate: the link values fixed by for_each (else empty)."""
        if b.for_each is None:
            n = b.count or 0
            if b.scale and n:
                n = max(1, round(n * scale))
            return [{} for _ in range(n)]
        lists = []
        for link, each in b.for_each.items():
            target, where = (each, None) if isinstance(each, str) else (each.entity, each.where)
            table = self.app.compiled.entities[target].table
            assert table is not None
            q = sa.select(table.c.id).order_by(table.c.id)
            if where:
                q = q.where(self.app.filters.where(target, where, {})[1])
            ids = [r.id for r in tx.conn.execute(q)]
            lists.append([(link, i) for i in ids])
        return [dict(combo) for combo in itertools.product(*lists) if b.share >= 1 or rng.random() < b.share]

    def _literals(self, user: UserLike, b: BlockDef, result: GenerateResult) -> None:
        key_field = _naming_field(self.app, b.entity)
        with self.app.transaction(user) as tx:
            for data in b.records:
                key = data.get("name") or (data.get(key_field) if key_field else None)
                if key is not None and tx.find(b.entity, key) is not None:
                    result._add(result.skipped, b.entity)
                    continue
                self._write(tx, b.entity, data, False, result)

    def _one(self, ctx: GenContext, block: _Block, links: dict[str, Any], history: list[dict[str, Any]],
             result: GenerateResult) -> None:
        fields, tables = block.fields, block.tables
        r = ctx.rng.random()
        for fraction, vfields, vtables in block.variants:
            if r < fraction:
                fields, tables = {**fields, **vfields}, {**tables, **vtables}
                break
            r -= fraction
        dup = block.defn.duplicates
        is_dup = dup is not None and bool(history) and ctx.rng.random() < dup.fraction
        original = history[ctx.rng.randrange(len(history))] if is_dup else None
        record: dict[str, Any] = dict(links)
        ctx.record, ctx.parent, ctx.source = record, None, None
        for name, sampler in fields.items():
            record[name] = sampler(ctx)
        for tname, table in tables.items():
            record[tname] = self._rows(ctx, record, table)
        for name, sampler in block.after_rows.items():
            record[name] = sampler(ctx)
        if original is not None:
            keep = dup.keep if dup and dup.keep else list(original)
            record.update({k: original[k] for k in keep if k in original})
        elif len(history) < 5000:
            history.append(record)
        self._write(ctx.tx, block.defn.entity, record, is_dup, result)

    def _rows(self, ctx: GenContext, record: dict[str, Any], table: _Table) -> list[dict[str, Any]]:
        n = table.rows(ctx) if callable(table.rows) else table.rows
        sources: list[dict[str, Any] | None]
        if table.source is not None:
            link, tname, target = table.source
            linked = ctx.tx.env.link(target, record[link]) if record.get(link) is not None else None
            available = list((linked or {}).get(tname) or [])
            k = len(available) if n is None else min(int(n), len(available))
            sources = ctx.rng.sample(available, k) if k else []
        else:
            sources = [None] * int(n or 0)
        ctx.siblings = {}
        rows = []
        for src in sources:
            row: dict[str, Any] = {}
            ctx.record, ctx.parent, ctx.source = row, record, src
            for name, sampler in table.fields.items():
                row[name] = sampler(ctx)
            rows.append(row)
        ctx.record, ctx.parent, ctx.source = record, None, None
        return rows

    def _write(self, tx: Transaction, entity: str, data: dict[str, Any], is_dup: bool,
               result: GenerateResult) -> None:
        clean = {k: v for k, v in data.items() if v is not None}
        savepoint = tx.conn.begin_nested()
        try:
            tx.create(entity, clean)
        except ValidationFailed as e:
            savepoint.rollback()
            if is_dup and any("already" in err.message for err in e.errors):
                result._add(result.duplicates_rejected, entity)
                return
            result._add(result.errors, entity)
            if len(result.messages) < MAX_MESSAGES:
                result.messages.append(str(e))
            return
        except OrdoError:
            savepoint.rollback()
            raise
        savepoint.commit()
        result._add(result.created, entity)
