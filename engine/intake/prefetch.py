"""What a batch of documents reads, read for the whole batch at once before its first document runs:

* the documents' keys: one ``SELECT name, <key columns> ... WHERE <column> IN (...)`` for the duplicate check
  of every document of the batch (a key not found is unused in this transaction; a document created in the
  batch adds its key);
* the values their lookups match: one ``SELECT ... WHERE <by> IN (...) ORDER BY id`` per lookup (the first
  match wins, as one document's lookup would find it), the records found put in the transaction's unit of
  work (the link to them is then resolved without a SELECT);
* the unique values of the records their lookups would create (``missing: create``, a value not found): one
  ``SELECT <field> ... WHERE <field> IN (...)`` per unique field the create maps (one of them read by the
  lookup's own statement of the same entity: ``WHERE <by> IN (...) OR <field> IN (...)``); a value not used is
  not looked up again by the create's unique validation (``validation.unused``; the unique index still
  refuses a concurrent writer, and the lookup then looks again);
* the records their link fields name (a link given by its record's name in a column): one ``SELECT ... WHERE name IN (...)`` per linked
  entity, put in the unit of work, where the store's link resolution looks first.

Only what can be told without writing is read ahead: a key computed through a lookup, a value whose
mapping fails (the document reports it when it runs) or a column whose stored value may not compare equal
to the document's (decimal, date, ...) is looked up by its document as before. The unit of work is consulted
only for users who may read every record of the entity (see ``Transaction.link_target``): for others the
linked records are not read ahead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import lean
from ..coerce import CoercionError, coerce
from ..errors import OrdoError
from .compiled import CompiledIntake, CompiledShape, CompiledTable
from .mapping import CompiledLookup, CompiledValue, Source
from .readers import SourceDocument, get_path, iter_items

if TYPE_CHECKING:
    from ..records import Transaction

_CHUNK = 512  # values per IN (...): a statement per power of two up to it, the values padded by repeating one
_EXACT = frozenset({"string", "text", "integer", "enum", "link"})  # types whose stored values compare as read
_KEYS = "intake keys"  # EntityPlan.shaped keys of the statements built here, once per entity and shape
_BY = "intake lookup"
_NAMES = "intake names"
_FREE = "intake unique"


class _Later(Exception):
    """A value needs a lookup (or a write) to be known: its document looks it up when it runs."""


@dataclass
class ShapeReads:
    """Which of a shape's mappings are read ahead for a batch (decided once per shape)."""

    # (field, mapping, field definition (None: the name), the intake's channel field)
    key: list[tuple[str, CompiledValue | None, Any, bool]] = field(default_factory=list)
    key_ok: bool = True  # every key column compares exactly
    lookups: list[tuple[str | None, CompiledValue]] = field(default_factory=list)  # (table or None, mapping)
    links: list[tuple[str | None, CompiledValue, str]] = field(default_factory=list)  # (table, mapping, entity)


def shape_reads(ci: CompiledIntake, shape: CompiledShape) -> ShapeReads:
    found = ci.reads.get(shape.name)
    if found is not None:
        return found
    reads = ShapeReads()
    ce = ci.entity
    channel = ci.defn.channel
    for name in ci.defn.key:
        defn = ce.fields[name].defn if name != "name" else None
        reads.key_ok &= defn is None or defn.type in _EXACT
        reads.key.append((name, shape.fields.get(name), defn, channel is not None and name == channel.field))

    def scan(table: str | None, fields: dict[str, CompiledValue], entity: Any) -> None:
        for fname, cv in fields.items():
            if cv.lookup is not None:
                by = ci.app.compiled.entities[cv.lookup.entity].fields.get(cv.lookup.by)
                if cv.lookup.by == "name" or (by is not None and by.defn.type in _EXACT and by.defn.type != "link"):
                    reads.lookups.append((table, cv))
            elif fname in entity.fields and entity.fields[fname].defn.type == "link":
                reads.links.append((table, cv, entity.fields[fname].defn.entity or ""))

    scan(None, shape.fields, ce)
    for tname, table in shape.tables.items():
        scan(tname, table.fields, ce.fields[tname].child)
    ci.reads[shape.name] = reads
    return reads


