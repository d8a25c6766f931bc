"""Every row of a pivot report, streamed (CSV/XLSX exports over the in-memory bound).

A pivot's columns are its pivot values, so they must be known before the first row is written,
and a row's cells arrive as several grouped rows. Two passes over the report's one statement
(uncapped), each read page by page:

1. the pivot values (the first cell of each, ``row_number() OVER (PARTITION BY pivot)``) and the
   column and grand totals, in one statement (few rows: about two per pivot value);
2. the cells and row totals ordered by the report's row order (its sort keys: row dimensions,
   or measures by their row totals, a window over each row's cells; then the row dimensions), so
   the cells of one row arrive together and each row is written as soon as it is complete.

Memory holds the pivot values and one row, never the result. Rows are in the database's order
(as a plain report's are; the bounded in-memory pivot sorts them in Python, which orders text by
code point where PostgreSQL may use the database's collation).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import UsageError
from .compile import MARK, CompiledReport, convert
from .run import Column, pivot_columns, pivot_row, pivot_sets, pivot_totals

if TYPE_CHECKING:
    from ..records import Transaction

MAX_COLUMNS = 16_384  # an Excel sheet's columns


def pivot_stream(report: CompiledReport, tx: Transaction, built: Any, binds: dict, lang: str,
                 page: int) -> tuple[list[Column], Iterator[dict[str, Any]], list[dict[str, Any]]]:
    """(columns, rows as they are read, [the totals row] or [])."""
    pivot = report.defn.pivot or ""
    row_keys = tuple(d.name for d in report.dimensions if d.name != pivot)
    types = {d.name: d.type for d in report.dimensions} | {m.name: m.type for m in report.measures}
    u = report.statement(built, pivot_sets=pivot_sets(report), capped=False).subquery("s")
    values: list[Any] = []
    col_totals: dict[Any, dict] = {}
    grand: dict | None = None
    most = (MAX_COLUMNS - len(row_keys)) // max(len(report.measures), 1) - 1  # pivot values a sheet holds
    for r in tx.conn.execute(_values_and_totals(u, pivot).execution_options(stream_results=True, yield_per=page),
                             binds):
        mark = r._mapping[MARK]
        if mark == 0:
            values.append(r._mapping[pivot])
            if len(values) > most:
                raise UsageError(f"report {report.name}: its pivot '{pivot}' has more than {most} values, more "
                                 f"columns than a sheet holds ({MAX_COLUMNS}); pivot by a dimension with fewer "
                                 "values, or drop the pivot")
            continue
        rec = convert(r._mapping, types)
        if mark == 2:
            col_totals[rec[pivot]] = rec
        else:
            grand = rec
    columns = pivot_columns(report, values, lang)
    totals = [pivot_totals(report, row_keys, columns, col_totals, grand)] if report.defn.totals else []
    return columns, _rows(report, tx, u, binds, row_keys, types, columns, page), totals


def _values_and_totals(u: Any, pivot: str) -> sa.Select:
    """One row per pivot value (its first cell, mark 0), the column totals (mark 2) and the grand total
    (mark 3): one pass over the grouped rows."""
    first = sa.func.row_number().over(partition_by=[u.c[MARK], u.c[pivot]]).label("_first")
    w = sa.select(u, first).where(u.c[MARK].in_((0, 2, 3))).subquery("v")
    return sa.select(*[w.c[c.name] for c in u.c]).where(sa.or_(w.c[MARK] != 0, w.c._first == 1))


def _ordered(report: CompiledReport, u: Any, row_keys: tuple[str, ...]) -> sa.Select:
    """Cells (mark 0) and row totals (mark 1) in the report's row order, a row's together."""
    part = [u.c[k] for k in row_keys] or None
    keys = [k for k in report.sort if k[0] in row_keys or k[0] in report.measure]
    keys += [(k, False) for k in row_keys if k not in {n for n, _ in keys}]
    extra = []
    for i, (name, _) in enumerate(keys):
        if name in report.measure:  # sorted by the row's total of that measure
            extra.append(sa.func.max(sa.case((u.c[MARK] == 1, u.c[name]))).over(partition_by=part).label(f"_s{i}"))
    w = sa.select(u, *extra).where(u.c[MARK].in_((0, 1))).subquery("w")
    order: list[Any] = []
    for i, (name, desc) in enumerate(keys):
        c = w.c[f"_s{i}"] if name in report.measure else w.c[name]
        order += [sa.case((c.is_(None), 1), else_=0), c.desc() if desc else c.asc()]
    order += [sa.case((w.c[k].is_(None), 1), else_=0) for k in row_keys]  # a row's cells stay together
    order += [w.c[k] for k in row_keys]
    return sa.select(*[w.c[c.name] for c in u.c]).order_by(*order, w.c[MARK])


def _rows(report: CompiledReport, tx: Transaction, u: Any, binds: dict, row_keys: tuple[str, ...], types: dict,
          columns: list[Column], page: int) -> Iterator[dict[str, Any]]:
    pivot = report.defn.pivot or ""
    stmt = _ordered(report, u, row_keys).execution_options(stream_results=True, yield_per=page)
    limit = report.defn.limit
    key: tuple | None = None
    cells: dict[Any, dict] = {}
    row_total: dict | None = None
    written = 0
    for r in tx.conn.execute(stmt, binds):
        rec = convert(r._mapping, types)
        k = tuple(rec[n] for n in row_keys)
        if k != key:
            if cells:  # a row all of whose cells ``having`` removed is no row
                yield pivot_row(report, row_keys, key or (), cells, row_total, columns)
                written += 1
                if limit and written >= limit:
                    return
            cells, row_total = {}, None
        key = k
        if r._mapping[MARK] == 0:
            cells[rec[pivot]] = rec
        else:
            row_total = rec
    if cells and not (limit and written >= limit):
        yield pivot_row(report, row_keys, key or (), cells, row_total, columns)
