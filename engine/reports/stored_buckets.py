"""Time buckets kept as generated columns, so a report grouping by month (week, quarter ...) reads
the bucket from its index instead of computing it for every row.

When a report groups by ``bucket: UNIT`` of a date or datetime field of its own rows (unless it
says ``stored_buckets: false`` or ``index: false``), schema sync adds to the source table a
column ``_ordo_UNIT_FIELD GENERATED ALWAYS AS (the bucket expression)`` (VIRTUAL on SQLite,
STORED on PostgreSQL), the report's covering index reads that column in place of the field, and
the compiled report groups by the column. The expression is the one the report compiles without
the column (:class:`DateBucket`, immutable on both databases), so the figures are the same.

On SQLite the index holds the bucket expression rather than the column, and the report keeps
grouping by the expression: SQLite (3.40) treats a query that reads a generated column as reading
every column of the row, so an index on the column never covers it (each row would be looked up
in the table), while an index on the expression covers a query grouping by the same expression
and hands the rows over already grouped (no sort). The VIRTUAL column costs no storage there.

Several reports grouping by the same bucket share one column. A column no report asks for any
more is dropped by the next sync (it holds nothing but what the database computes from the row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnClause

from ordo.dsl.expr import ast

from ..tables import GeneratedColumn, ident
from .buckets import DateBucket
from .indexes import source_table

if TYPE_CHECKING:
    from ..app import App
    from .compile import CompiledReport


def column_name(unit: str, source: str) -> str:
    """The generated column of ``unit`` buckets of ``source`` (a leading ``_``: no field can be
    named so)."""
    return ident(f"_ordo_{unit}_{source}")


def bucketed_fields(report: CompiledReport, table: sa.Table) -> dict[str, tuple[str, str]]:
    """Dimension name -> (unit, column) for each dimension bucketing a stored date or datetime
    column of the report's own rows."""
    out: dict[str, tuple[str, str]] = {}
    for d in report.dimensions:
        tree = d.expr.tree
        if not d.bucket or d.type.kind not in ("date", "datetime"):
            continue
        if not isinstance(tree, ast.Path) or tree.root is not None or len(tree.steps) != 1:
            continue
        name = tree.steps[0].name
        if name in table.c and name != "id":
            out[d.name] = (d.bucket, name)
    return out


def generated(unit: str, source: str) -> GeneratedColumn:
    return GeneratedColumn(signature=f"bucket({unit},{source})", type="date", source=source,
                           expr=lambda table: DateBucket(unit, table.c[source]),
                           purpose=f"the {unit} of {source}, for reports grouping by it")


def install_stored_buckets(app: App, reports: dict[str, CompiledReport]) -> dict[str, dict[str, str]]:
    """Add the generated bucket columns reports group by to their tables' specs (schema sync
    creates them) and point each report at them; return report -> {dimension: column}."""
    specs = {s.name: s for s in app.compiled.specs}
    out: dict[str, dict[str, str]] = {}
    for name, report in sorted(reports.items()):
        if not report.defn.index or not report.defn.stored_buckets or report.cohort is not None:
            continue
        table = source_table(report)
        if table is None:
            continue
        spec = specs[table.name]
        chosen: dict[str, str] = {}
        sources: list[str] = []
        for dim, (unit, source) in bucketed_fields(report, table).items():
            col = column_name(unit, source)
            spec.generated.setdefault(col, generated(unit, source))
            chosen[dim] = col
            sources.append(source)
        if chosen:
            report.stored = chosen
            report.stored_sources = tuple(dict.fromkeys(sources))
            out[name] = chosen
    return out


def bucket_column(alias: sa.FromClause, column: str) -> ColumnClause:
    """The generated column ``column`` of the report's source rows (``alias``), typed as a date;
    the runtime table does not declare it, so records never carry it."""
    return ColumnClause(column, sa.Date(), _selectable=alias)
