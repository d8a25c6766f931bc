"""Ordered pages of records with a keyset position: the next page starts after the last row shown.

An offset page shifts when rows are inserted or deleted before it (rows repeat or are skipped); a keyset
page does not: it asks for the rows *after* the last one shown, by its sort values and id. Every order
ends with ``id`` so that positions are unique. The order of nulls is the same on every database: a null
sorts after every value ascending and before every value descending (as if it were the largest value).

    keys = sort_keys(app.compiled.entity("ticket"), "-priority,name")
    with app.reader("alice") as tx:
        first = page(tx, "ticket", "status == 'open'", {}, keys, limit=50)
        more = page(tx, "ticket", "status == 'open'", {}, keys, after=position(first[-1], keys), limit=50)

Reads go through the acting user's row filter and their filter expression (``tx.where_clause``), exactly
as ``tx.query``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr.limits import int_problem, text_problem

from .errors import UsageError
from .record_reads import as_records

if TYPE_CHECKING:
    from .compiled import CompiledEntity
    from .records import Record, Transaction

MAX_PAGE = 10_000
_UNORDERED = ("json", "table", "related")


@dataclass(frozen=True)
class SortKey:
    field: str
    desc: bool = False
    kind: str = "string"  # how a position value is read back: string, integer, decimal, date, datetime, boolean


def sort_keys(ce: CompiledEntity, order_by: str | Sequence[str] | None,
              hidden: frozenset[str] = frozenset()) -> list[SortKey]:
    """``"-total, name"`` (or ``["-total", "name asc"]``) -> sort keys over stored columns of ``ce``;
    an unknown or unorderable field (JSON, child tables) is refused naming it, and so is a field hidden
    from the reader, with the same words (its order would tell its values)."""
    items = [p.strip() for p in order_by.split(",")] if isinstance(order_by, str) else list(order_by or [])
    table = ce.table
    assert table is not None
    keys: list[SortKey] = []
    for item in items:
        if not item:
            continue
        desc = item.startswith("-")
        parts = item.lstrip("-+").split()
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            desc = parts[1].lower() == "desc"
        elif len(parts) != 1:
            raise UsageError(f"invalid order item {item[:60]!r}: use 'field', '-field' or 'field desc'")
        name = parts[0]
        cf = ce.fields.get(name)
        if name not in table.c or name in hidden or (cf is not None and cf.kind in _UNORDERED):
            raise UsageError(f"cannot order by '{name[:60]}': not a sortable stored field of {ce.name}")
        if any(k.field == name for k in keys):
            raise UsageError(f"cannot order by '{name}' twice")
        keys.append(SortKey(name, desc, _kind(ce, name)))
    return keys


def _kind(ce: CompiledEntity, name: str) -> str:
    if name in ("id", "version"):
        return "integer"
    if name in ("created_at", "updated_at"):
        return "datetime"
    cf = ce.fields.get(name)
    if cf is None:
        return "string"
    kind = cf.kind
    if kind in ("money", "decimal"):
        return "decimal"
    if kind in ("link", "integer"):
        return "integer"
    return kind if kind in ("date", "datetime", "boolean") else "string"


def order_clauses(table: sa.Table, keys: Sequence[SortKey]) -> list[Any]:
    """ORDER BY for ``keys`` then ``id``; nulls last ascending, first descending, on every database."""
    out = [table.c[k.field].desc().nulls_first() if k.desc else table.c[k.field].asc().nulls_last() for k in keys]
    out.append(table.c.id.asc())
    return out


def position(rec: Mapping[str, Any], keys: Sequence[SortKey]) -> tuple[list[Any], int]:
    """Where ``rec`` is in the order: its sort values and id."""
    return [rec.get(k.field) for k in keys], int(rec["id"])


def after_condition(table: sa.Table, keys: Sequence[SortKey], values: Sequence[Any], last_id: Any) -> Any:
    """Rows strictly after the position (``values``, ``last_id``) in the order of ``keys`` then id.

    ``values`` and ``last_id`` may be SQL expressions (bound parameters) standing for them; a ``None``
    in ``values`` is a null position value either way."""
    options = []
    equal: list[Any] = []
    for k, v in zip(keys, values, strict=True):
        col = table.c[k.field]
        if v is None:  # null is the largest value: after it ascending nothing else, descending every value
            beyond = None if not k.desc else col.is_not(None)
            same = col.is_(None)
        else:
            beyond = (col < v) if k.desc else sa.or_(col > v, col.is_(None))
            same = col == v
        if beyond is not None:
            options.append(sa.and_(*equal, beyond))
        equal.append(same)
    options.append(sa.and_(*equal, table.c.id > last_id))
    return sa.or_(*options)


# the bound parameters of a page statement: not identifiers, so no filter parameter (``:name``) has their names
LIMIT, OFFSET, AFTER_ID = "ordo-limit", "ordo-offset", "ordo-after-id"


def _after(i: int) -> str:
    return f"ordo-after-{i}"


def page(tx: Transaction, entity: str, where: str | None, params: Mapping[str, Any], keys: Sequence[SortKey], *,
         after: tuple[Sequence[Any], int] | None = None, limit: int = 100, offset: int = 0,
         with_children: bool = False) -> list[Record]:
    """At most ``limit`` records matching ``where`` that the acting user may read, in the order of
    ``keys``: after the position ``after`` (keyset), else from ``offset``.

    The statement is built once per filter, order and position shape (which position values are null)
    for users with the same read guard, with the limit, offset and position as bound parameters."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_PAGE:
        raise UsageError(f"limit must be between 0 and {MAX_PAGE}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or int_problem(offset) is not None:
        raise UsageError(f"offset must be a non-negative whole number, got {offset!r}")
    ce = tx.app.compiled.entity(entity)
    table = ce.table
    assert table is not None
    keys = tuple(keys)
    shape = None if after is None else tuple(v is None for v in after[0])

    def build(cond: Any) -> Any:
        q = sa.select(table)
        if cond is not None:
            q = q.where(cond)
        if shape is not None:
            marks = [None if null else sa.bindparam(_after(i), type_=table.c[k.field].type)
                     for i, (k, null) in enumerate(zip(keys, shape, strict=True))]
            q = q.where(after_condition(table, keys, marks, sa.bindparam(AFTER_ID, type_=table.c.id.type)))
        q = q.order_by(*order_clauses(table, keys)).limit(sa.bindparam(LIMIT, type_=sa.Integer()))
        return q.offset(sa.bindparam(OFFSET, type_=sa.Integer()))

    stmt = tx.cached_select(("page", keys, shape), entity, where, params, build)
    values = dict(params)
    values[LIMIT], values[OFFSET] = limit, offset
    if after is not None:
        values[AFTER_ID] = after[1]
        values.update((_after(i), v) for i, v in enumerate(after[0]) if v is not None)
    recs = as_records(tx.conn.execute(stmt, values))
    if with_children:
        tx._attach_children(ce, recs)  # the store's own batched read of child rows
    return tx.shown_all(entity, recs)  # without the fields hidden from the reader


def read_value(key: SortKey, raw: Any) -> Any:
    """A position value as given back by a client (JSON) -> the typed value to compare with;
    ValueError when it is not a value of the key's type."""
    if raw is None:
        return None
    kind = key.kind
    if kind == "integer":
        if isinstance(raw, bool) or not isinstance(raw, int) or int_problem(raw) is not None:
            raise ValueError(f"'{key.field}' must be a whole number")
        return raw
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise ValueError(f"'{key.field}' must be true or false")
        return raw
    if not isinstance(raw, str) or len(raw) > 10_000 or text_problem(raw) is not None:
        raise ValueError(f"'{key.field}' must be text")
    try:
        if kind == "decimal":
            d = Decimal(raw)
            if not d.is_finite() or len(raw) > 80:
                raise ValueError
            return d
        if kind == "date":
            return dt.date.fromisoformat(raw)
        if kind == "datetime":
            return dt.datetime.fromisoformat(raw)
    except (ValueError, InvalidOperation):
        raise ValueError(f"'{key.field}' is not a {kind}: {raw[:40]!r}") from None
    return raw
