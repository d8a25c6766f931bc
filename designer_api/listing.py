"""Record lists: the query parameters of ``GET /api/v1/records/{entity}`` and its paging.

``where`` is a filter in the expression language, its parameters ``p.NAME=value``; ``order_by`` sorts
(``-total,name``; nulls last ascending, first descending); a page is ``limit`` records from ``offset``,
or after an opaque ``cursor`` (keyset: the sort values and id of the last record shown, so pages neither
repeat nor skip records when others are inserted). ``total`` counts every matching record the user may
read (``total=false`` skips the count).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ordo.dsl.expr.limits import INT_MAX
from ordo.engine import keyset
from ordo.engine.coerce import to_jsonable
from ordo.engine.errors import UsageError

from .body import PARAM_PREFIX, bool_param, check_known, int_param, list_param, prefixed_params, text_param
from .errors import bad_request
from .views import RecordView

if TYPE_CHECKING:
    from ordo.engine.compiled import CompiledEntity
    from ordo.engine.records import Transaction

    from .context import Ctx

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
LIST_PARAMS = ("where", "order_by", "limit", "offset", "cursor", "total", "fields", "expand", "children")
MAX_CURSOR = 4096


@dataclass
class ListQuery:
    where: str | None
    params: dict[str, Any]
    keys: list[keyset.SortKey]
    limit: int
    offset: int | None
    after: tuple[list[Any], int] | None
    total: bool
    fields: list[str] | None
    expand: list[str]
    children: bool

    @classmethod
    def parse(cls, ctx: Ctx, ce: CompiledEntity, hidden: frozenset[str] = frozenset()) -> ListQuery:
        """The list parameters of the request; sorting by a field hidden from the reader is refused as if
        the field did not exist."""
        request = ctx.request
        check_known(request, LIST_PARAMS, PARAM_PREFIX)
        try:
            keys = keyset.sort_keys(ce, text_param(request, "order_by", 2000),
                                    hidden)
        except UsageError as e:
            raise bad_request(str(e), "order_by") from None
        cursor = text_param(request, "cursor", MAX_CURSOR)
        offset = int_param(request, "offset", None, maximum=INT_MAX)
        if cursor is not None and offset is not None:
            raise bad_request("give either 'cursor' or 'offset', not both", "cursor")
        return cls(where=text_param(request, "where"), params=prefixed_params(request), keys=keys,
                   limit=int_param(request, "limit", DEFAULT_LIMIT, maximum=MAX_LIMIT) or 0,
                   offset=None if cursor is not None else offset or 0,
                   after=decode_cursor(cursor, keys) if cursor is not None else None,
                   total=bool_param(request, "total", True), fields=list_param(request, "fields"),
                   expand=list_param(request, "expand") or [], children=bool_param(request, "children", False))

    def run(self, tx: Transaction, entity: str, lang: str) -> dict[str, Any]:
        """The page as the user sees it: ``items``, ``total``, ``limit``, ``offset``, ``next_cursor``."""
        view = RecordView(tx, entity, self.fields, self.expand, lang)
        if self.where:
            try:  # compiled once (FilterCache): an invalid filter is refused naming 'where'
                tx.app.filters.get(entity, self.where, self.params, tx.guard)
            except UsageError as e:
                raise bad_request(str(e), "where") from None
        elif self.params:
            raise bad_request(f"parameter '{PARAM_PREFIX}{next(iter(self.params))}' given without 'where'",
                              f"{PARAM_PREFIX}{next(iter(self.params))}")
        records = keyset.page(tx, entity, self.where, self.params, self.keys, after=self.after,
                              limit=self.limit + 1, offset=self.offset or 0,
                              with_children=self.children or view.needs_children)
        more = len(records) > self.limit
        records = records[:self.limit]
        next_cursor = encode_cursor(self.keys, *keyset.position(records[-1], self.keys)) if more and records \
            else None
        return {"items": view.rows(records),
                "total": tx.count(entity, self.where, self.params) if self.total else None,
                "limit": self.limit, "offset": self.offset, "next_cursor": next_cursor}


def encode_cursor(keys: list[keyset.SortKey], values: list[Any], last_id: int) -> str:
    """An opaque position: the order it belongs to, the sort values and the id of the last record."""
    data = {"o": [("-" if k.desc else "") + k.field for k in keys], "v": to_jsonable(values), "id": last_id}
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: list[keyset.SortKey]) -> tuple[list[Any], int]:
    def refuse(why: str) -> Exception:
        return bad_request(f"invalid cursor: {why}; use the next_cursor of the previous page", "cursor")

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise refuse("not a cursor") from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), list) or not isinstance(data.get("o"), list):
        raise refuse("not a cursor")
    order = [("-" if k.desc else "") + k.field for k in keys]
    if data["o"] != order:
        raise refuse(f"it was made for order_by '{','.join(map(str, data['o']))[:200]}', not "
                     f"'{','.join(order)}'")
    last_id = data.get("id")
    if isinstance(last_id, bool) or not isinstance(last_id, int) or not 0 <= last_id <= INT_MAX:
        raise refuse("bad record id")
    if len(data["v"]) != len(keys):
        raise refuse("wrong number of values")
    try:
        values = [keyset.read_value(k, v) for k, v in zip(keys, data["v"], strict=True)]
    except ValueError as e:
        raise refuse(str(e)) from None
    return values, last_id
