"""Linked records as :mod:`present` reads them: in batches (one query per entity and 2,000 ids), with the
reader's row permission told per record (a record the reader may not read is marked, never shown)."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from .records import Transaction

_CHUNK = 2000  # ids per IN (...) list
_ALL: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # table -> its SELECT for readers with no rule


class Marker(str):
    """A placeholder shown instead of a value (no access, deleted)."""


class LinkLoader:
    """Records of linked entities, read in batches with the reader's row permission."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.rows: dict[str, dict[int, Mapping[str, Any] | None]] = {}  # None: no such record
        self.denied: dict[str, set[int]] = {}
        self.wanted: dict[str, set[int]] = {}
        self.queries = 0

    def want(self, entity: str, rid: int) -> None:
        if rid not in self.rows.get(entity, {}):
            self.wanted.setdefault(entity, set()).add(rid)

    def load(self) -> None:
        """One query per entity (per 2,000 ids) for every wanted record not read yet."""
        for entity, ids in self.wanted.items():
            table = self.tx.app.compiled.entities[entity].table
            assert table is not None
            allowed = self.tx.row_filter(entity)
            q = _ALL.get(table) if allowed is None else None
            if q is None:  # built once per table when the reader has no row rule on it, else for this reader
                flag = sa.true() if allowed is None else sa.case((allowed, sa.true()), else_=sa.false())
                q = sa.select(table, flag.label("_allowed")).where(table.c.id.in_(sa.bindparam("ordo_ids", expanding=True)))
                if allowed is None:
                    _ALL[table] = q
            got = self.rows.setdefault(entity, {})
            denied = self.denied.setdefault(entity, set())
            todo = sorted(ids)
            for i in range(0, len(todo), _CHUNK):
                chunk = todo[i:i + _CHUNK]
                got.update(dict.fromkeys(chunk))
                self.queries += 1
                for r in self.tx.conn.execute(q, {"ordo_ids": chunk}):
                    row = dict(r._mapping)
                    if not row.pop("_allowed"):
                        denied.add(row["id"])
                    got[row["id"]] = row
        self.wanted = {}

    def get(self, entity: str, rid: int) -> Mapping[str, Any] | str:
        row = self.rows.get(entity, {}).get(rid)
        if row is None:
            return "deleted"
        return "no_access" if rid in self.denied.get(entity, ()) else row
