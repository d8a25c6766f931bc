"""Reading records in a transaction: by id or name (from the unit of work when it knows them), with their
child rows, filtered queries and counts, the linked records and related aggregates expressions read.

A mixin of :class:`ordo.engine.records.Transaction` (which provides ``app``, ``conn``, ``user``, ``guard``,
``uow``, ``plan``, ``row_filter``, ``where_clause``): the read side of the store, one concept per module.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ordo.dsl.expr.limits import int_problem, text_problem

from . import lean, related_aggregates
from .compiled import CompiledEntity
from .errors import NotFound, UsageError
from .query import parse_order_by
from .write_plan import IN_LIST_MAX, in_params, in_size

_VERSION_LOCKED = "version locked"  # plan.shaped: SELECT version ... FOR UPDATE by id (PostgreSQL)

Record = dict[str, Any]
MAX_LIMIT = 10_000


class Reads:
    """The read side of a Transaction."""

    app: Any
    conn: sa.Connection
    user: Any
    guard: Any
    uow: Any
    _row_filters: dict[Any, Any]

    def get(self, entity: str, key: int | str, *, for_update: bool = False) -> Record:
        """The record with id ``key`` (int) or name ``key`` (str), with its child rows, as the acting
        user may see it (fields hidden from them left out).

        A record the acting user may not read is not found, exactly as one that does not exist."""
        return self.shown(entity, self.load(entity, key, for_update=for_update))

    def load(self, entity: str, key: int | str, *, for_update: bool = False) -> Record:
        """The whole record (every field) if the acting user may read its row, else ``NotFound``: for
        features that apply the definition's rules to a record on the user's behalf (flows, allocation,
        split). What is shown to the user goes through :meth:`get` / :meth:`shown`."""
        ce = self.app.compiled.entity(entity)
        rec = self._record(ce, key, for_update, readable=True)
        if rec is None:
            raise NotFound(f"{entity} {key!r} not found")
        if self.guard is not None:
            self._keep_links(ce, rec)
        return rec

    def shown(self, entity: str, rec: Record) -> Record:
        """``rec`` without the fields hidden from the acting user."""
        hidden = self.app.permissions.hidden(self.user, entity)
        return {k: v for k, v in rec.items() if k not in hidden} if hidden else rec

    def _fetch(self, entity: str, key: int | str, for_update: bool = False) -> Record | None:
        """The record with its child rows, without permission checks (internal)."""
        return self._record(self.app.compiled.entity(entity), key, for_update)

    def _record(self, ce: CompiledEntity, key: int | str, for_update: bool = False,
                readable: bool = False) -> Record | None:
        """The whole record with its child rows, from the unit of work when it is known there (and, for an
        update on PostgreSQL, locked by this transaction); ``readable``: only if the acting user may read it."""
        _check_key(ce, key)
        filtered = readable and self.app.permissions.rules(self.user, ce.name, "read") is not None
        uow = self.uow
        if not filtered:
            known = uow.get(ce.name, key, for_update=for_update)
            if known is not None:
                return known
            if for_update and self.conn.dialect.name == "postgresql":
                known = self._locked_if_current(ce, key)
                if known is not None:
                    return known
        row = self._row(ce, key, for_update, readable=filtered)
        if row is None:
            return None
        rec = dict(row._mapping)
        self._attach_children(ce, [rec])
        uow.put(ce.name, rec, locked=for_update)
        return rec

    def _locked_if_current(self, ce: CompiledEntity, key: int | str) -> Record | None:
        """PostgreSQL: a record the unit of work read without locking it: its row locked reading its version
        only; unchanged since (every write bumps the version), the copy is current and now locked. None:
        not known, or changed (read again, under the lock now held)."""
        uow = self.uow
        known = uow.get(ce.name, key)
        if known is None or known.get("version") is None:
            return None
        p = self.plan(ce.name)
        q = p.shaped.get(_VERSION_LOCKED)
        if q is None:
            t = p.table
            q = p.shaped[_VERSION_LOCKED] = sa.select(t.c.version).where(t.c.id == sa.bindparam("key")).with_for_update()
        if lean.execute(self.conn, q, {"key": known["id"]}).scalar() != known["version"]:
            return None
        uow.locked.add((ce.name, known["id"]))
        return known

    def find(self, entity: str, key: int | str) -> Record | None:
        try:
            return self.get(entity, key)
        except NotFound:
            return None

    def _row(self, ce: CompiledEntity, key: int | str, for_update: bool = False, readable: bool = False) -> Any:
        """The stored row (no child rows); ``readable``: only if the acting user may read it."""
        _check_key(ce, key)
        p = self.plan(ce.name)
        lock = for_update and self.conn.dialect.name == "postgresql"
        by_id = isinstance(key, int)
        allowed = self.row_filter(ce.name) if readable else None
        if allowed is None:  # the statements built once, run lean
            q = (p.by_id_locked if lock else p.by_id) if by_id else (p.by_name_locked if lock else p.by_name)
            return lean.execute(self.conn, q, {"key": key}).first()
        else:  # built once per transaction, like the condition
            q = self._row_filters.get((ce.name, by_id, lock))
            if q is None:
                q = (p.by_id if by_id else p.by_name).where(allowed)
                q = self._row_filters[(ce.name, by_id, lock)] = q.with_for_update() if lock else q
        return self.conn.execute(q, {"key": key}).first()

    def _attach_children(self, ce: CompiledEntity, recs: list[Record]) -> None:
        if not recs:
            return
        ids = [r["id"] for r in recs]
        children = self.plan(ce.name).children if ce.table_fields else {}
        for cf in ce.table_fields:
            plan = children[cf.name]
            by_parent: dict[int, list[Record]] = {i: [] for i in ids}
            for i in range(0, len(ids), IN_LIST_MAX):
                chunk = ids[i:i + IN_LIST_MAX]
                for row in lean.execute(self.conn, plan.of_parents(in_size(len(chunk))), in_params(chunk)):
                    child = dict(row._mapping)
                    by_parent[child.pop("parent_id")].append(child)
            for r in recs:
                r[cf.name] = by_parent[r["id"]]

    def _load_link(self, entity: str, key: Any) -> Record | None:
        """A linked record for the definition's expressions (whatever the user may read): from the unit of
        work when it is known there."""
        return self._fetch(entity, key)

    def _related_aggregate(self, node: Any, owner: Record) -> Any:
        """Evaluate an aggregate over a related field of ``owner`` in SQL (see related_aggregates)."""
        return related_aggregates.evaluate(self, node, owner)

    # -- a confined App (App(authority=...): unpublished definitions) reads for its expressions only what the
    # acting user may read: a link the user may not read is null, hidden fields are left out, and an aggregate
    # over rows or fields the user may see only in part is unknown (null)
    def _confined_link(self, entity: str, key: Any) -> Record | None:
        ce = self.app.compiled.entity(entity)
        rec = self._record(ce, key, readable=True)
        return None if rec is None else self.shown(entity, rec)

    def _confined_aggregate(self, node: Any, owner: Record) -> Any:
        guard = self.guard
        if guard is not None:
            agg = self.app.related_statements.get(node)
            if agg.read & guard.partial_tables:
                return None
        return related_aggregates.evaluate(self, node, owner)

    def query(
        self,
        entity: str,
        where: str | None = None,
        params: Mapping[str, Any] | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = 100,
        offset: int = 0,
        with_children: bool = False,
    ) -> list[Record]:
        """Records matching the ``where`` expression, filtered in SQL."""
        ce = self.app.compiled.entity(entity)
        t = ce.table
        assert t is not None
        params = dict(params or {})
        hidden = self.app.permissions.hidden(self.user, entity)
        q = self._filtered(sa.select(t), entity, where, params).order_by(*parse_order_by(t, order_by, hidden))
        if limit is not None:
            if not isinstance(limit, int) or limit < 0 or limit > MAX_LIMIT:
                raise UsageError(f"limit must be between 0 and {MAX_LIMIT}, got {limit!r}")
            q = q.limit(limit)
        if not isinstance(offset, int) or offset < 0 or int_problem(offset) is not None:
            raise UsageError(f"offset must be a non-negative integer, got {offset!r}")
        if offset:
            q = q.offset(offset)
        recs = as_records(self.conn.execute(q, params))
        if with_children:
            self._attach_children(ce, recs)
        return self.shown_all(entity, recs)

    def shown_all(self, entity: str, recs: list[Record]) -> list[Record]:
        """``recs`` without the fields hidden from the acting user."""
        hidden = self.app.permissions.hidden(self.user, entity)
        return [{k: v for k, v in r.items() if k not in hidden} for r in recs] if hidden else recs

    def _filtered(self, q: Any, entity: str, where: str | None, params: Mapping[str, Any]) -> Any:
        """``q`` restricted to the rows matching ``where`` that the acting user may read."""
        if where:
            return q.where(self.where_clause(entity, where, params))
        allowed = self.row_filter(entity)
        return q if allowed is None else q.where(allowed)

    def count(self, entity: str, where: str | None = None, params: Mapping[str, Any] | None = None) -> int:
        t = self.app.compiled.entity(entity).table
        assert t is not None
        params = dict(params or {})

        def build(cond: Any) -> Any:
            q = sa.select(sa.func.count()).select_from(t)
            return q if cond is None else q.where(cond)

        return int(self.conn.execute(self.cached_select("count", entity, where, params, build), params).scalar_one())

    def cached_select(self, purpose: Hashable, entity: str, where: str | None, params: Mapping[str, Any],
                      build: Callable[[Any], Any]) -> Any:
        """``build(condition)``: a statement over the rows of ``entity`` matching ``where`` that the acting
        user may read (``condition``: that SQL condition, None for every row), built once per ``purpose``,
        filter text, parameter types and read guard, then reused (see ``FilterCache.statement``); an
        invalid filter raises ``UsageError`` as :meth:`where_clause` does."""
        filters = self.app.filters
        key = (purpose, filters.key(entity, where, params, self.guard))
        return filters.statement(key, lambda: build(self.where_clause(entity, where, params) if where
                                                    else self.row_filter(entity)))


def as_records(result: sa.CursorResult) -> list[Record]:
    """Every row of ``result`` as a dict (fetched at once: one call into the driver, not one per row)."""
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


def _check_key(ce: CompiledEntity, key: Any) -> None:
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise UsageError(f"record key must be an id or a name, got {key!r}")
    problem = int_problem(key) if isinstance(key, int) else text_problem(key)
    if problem is not None:
        raise UsageError(f"record key of {ce.name}: {problem}")