def rows_of(doc: SourceDocument, table: CompiledTable) -> list[tuple[int | None, Any]]:
    """The rows of a document's table: (line, item)."""
    if table.rows is not None:
        _, parts = table.rows
        return [(doc.line, item) for item in iter_items(get_path(doc.data, parts))]
    return doc.rows


class BatchReads:
    """What a batch read ahead: keys -> the record using them (None: unused), lookups -> the id found."""

    def __init__(self) -> None:
        self.keys: dict[tuple[Any, ...], str | None] = {}
        self.found: dict[tuple[str, str, Any], int | None] = {}
        # (entity, unique field) -> values (as stored) no record uses: a lookup's create need not check them
        self.free: dict[tuple[str, str], set[Any]] = {}

    def read(self, tx: Transaction, ci: CompiledIntake, shape: CompiledShape, channel: dict[str, Any] | None,
             docs: Iterable[SourceDocument]) -> None:
        reads = shape_reads(ci, shape)
        keys: list[tuple[Any, ...]] = []
        wanted: dict[tuple[str, str], dict[Any, Any]] = {}  # (entity, by) -> raw value -> stored value
        creating: list[tuple[CompiledLookup, Any, Source]] = []  # lookups that may create: (lookup, raw, row)
        names: dict[str, set[str]] = {}
        for doc in docs:
            if doc.error is not None or not isinstance(doc.data, dict):
                continue
            src = Source(doc.data, doc.data, channel, tx.env, doc.line)
            if reads.key_ok:
                key = _key(reads, src, channel)
                if key is not None:
                    keys.append(key)
            for entity, what, found in _values(reads, ci, shape, doc, src):
                if isinstance(what, CompiledLookup):
                    wanted.setdefault((entity, what.by), {})[found[0]] = found[1]
                    if what.missing == "create" and found[2] is not None:
                        creating.append((what, found[0], found[2]))
                elif isinstance(found, str):
                    names.setdefault(entity, set()).add(found)
        if keys:
            self._keys(tx, ci, [k[0] for k in reads.key], keys)
        unique = _creates(ci, creating) if creating else {}
        used: dict[tuple[str, str], set[Any]] = {}
        for (entity, by), values in wanted.items():
            check = next((g for g in unique if g[0] == entity and g not in used), None)
            if (check is not None and len(values) <= _CHUNK and len(unique[check]) <= _CHUNK
                    and any(v is not None for v in values.values())):  # one statement reads both
                used[check] = self._lookup(tx, entity, by, values, (check[1], unique[check]))
            else:
                self._lookup(tx, entity, by, values)
        for group, values in unique.items():
            self._unused(tx, group, values, used.get(group))
        for entity, wanted_names in names.items():
            self._names(tx, entity, wanted_names)

    # -- reading
    def _keys(self, tx: Transaction, ci: CompiledIntake, columns: list[str], keys: list[tuple[Any, ...]]) -> None:
        plan = tx.plan(ci.entity.name)
        for chunk in _chunks(sorted(set(keys), key=repr)):
            size = _size(len(chunk))
            q = plan.shaped.get((_KEYS, tuple(columns), size))
            if q is None:
                t = plan.table
                q = sa.select(t.c.name, *[t.c[c] for c in columns]).where(
                    *[t.c[c].in_([sa.bindparam(f"k_{c}_{j}") for j in range(size)]) for c in columns])
                plan.shaped[(_KEYS, tuple(columns), size)] = q
            params: dict[str, Any] = {}
            for i, c in enumerate(columns):
                params.update(_padded(f"k_{c}_", sorted({k[i] for k in chunk}, key=repr), size))
            used = {tuple(row[1:]): row[0] for row in lean.execute(tx.conn, q, params)}
            for k in chunk:
                self.keys[k] = used.get(k)

    def _lookup(self, tx: Transaction, entity: str, by: str, values: dict[Any, Any],
                check: tuple[str, dict[Any, Any]] | None = None) -> set[Any]:
        """The first record of ``entity`` whose ``by`` equals each value (ORDER BY id), put in the unit of work.
        ``check``: a unique field and its values, read in the same statement (``... OR <field> IN (...)``; the
        caller gives at most a chunk of each): returns those some record uses."""
        plan = tx.plan(entity)
        first: dict[Any, int] = {}
        used: set[Any] = set()
        stored = sorted({v for v in values.values() if v is not None}, key=repr)
        for chunk in _chunks(stored):
            size = _size(len(chunk))
            params = _padded("v_", chunk, size)
            if check is None:
                q = plan.shaped.get((_BY, by, size))
                if q is None:
                    t = plan.table
                    q = plan.shaped[(_BY, by, size)] = sa.select(t).where(
                        t.c[by].in_([sa.bindparam(f"v_{j}") for j in range(size)])).order_by(t.c.id)
                rows = [dict(row._mapping) for row in lean.execute(tx.conn, q, params)]
            else:
                fname, checked = check
                csize = _size(len(checked))
                q = plan.shaped.get((_BY, by, size, fname, csize))
                if q is None:
                    t = plan.table
                    q = plan.shaped[(_BY, by, size, fname, csize)] = sa.select(t).where(sa.or_(
                        t.c[by].in_([sa.bindparam(f"v_{j}") for j in range(size)]),
                        t.c[fname].in_([sa.bindparam(f"u_{j}") for j in range(csize)]))).order_by(t.c.id)
                params.update(_padded("u_", sorted(checked, key=repr), csize))
                rows = [dict(row._mapping) for row in lean.execute(tx.conn, q, params)]
                used.update(rec[fname] for rec in rows if rec[fname] in checked)
                found = set(chunk)
                rows = [rec for rec in rows if rec[by] in found]  # the others: read for the check only
            for rec in rows:
                if rec[by] not in first:
                    first[rec[by]] = rec["id"]
                    _remember(tx, entity, rec)
        for raw, value in values.items():
            if value is not None:
                self.found[(entity, by, raw)] = first.get(value)
        return used

    def _unused(self, tx: Transaction, group: tuple[str, str], values: dict[Any, list[Any]],
                used: set[Any] | None) -> None:
        """The unique values the lookups not found would create: those no record uses go in ``free`` (``used``:
        read with the lookup already, else read now)."""
        entity, fname = group
        wanted = {v for v, owners in values.items() if any(self.found.get(o, 0) is None for o in owners)}
        if not wanted:
            return  # every lookup found (or not read ahead): nothing to create
        if used is None:
            plan = tx.plan(entity)
            used = set()
            for chunk in _chunks(sorted(wanted, key=repr)):
                size = _size(len(chunk))
                q = plan.shaped.get((_FREE, fname, size))
                if q is None:
                    t = plan.table
                    q = plan.shaped[(_FREE, fname, size)] = sa.select(t.c[fname]).where(
                        t.c[fname].in_([sa.bindparam(f"u_{j}") for j in range(size)]))
                used.update(row[0] for row in lean.execute(tx.conn, q, _padded("u_", chunk, size)))
        self.free[(entity, fname)] = wanted - used

    def _names(self, tx: Transaction, entity: str, names: set[str]) -> None:
        if tx.app.permissions.rules(tx.user, entity, "read") is not None:
            return  # resolved with the user's row rules, record by record (not from the unit of work)
        ce = tx.app.compiled.entities[entity]
        if ce.table_fields:
            return
        uow = tx.uow
        names = {n for n in names if (entity, n) not in uow.names}
        plan = tx.plan(entity)
        for chunk in _chunks(sorted(names)):
            size = _size(len(chunk))
            q = plan.shaped.get((_NAMES, size))
            if q is None:
                t = plan.table
                q = plan.shaped[(_NAMES, size)] = sa.select(t).where(
                    t.c.name.in_([sa.bindparam(f"n_{j}") for j in range(size)]))
            for row in lean.execute(tx.conn, q, _padded("n_", chunk, size)):
                _remember(tx, entity, dict(row._mapping))


