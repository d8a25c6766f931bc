"""Reading every matching record in bounded memory: pages through the public query API.

Exports (``ordo query --format csv|json``) are complete, never capped: they read page after page
(1,000 records each) inside one read transaction and write each page before reading the next.
Without an explicit order the pages are keyset pages (``id > last id``), which neither skip nor
repeat rows; with ``order_by`` they are offset pages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import Record, Transaction

PAGE_SIZE = 1000
_AFTER = "ordo_after_id"


def query_pages(tx: Transaction, entity: str, where: str | None = None, params: Mapping[str, Any] | None = None,
                order_by: str | Sequence[str] | None = None, *, offset: int = 0, limit: int | None = None,
                page_size: int | None = None, with_children: bool = False) -> Iterator[list[Record]]:
    """Lists of at most ``page_size`` (default :data:`PAGE_SIZE`) records matching ``where``, in
    order, until ``limit`` records (None: all of them) have been given."""
    params = dict(params or {})
    page_size = page_size or PAGE_SIZE
    left = limit
    keyset = not order_by
    after: int | None = None
    while left is None or left > 0:
        size = page_size if left is None else min(page_size, left)
        if keyset and after is not None:
            cond = f"id > :{_AFTER}" if not where else f"({where}) and id > :{_AFTER}"
            page = tx.query(entity, cond, {**params, _AFTER: after}, None, size, 0, with_children)
        else:
            page = tx.query(entity, where, params, order_by, size, offset, with_children)
        if not page:
            return
        yield page
        if left is not None:
            left -= len(page)
        if len(page) < size:
            return
        offset += len(page)
        after = page[-1]["id"]
