"""The list page of an entity: columns from its form (else its definition), links by title, the filter
builder and expression box, sorting, paging with the total count, and CSV/XLSX export of the filtered
view, complete (page after page through ``engine/pages.py``) and streamed from a spooled file.
"""

from __future__ import annotations

import csv
import io
import math
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from ordo.dsl.base import humanize, label_text
from ordo.engine import keyset
from ordo.engine.errors import NotFound, UsageError
from ordo.engine.pages import query_pages
from ordo.engine.present import Presenter
from ordo.engine.textfmt import cell_text

from ..access import entity_actions, require_action
from ..download import download, new_spool
from ..tasks import fact_fields
from .base import Page, page
from .filters import OPS, bulk_fields, filterable, parse
from .saved import saved_views

PAGE_SIZES = (20, 50, 100, 200)
DEFAULT_SIZE = 50
MAX_COLUMNS = 8


def entity_of(pg: Page) -> str:
    name = str(pg.path.get("entity", ""))
    ce = pg.app.compiled.entities.get(name)
    if ce is None or ce.defn.child:
        raise NotFound(f"no entity '{name[:60]}'")
    return name


def entity_label(tx: Any, entity: str, lang: str) -> str:
    return label_text(tx.app.compiled.entities[entity].defn.label, lang, humanize(entity))


def list_columns(tx: Any, entity: str) -> list[str]:
    """``name`` and the fields that say what a record is: its form's first section, else its title field and
    first plain fields (never hidden ones, never child tables)."""
    ce = tx.app.compiled.entity(entity)
    tf = ce.defn.title_field
    first = [tf] if tf and tf in ce.fields and tf not in tx.app.permissions.hidden(tx.user, entity) else []
    rest = [f for f in fact_fields(tx, entity) if f not in ("name", *first)]
    return ["name", *first, *rest][:MAX_COLUMNS]


def _int(raw: str | None, default: int, lo: int, hi: int) -> int:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return default
    return max(lo, min(hi, int(raw)))


def _order(tx: Any, entity: str, raw: str | None) -> tuple[str | None, str | None]:
    """(order_by, error): the ``sort`` parameter checked like the API's ``order_by``."""
    if not raw:
        return None, None
    try:
        keyset.sort_keys(tx.app.compiled.entity(entity), raw[:200], tx.app.permissions.hidden(tx.user, entity))
    except UsageError as e:
        return None, str(e)
    return raw[:200], None


def list_page(pg: Page) -> Response:
    entity = entity_of(pg)
    with pg.app.reader(pg.actor) as tx:
        require_action(tx, entity, "read")
        flt = parse(tx, entity, pg.params, pg.lang)
        order_by, sort_error = _order(tx, entity, pg.params.get("sort"))
        size = pg.params.get("size")
        size = _int(size, DEFAULT_SIZE, 1, max(PAGE_SIZES))
        number = _int(pg.params.get("page"), 1, 1, 10**8)
        columns = list_columns(tx, entity)
        shown = Presenter(tx, entity, columns, pg.lang)
        rows: list[dict[str, Any]] = []
        records: list[Any] = []
        total = 0
        if flt.ok:
            total = tx.count(entity, flt.where, flt.params)
            records = tx.query(entity, flt.where, flt.params, order_by or "-id", size, (number - 1) * size)
            rows = shown.text(records)
        pages = max(1, math.ceil(total / size))
        status = 200 if flt.ok and sort_error is None else 400
        return pg.render(
            "list.html", status, entity=entity, label=entity_label(tx, entity, pg.lang),
            columns=[{"key": c, "label": shown.label(c), "sortable": True} for c in columns],
            rows=[{"name": rec["name"], "id": rec["id"], "cells": [cell_text(row.get(c)) for c in columns]}
                  for rec, row in zip(records, rows, strict=True)],
            total=total, page=number, pages=pages, size=size, sizes=PAGE_SIZES, sort=order_by or "",
            sort_error=sort_error, flt=flt, fields=filterable(tx, entity, pg.lang), ops=OPS,
            may_create="create" in entity_actions(tx, entity),
            bulk=bulk_fields(tx, entity, pg.lang) if "update" in entity_actions(tx, entity) else [],
            views=saved_views(tx.conn, tx.user.name, entity), changed=_int(pg.params.get("changed"), -1, 0, 10**6))


def export(pg: Page) -> Response:
    """The filtered view as CSV or XLSX: every matching record the user may read, every field they may
    see, links by title, options by label, numbers as numbers."""
    entity = entity_of(pg)
    fmt = str(pg.path.get("fmt", ""))
    if fmt not in ("csv", "xlsx"):
        raise NotFound(f"no export format '{fmt[:20]}' (csv, xlsx)")
    spool = new_spool()
    try:
        with pg.app.reader(pg.actor) as tx:
            require_action(tx, entity, "read")
            flt = parse(tx, entity, pg.params, pg.lang)
            if not flt.ok:
                spool.close()
                return pg.render("error.html", 400, status=400, headers={},
                                 message=flt.expression_error or next(r.error for r in flt.rows if r.error))
            order_by, sort_error = _order(tx, entity, pg.params.get("sort"))
            shown = Presenter(tx, entity, None, pg.lang)
            keys = [k for k in shown.default_keys() if k not in ("version",)]
            shown = Presenter(tx, entity, keys, pg.lang)
            pages = query_pages(tx, entity, flt.where, flt.params, order_by)
            (_write_csv if fmt == "csv" else _write_xlsx)(spool, shown, keys, pages, tx, entity, pg.lang)
    except BaseException:
        spool.close()
        raise
    media = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return download(spool, media, f"{entity}.{fmt}")


def _export_value(shown: Presenter, ce: Any, key: str, text: Any, raw: Any) -> Any:
    """A cell of an export: numbers stay numbers (exact decimals), anything else as it is shown."""
    cf = ce.fields.get(key)
    if cf is not None and cf.kind in ("integer", "decimal", "money") and raw is not None \
            and not isinstance(raw, bool):
        return raw if isinstance(raw, int) else Decimal(str(raw))
    return cell_text(text)


def _write_csv(out: Any, shown: Presenter, keys: list[str], pages: Any, tx: Any, entity: str, lang: str) -> None:
    ce = tx.app.compiled.entity(entity)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    w = csv.writer(text)
    w.writerow(shown.headers(keys))
    for records in pages:
        data = shown.data(records)
        for row, raw in zip(shown.text(records), data, strict=True):
            w.writerow([_export_value(shown, ce, k, row.get(k), raw.get(k)) for k in keys])
    text.flush()
    text.detach()


def _write_xlsx(out: Any, shown: Presenter, keys: list[str], pages: Any, tx: Any, entity: str, lang: str) -> None:
    from openpyxl import Workbook

    ce = tx.app.compiled.entity(entity)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(entity[:31])
    ws.append(shown.headers(keys))
    for records in pages:
        data = shown.data(records)
        for row, raw in zip(shown.text(records), data, strict=True):
            values = [_export_value(shown, ce, k, row.get(k), raw.get(k)) for k in keys]
            ws.append([float(v) if isinstance(v, Decimal) else v for v in values])
    wb.save(out)


def routes() -> list:
    return [page("/app/{entity}", list_page), page("/app/{entity}/export.{fmt}", export)]