def _creates(ci: CompiledIntake, creating: list[tuple[CompiledLookup, Any, Source]]
             ) -> dict[tuple[str, str], dict[Any, list[Any]]]:
    """The unique values the lookups that may create would give their records (as stored): (entity, field) ->
    value -> the lookups (entity, by, raw value) creating it when not found."""
    values: dict[tuple[str, str], dict[Any, list[Any]]] = {}
    for lk, raw, row_src in creating:
        ce = ci.app.compiled.entities[lk.entity]
        for fname, cv in lk.create.items():
            cf = ce.fields.get(fname)
            if cf is None or not cf.defn.unique or cf.defn.type not in _EXACT or cf.defn.type == "link":
                continue
            try:
                v = cv.evaluate(row_src, _later, fname)
                v = coerce(cf.defn, v) if v is not None else None
            except (OrdoError, CoercionError, _Later):
                continue
            if v is not None:
                values.setdefault((lk.entity, fname), {}).setdefault(v, []).append((lk.entity, lk.by, raw))
    return values


def _remember(tx: Transaction, entity: str, rec: dict[str, Any]) -> None:
    """Put a record read ahead in the unit of work (unless it knows it already, maybe written since)."""
    if tx.app.compiled.entities[entity].table_fields:
        return
    uow = tx.uow
    if (entity, rec["id"]) not in uow.records:
        uow.put(entity, rec, tables=())  # no child rows (above)


