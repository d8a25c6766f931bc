"""Maintained summaries (``summary: true``): a report answered from a table kept exact on every write.

The summary table ``ordo_summary_<report>`` has one row per combination of dimension values
(``k``: the values as a key), the additive parts of each measure (a sum, a count; an average as
both) and ``_rows``, the number of source records in the group. A write listener
(``app.on_write``) takes a written record's contribution out of its old group and adds it to its
new one with one upsert per group, inside the writing transaction: a report read right after a
write sees it, and a rolled-back write leaves the summary as it was. Concurrent writers on
PostgreSQL serialize on the group's row (``INSERT ... ON CONFLICT DO UPDATE``).

``ordo report rebuild APP NAME`` recomputes the table from a full scan and marks it built (until
then, and after the report's shape changed, runs scan); ``ordo report verify APP NAME`` compares it
with a scan. A run uses the summary only when the reader may read every row and field (no row
rule applies to them) and every period filter is left open or bounded on the first day of a bucket
the summary groups the compared date by (a month summary answers ``this_year``); otherwise it
scans: the same figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr import CompiledExpression, ast
from ordo.dsl.expr.to_python import to_python
from ordo.dsl.expr.to_sql import to_sql
from ordo.dsl.report_dates import ALL_END, ALL_START, start_of
from ordo.dsl.report_summary import is_period_filter, period_bounds

from ..actor import SYSTEM
from ..errors import PermissionDenied, UsageError
from ..query import conjuncts
from ..scales import expr_scale
from ..tables import SYSTEM_METADATA, TableSpec, build_table, ident
from .buckets import DateBucket
from .compile import open_side
from .grouping import aggregate, typed, typed_null
from .sources import JoinPlan, JoinSource

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction, WriteEvent
    from .compile import Built, CompiledReport

state_table = sa.Table(
    "ordo_summary_state", SYSTEM_METADATA,
    sa.Column("report", sa.String(200), primary_key=True),
    sa.Column("signature", sa.String(64), nullable=False),  # the summary's shape when it was built
    sa.Column("built_at", sa.DateTime(), nullable=False),
)

_DIM_SIGNATURES = {"string": "text", "integer": "integer", "date": "date", "datetime": "datetime",
                   "boolean": "boolean", "decimal": "decimal(38,10)"}


def _plain(v: Any) -> Any:
    """A dimension value as JSON, the same whether it came from Python or from SQL."""
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def group_key(values: list[Any]) -> str:
    return json.dumps([_plain(v) for v in values], separators=(",", ":"))


class Part:
    """One stored column: the sum or the count of a measure's value over the group's rows."""

    def __init__(self, column: str, kind: str, value: CompiledExpression | None, cond: CompiledExpression | None,
                 signature: str) -> None:
        self.column, self.kind, self.value, self.cond, self.signature = column, kind, value, cond, signature

    def of(self, record: dict[str, Any], env: Any) -> Any:
        if self.cond is not None and not self.cond(record, env):
            return 0
        v = self.value(record, env) if self.value is not None else 1
        if self.kind == "count":
            return 0 if v is None else 1
        return 0 if v is None else v


class Summary:
    """The summary of one report: its table, how a record contributes, how runs read it."""

    def __init__(self, app: App, report: CompiledReport) -> None:
        self.app = app
        self.report = report
        self.name = report.name
        self.entity = report.source.entity
        bounds = period_bounds(report.defn)
        self.fixed = [f for f in report.filters if not is_period_filter(f, bounds)]
        self.periods = [part for f in report.filters if is_period_filter(f, bounds) for part in conjuncts(f.tree)]
        # an open period still leaves out rows whose compared value is null (x >= date 1: null for null)
        self.dated_nodes = [side for part in self.periods
                            if (side := open_side(part, dict.fromkeys(period_names(part), ALL_START)) or
                                open_side(part, dict.fromkeys(period_names(part), ALL_END))) is not None]
        self.dated = [to_python(side)[0] for side in self.dated_nodes]
        self.dims = [(d, f"d_{d.name}") for d in report.dimensions]
        # period comparisons the summary's buckets can answer: part -> (parameter, op, [(column, bucket)])
        self.bucketed = {id(part): b for part in self.periods if (b := self._bucketed(part)) is not None}
        self.parts: list[Part] = []
        self.measure_parts: dict[str, list[Part]] = {}
        for m in report.base_measures():
            scale = expr_scale(app.compiled, m.expr.tree) if m.expr is not None else 0
            total_sig = "integer" if m.expr is not None and m.expr.type.kind == "integer" else \
                f"decimal(38,{10 if scale is None else scale})"
            mine = []
            if m.agg in ("sum", "avg"):
                mine.append(Part(f"s_{m.name}", "sum", m.expr, m.filter, total_sig))
            if m.agg in ("count", "avg"):
                mine.append(Part(f"n_{m.name}", "count", m.expr, m.filter, "integer"))
            self.measure_parts[m.name] = mine
            self.parts += mine
        columns = {"id": "integer", "k": "text"}
        columns |= {col: "date" if d.bucket else _DIM_SIGNATURES.get(d.type.kind, "text") for d, col in self.dims}
        columns |= {p.column: p.signature for p in self.parts}
        columns["_rows"] = "integer"
        self.spec = TableSpec(ident(f"ordo_summary_{report.name}"), columns, [(("k",), True)])
        shape = {"table": self.spec.to_json(), "fixed": [f.text for f in self.fixed],
                 "dims": [(d.expr.text, d.bucket) for d, _ in self.dims],
                 "parts": [(p.column, p.value.text if p.value else None, p.cond.text if p.cond else None)
                           for p in self.parts]}
        self.signature = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:32]
        self.table = build_table(self.spec, app.compiled.metadata)
        app.compiled.specs.append(self.spec)
        self._built = False
        self._upserts: dict[str, Any] = {}

    def _bucketed(self, part: ast.Node) -> tuple[str, str, list[tuple[str, str]]] | None:
        """(parameter, ">=" or "<", the bucketed dimensions' columns and units) when ``part`` compares
        a date field that a dimension buckets with a period bound (``order_date >= :period_start``)."""
        if not isinstance(part, ast.Binary) or part.op not in (">=", "<", "<=", ">"):
            return None
        flip = {">=": "<=", "<": ">", "<=": ">=", ">": "<"}
        left, right, op = part.left, part.right, part.op
        if isinstance(left, ast.Param):
            left, right, op = right, left, flip[op]
        if op not in (">=", "<") or not isinstance(right, ast.Param) or not _own_field(left):
            return None
        name = left.steps[0].name  # type: ignore[attr-defined]
        cols = [(col, d.bucket) for d, col in self.dims
                if d.bucket and d.type.kind == "date" and _own_field(d.expr.tree) and d.expr.tree.steps[0].name == name]
        return (right.name, op, cols) if cols else None

    # -- keeping it exact
    def contribution(self, record: dict[str, Any] | None, env: Any) -> tuple[str, list[Any], list[Any]] | None:
        """(group key, dimension values, part values) of one source record; None: it counts nowhere."""
        if record is None or any(not f(record, env) for f in self.fixed):
            return None
        if any(side(record, env) is None for side in self.dated):
            return None
        values = []
        for d, _ in self.dims:
            v = d.expr(record, env)
            if d.bucket and v is not None:
                v = start_of(d.bucket, v.date() if isinstance(v, dt.datetime) else v)
            values.append(v)
        return group_key(values), values, [p.of(record, env) for p in self.parts]

    def on_write(self, tx: Transaction, event: WriteEvent) -> None:
        if event.entity != self.entity:
            return
        before = self.contribution(event.before, tx.env)
        after = self.contribution(event.after, tx.env)
        if before == after:
            return
        deltas: dict[str, list[Any]] = {}
        for c, sign in ((before, -1), (after, 1)):
            if c is None:
                continue
            key, values, parts = c
            d = deltas.setdefault(key, [values, [0] * len(parts), 0])
            d[1] = [a + sign * b for a, b in zip(d[1], parts, strict=True)]
            d[2] += sign
        stmt = self._upsert(tx.conn.dialect.name)
        for key, (values, parts, rows) in deltas.items():
            if rows == 0 and not any(parts):
                continue
            row = {"k": key, "_rows": rows}
            row |= {col: v for (_, col), v in zip(self.dims, values, strict=True)}
            row |= {p.column: v for p, v in zip(self.parts, parts, strict=True)}
            tx.conn.execute(stmt, row)

    def _upsert(self, dialect: str) -> Any:
        stmt = self._upserts.get(dialect)
        if stmt is None:
            if dialect == "postgresql":  # the dialect imported where it runs (not when an app opens)
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            ins = insert(self.table)
            adds = [p.column for p in self.parts] + ["_rows"]
            stmt = ins.on_conflict_do_update(index_elements=[self.table.c.k],
                                             set_={c: self.table.c[c] + ins.excluded[c] for c in adds})
            self._upserts[dialect] = stmt
        return stmt

    # -- building and checking
    def scan(self, conn: sa.Connection) -> dict[str, tuple[list[Any], list[Any], int]]:
        """The summary's rows computed from the source rows (a full scan)."""
        report = self.report
        table = report.app.compiled.entities[self.entity].table
        base = table.alias("src")
        src = JoinSource(JoinPlan(report.app.compiled, base), self.entity, base)
        dims = [DateBucket(d.bucket, d.expr.to_sql(src)) if d.bucket else typed(d.expr.to_sql(src), d.type)
                for d, _ in self.dims]
        cols = [*(x.label(f"d{i}") for i, x in enumerate(dims))]
        for i, p in enumerate(self.parts):
            value = p.value.to_sql(src) if p.value is not None else None
            cond = p.cond.to_sql(src, where=True) if p.cond is not None else None
            agg = aggregate("sum" if p.kind == "sum" else "count", value, cond)
            cols.append(sa.type_coerce(agg, self.table.c[p.column].type).label(f"p{i}"))
        cols.append(sa.func.count().label("n"))
        q = sa.select(*cols).select_from(src.plan.from_)
        q = q.where(*[f.to_sql(src, where=True) for f in self.fixed],
                    *[to_sql(side, src).is_not(None) for side in self.dated_nodes])
        if dims:
            q = q.group_by(*[sa.literal_column(str(i + 1)) for i in range(len(dims))])
        out = {}
        for r in conn.execute(q):
            r = r._mapping
            values = [r[f"d{i}"] for i in range(len(dims))]
            out[group_key(values)] = (values, [r[f"p{i}"] for i in range(len(self.parts))], int(r["n"]))
        return out

    def stored(self, conn: sa.Connection) -> dict[str, tuple[list[Any], list[Any], int]]:
        t = self.table
        out = {}
        for r in conn.execute(sa.select(t).where(t.c._rows != 0)):
            m = r._mapping
            out[m["k"]] = ([m[c] for _, c in self.dims], [m[p.column] for p in self.parts], int(m["_rows"]))
        return out

    def rebuild(self, tx: Transaction) -> int:
        """Recompute the summary from a full scan and mark it built; return its number of groups."""
        _authorized(tx, self.name, "rebuild")
        conn = tx.conn
        if conn.dialect.name == "postgresql":  # writers wait until the rebuilt table is committed
            conn.exec_driver_sql(f"LOCK TABLE {self.table.name} IN SHARE ROW EXCLUSIVE MODE")
        conn.execute(sa.delete(self.table))
        rows = self.scan(conn)
        if rows:
            conn.execute(sa.insert(self.table), [
                {"k": k, "_rows": n, **{c: v for (_, c), v in zip(self.dims, values, strict=True)},
                 **{p.column: v for p, v in zip(self.parts, parts, strict=True)}}
                for k, (values, parts, n) in rows.items()])
        conn.execute(sa.delete(state_table).where(state_table.c.report == self.name))
        conn.execute(sa.insert(state_table).values(report=self.name, signature=self.signature, built_at=tx.now))
        return len(rows)

    def verify(self, tx: Transaction) -> list[str]:
        """Differences between the summary and a full scan (empty: it is exact)."""
        _authorized(tx, self.name, "verify")
        if not self.is_built(tx.conn):
            return [f"the summary of report {self.name} is not built: run `ordo report rebuild APP {self.name}`"]
        scanned, stored = self.scan(tx.conn), self.stored(tx.conn)
        out = []
        for key in sorted(set(scanned) | set(stored)):
            a, b = scanned.get(key), stored.get(key)
            if a is None or b is None or a[2] != b[2] or any(_differ(x, y) for x, y in zip(a[1], b[1], strict=True)):
                out.append(f"group {key}: scan {a[1:] if a else 'none'}, summary {b[1:] if b else 'none'}")
        return out

    def is_built(self, conn: sa.Connection) -> bool:
        if not self._built:
            sig = conn.execute(sa.select(state_table.c.signature)
                               .where(state_table.c.report == self.name)).scalar_one_or_none()
            self._built = sig == self.signature
        return self._built

    def mark_empty_built(self) -> None:
        """At start: a summary never built over a source without rows is built (empty)."""
        with self.app.transaction(SYSTEM) as tx:
            if self.is_built(tx.conn):
                return
            table = self.app.compiled.entities[self.entity].table
            if tx.conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None:
                self.rebuild(tx)

    # -- answering runs
    def answer(self, tx: Transaction, binds: dict[str, Any]) -> list[Any] | None:
        """The conditions on the summary's rows that answer a run by ``tx.user`` with ``binds``, or
        None when the summary cannot: a row rule applies to the reader, it is not built, or a period
        bound is not the first day of a bucket the summary groups the compared date by (a month
        summary answers ``this_year`` or ``2024-01-01..2024-03-31``, not ``last_30_days``)."""
        if tx.guard is not None or tx.row_filter(self.entity) is not None:
            return None
        where = []
        for part in self.periods:
            if open_side(part, binds) is not None:
                continue  # left open: only rows with a date count, as in the summary
            bucketed = self.bucketed.get(id(part))
            value = binds.get(bucketed[0]) if bucketed is not None else None
            if bucketed is None or not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                return None
            col = next((c for c, unit in bucketed[2] if start_of(unit, value) == value), None)
            if col is None:
                return None
            # the whole bucket is in or out: x >= d <=> bucket(x) >= d, x < d <=> bucket(x) < d
            bound = sa.bindparam(bucketed[0], type_=self.table.c[col].type)
            where.append(self.table.c[col] >= bound if bucketed[1] == ">=" else self.table.c[col] < bound)
        return where if self.is_built(tx.conn) else None

    def grouping(self, built: Built, group: tuple[str, ...], mark: int) -> sa.Select:
        """Like ``CompiledReport.grouped``, read from the summary table."""
        t = self.table
        cols = [(typed(t.c[col], d.type) if d.name in group else typed_null(d.type)).label(d.name)
                for d, col in self.dims]
        for m in self.report.base_measures():
            parts = {p.kind: sa.func.sum(t.c[p.column]) for p in self.measure_parts[m.name]}
            if m.agg == "avg":
                value = sa.type_coerce(parts["sum"], sa.Numeric()) / sa.func.nullif(parts["count"], 0)
            else:
                value = sa.func.coalesce(parts["sum" if m.agg == "sum" else "count"], 0)
            cols.append(typed(value, m.type).label(m.name))
        cols.append(sa.literal(mark, sa.Integer()).label("_g"))
        q = sa.select(*cols).where(t.c._rows != 0, *built.summary_where)
        keys = [t.c[col] for d, col in self.dims if d.name in group]
        return q.group_by(*keys) if keys else q


def _own_field(node: ast.Node) -> bool:
    return isinstance(node, ast.Path) and node.root is None and len(node.steps) == 1


def period_names(part: Any) -> list[str]:
    return [n.name for n in ast.walk(part) if isinstance(n, ast.Param)]


def _differ(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(Decimal(str(a)) - Decimal(str(b))) > Decimal("1e-6")


def _authorized(tx: Transaction, name: str, action: str) -> None:
    if not tx.app.permissions.unrestricted(tx.user):
        raise PermissionDenied(f"{tx.user.name} may not {action} the summary of report {name}: it covers every "
                               "row (an administrator's task)")


def install_summaries(app: App, reports: dict[str, CompiledReport]) -> dict[str, Summary]:
    out = {name: Summary(app, r) for name, r in sorted(reports.items()) if r.defn.summary}
    for s in out.values():
        app.on_write(s.on_write)
        app.on_start.append(lambda a, s=s: s.mark_empty_built())
    return out


def get(summaries: dict[str, Summary], name: str) -> Summary:
    s = summaries.get(name)
    if s is None:
        raise UsageError(f"report {name} has no summary (add 'summary: true' to its definition)")
    return s
