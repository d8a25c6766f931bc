"""Records as the API returns them, built on the engine's :class:`~ordo.engine.present.Presenter`.

* Links by record name (what input accepts), or with ``expand`` as ``{"id", "name", "title"}``; a
  linked record the user may not read shows neither its id nor its name, only the no-access
  placeholder as its title (and as its name without ``expand``).
* Money and decimals as exact strings at their scale, dates and times as ISO text, options by value.
* Child rows inline when asked for; fields the user may not see are never returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.engine.errors import UsageError
from ordo.engine.present import SYSTEM_FIELDS, Presenter, link_target

from .access import field_access
from .errors import bad_request

if TYPE_CHECKING:
    from ordo.engine.records import Record, Transaction


class RecordView:
    """How records of ``entity`` are shown to the reader of ``tx``: the ``fields`` asked for (None:
    every stored field, and child rows when the records carry them), ``expand``ed link fields."""

    def __init__(self, tx: Transaction, entity: str, fields: Sequence[str] | None = None,
                 expand: Sequence[str] | None = None, lang: str = "en") -> None:
        self.tx = tx
        self.entity = entity
        self.ce = tx.app.compiled.entity(entity)
        self.access = field_access(tx, entity)
        self.child_access = {cf.name: field_access(tx, cf.child.name) for cf in self.ce.table_fields
                             if cf.child is not None}
        self.fields = [self._field(f) for f in fields] if fields else None
        try:
            self.presenter = Presenter(tx, entity, self.fields, lang)
        except UsageError as e:
            raise bad_request(str(e), "fields") from None
        self.expand = [self._expandable(f) for f in expand or []]
        self.lang = lang

    def _field(self, name: str) -> str:
        first = name.split(".")[0].strip()
        if first in self.access.hidden:
            raise bad_request(f"unknown field '{name[:60]}' of {self.entity}", "fields")
        cf = self.ce.fields.get(first)
        if cf is None and first not in SYSTEM_FIELDS:
            known = ", ".join([*SYSTEM_FIELDS, *(n for n, f in self.ce.fields.items()
                                                  if f.related_where is None and n not in self.access.hidden)])
            raise bad_request(f"unknown field '{name[:60]}' of {self.entity} (fields: {known})", "fields")
        if cf is not None and cf.related_where is not None:
            raise bad_request(f"'{first}' of {self.entity} is a related field; read it with its own query", "fields")
        return name.strip()

    def _expandable(self, name: str) -> str:
        cf = self.ce.fields.get(name)
        if cf is None or cf.defn.type != "link" or name in self.access.hidden:
            links = ", ".join(n for n, f in self.ce.fields.items() if f.defn.type == "link"
                              and n not in self.access.hidden) or "none"
            raise bad_request(f"cannot expand '{name[:60]}': not a link field of {self.entity} (links: {links})",
                              "expand")
        if self.fields is not None and name not in self.fields:
            raise bad_request(f"cannot expand '{name}': it is not among the fields asked for", "expand")
        return name

    @property
    def needs_children(self) -> bool:
        """Whether the fields asked for include child tables (read the records with their rows)."""
        return self.presenter.needs_children

    def rows(self, records: Sequence[Record]) -> list[dict[str, Any]]:
        hides = self.access.hidden or any(a.hidden for a in self.child_access.values())
        visible = [self._visible(r) for r in records] if hides else records  # the presenter only reads them
        out = self.presenter.data(visible, decimals_as_text=True)  # JSON text as json_bytes writes Decimals
        for name in self.expand:
            self._expand(name, visible, out)
        return out

    def one(self, record: Record) -> dict[str, Any]:
        return self.rows([record])[0]

    def _visible(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        hidden = self.access.hidden
        out = {k: v for k, v in rec.items() if k not in hidden}
        for name, access in self.child_access.items():
            if access.hidden and isinstance(out.get(name), list):
                out[name] = [{k: v for k, v in row.items() if k not in access.hidden} for row in out[name]]
        return out

    def _expand(self, name: str, records: Sequence[Mapping[str, Any]], out: list[dict[str, Any]]) -> None:
        """Link field ``name`` as ``{"id", "name", "title"}``: ids and names of the linked records the
        user may read (one query), titles as the presenter shows them (the placeholder otherwise)."""
        target = link_target(self.ce.fields[name])
        assert target is not None
        ids = sorted({r[name] for r in records if isinstance(r.get(name), int)})
        readable = self._readable(target, ids)
        titles = Presenter(self.tx, self.entity, [name], self.lang).text(records)
        for rec, row, shown in zip(records, out, titles, strict=True):
            value = rec.get(name)
            if value is None:
                row[name] = None
                continue
            found = readable.get(value)
            row[name] = {"id": value if found is not None else None, "name": found, "title": shown[name]}

    def _readable(self, entity: str, ids: list[int]) -> dict[int, str]:
        table = self.tx.app.compiled.entities[entity].table
        if table is None or not ids:
            return {}
        out: dict[int, str] = {}
        allowed = self.tx.row_filter(entity)
        for i in range(0, len(ids), 1000):
            q = sa.select(table.c.id, table.c.name).where(table.c.id.in_(ids[i:i + 1000]))
            out.update((r.id, r.name) for r in self.tx.conn.execute(q if allowed is None else q.where(allowed)))
        return out


def title_of(tx: Transaction, entity: str, records: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    """How people name each record: its title field as shown (option label, linked title), else its name."""
    ce = tx.app.compiled.entity(entity)
    tf = ce.defn.title_field
    if not tf or tf not in ce.fields or tf in field_access(tx, entity).hidden:
        return [str(r.get("name") or "") for r in records]
    shown = Presenter(tx, entity, [tf], lang).text(records)
    return [str(s[tf]) if s.get(tf) not in (None, "") else str(r.get("name") or "") for s, r in zip(shown, records,
                                                                                                      strict=True)]