def _key(reads: ShapeReads, src: Source, channel: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """The document's key as stored, if it can be told without a lookup (None: its document looks)."""
    key = []
    for name, cv, defn, is_channel in reads.key:
        if is_channel and channel is not None:
            key.append(channel["id"])
            continue
        try:
            value = cv.evaluate(src, _later, name) if cv is not None else None
            if value is None:
                return None
            value = str(value) if defn is None else coerce(defn, value)
        except (OrdoError, CoercionError, _Later):
            return None
        if defn is not None and defn.type == "link" and not isinstance(value, int):
            return None  # a link given by name: resolved by its document
        key.append(value)
    return tuple(key)


def _values(reads: ShapeReads, ci: CompiledIntake, shape: CompiledShape, doc: SourceDocument,
            src: Source) -> Iterator[tuple[str, Any, Any]]:
    """(entity, lookup, (raw, stored, its row's source)) of each lookup value, (entity, mapping, value) of each
    link value."""
    for table, cv in reads.lookups:
        for row_src in _sources(shape, table, doc, src):
            seen: list[tuple[CompiledLookup, Any]] = []

            def collect(lk: CompiledLookup, value: Any, _src: Source, _path: str, seen: list = seen) -> Any:
                seen.append((lk, value))
                raise _Later

            try:
                cv.evaluate(row_src, collect, cv.name)
            except (OrdoError, CoercionError, _Later):
                pass
            for lk, value in seen:
                stored = _stored(ci, lk, value)
                if stored is not _Later:
                    yield lk.entity, lk, (value, stored, row_src)
    for table, cv, entity in reads.links:
        for row_src in _sources(shape, table, doc, src):
            try:
                yield entity, cv, cv.evaluate(row_src, _later, cv.name)
            except (OrdoError, CoercionError, _Later):
                pass


def _sources(shape: CompiledShape, table: str | None, doc: SourceDocument, src: Source) -> Iterator[Source]:
    if table is None:
        yield src
        return
    try:
        rows = rows_of(doc, shape.tables[table])
    except (OrdoError, CoercionError):
        return
    for line, item in rows:
        yield Source(doc.data, item, src.channel, src.env, line)


def _stored(ci: CompiledIntake, lk: CompiledLookup, value: Any) -> Any:
    if lk.by == "name":
        return str(value)
    try:
        return coerce(ci.app.compiled.entities[lk.entity].fields[lk.by].defn, value)
    except CoercionError:
        return _Later


def _later(lk: CompiledLookup, value: Any, src: Source, path: str) -> Any:
    raise _Later


def _size(n: int) -> int:
    """The number of parameters of the statement reading ``n`` values: the next power of two (at most 10
    statements per entity and purpose, each compiled once; lean.execute runs them)."""
    size = 1
    while size < n:
        size *= 2
    return size


def _padded(prefix: str, values: list[Any], size: int) -> dict[str, Any]:
    """``values`` as the parameters ``prefix0 .. prefix<size-1>``, the last value repeated up to ``size``."""
    last = values[-1]
    return {f"{prefix}{j}": values[j] if j < len(values) else last for j in range(size)}


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i:i + _CHUNK]
