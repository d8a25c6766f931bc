"""One batch of an intake's documents in one transaction (see ``docs/intake.md``): each document's key looked
up (a duplicate changes nothing), its fields mapped (lookups cached for the batch), its record created; a bad
document is reported and takes back what it wrote.

A document runs in its own savepoint when it is *careful* (the caller's transaction, or after a failure the
batch could not take back); else it takes a savepoint only before its first write that precedes
its record (a lookup creating a record; a document alone in its batch, a webhook's delivery, none: failing
after a write it runs again careful), and a document refused before writing anything (its record's
validation, a mapping error) has nothing to take back: the documents before and after it are not touched.
Only a document failing after its record's own writes began, without a savepoint (a constraint the
validation did not foresee, a write listener's error), makes the batch run again (:class:`Careful`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .. import lean, naming, validation
from ..coerce import CoercionError, coerce
from ..errors import OrdoError, ValidationFailed
from ..records import Transaction
from .compiled import CompiledIntake, CompiledShape
from .mapping import CompiledLookup, MappingError, Source
from .prefetch import BatchReads, rows_of
from .problems import RowConflicts, problems
from .readers import SourceDocument
from .result import Duplicate, IntakeProblem, IntakeResult

_UNKNOWN = object()  # a lookup the batch had not looked up


class Careful(Exception):
    """A document run without a savepoint failed after writing: the batch runs again, the documents before it
    as before (without savepoints), from it on each document in its own savepoint."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position  # of the document in the payload's documents


def _changes(tx: Transaction) -> tuple[Any, int, int] | None:
    """What the transaction has written so far as far as it can be told without a statement (SQLite: rows
    changed by the connection; PostgreSQL: the transaction's status, which a failed statement aborts, and
    the series numbers taken, as a sequence does not take them back; writes the unit of work was told about,
    rows it buffered); None: cannot be told."""
    dbapi = tx.conn.connection.dbapi_connection
    changed = getattr(dbapi, "total_changes", None)  # sqlite3
    if changed is None:
        info = getattr(dbapi, "info", None)  # psycopg: the status libpq keeps (no round trip)
        if info is None or not hasattr(info, "transaction_status"):
            return None
        kept = tx.conn.info.get(naming.KEPT)
        changed = (int(info.transaction_status), kept.mark() if kept is not None else None)
    uow = tx.uow
    return changed, uow.writes, len(uow.pending)


class Run:
    """One batch of documents in one transaction."""

    def __init__(self, tx: Transaction, ci: CompiledIntake, shape: CompiledShape, channel: dict[str, Any] | None,
                 result: IntakeResult) -> None:
        self.tx = tx
        self.ci = ci
        self.shape = shape
        self.channel = channel
        self.result = result
        self.cache: dict[tuple[str, str, Any], int | None] = {}  # lookups of this batch (its transaction)
        self.ahead = BatchReads()  # keys and lookups of the batch's documents, read at its start
        # lookups the current document cached or changed -> what the batch knew before it (_UNKNOWN: nothing)
        self.added: dict[tuple[str, str, Any], Any] = {}
        self.wrote = False  # the current document has written something (a record created by a lookup)
        self.undone = False  # what the current document wrote is taken back already
        self.savepoint: Any = None  # the current document's savepoint, if it has one
        self.before: tuple[Any, int, int] | None = None  # _changes before the current document (no savepoint)
        self.lead = False  # the current document is alone in its batch, not careful (see document)
        self.position = 0  # of the current document in the payload
        self.numbers: naming.KeptNumbers | None = tx.conn.info.get(naming.KEPT)  # PostgreSQL: see naming.reusing
        self.numbers_at = 0  # numbers taken before the current document

    def read_ahead(self, docs: list[SourceDocument]) -> None:
        """Read what the documents' keys, lookups and links need for the whole batch at once."""
        self.ahead.read(self.tx, self.ci, self.shape, self.channel, docs)
        self.cache.update(self.ahead.found)

    def take_names(self, docs: list[SourceDocument]) -> None:
        """PostgreSQL: the numbers of the names the batch's records will take, in one statement
        (``naming.take_ahead``) instead of one ``nextval`` per record: one for each document that is neither
        unreadable nor a duplicate read ahead. A number not used (a document refused) stays with the import and
        names a record of its next batch, so a batch's take-ahead is not for an import's last batch."""
        if self.numbers is None:
            return
        dup = sum(1 for name in self.ahead.keys.values() if name is not None)
        n = sum(1 for d in docs if d.error is None and isinstance(d.data, dict)) - dup
        ce = self.ci.entity
        naming.take_ahead(self.tx.conn, self.numbers, ce.name, ce.defn.naming, self.tx.app.clock.now().date(), n)

    def document(self, doc: SourceDocument, position: int, careful: bool = True, lead: bool = False) -> None:
        """Import one document (``position`` in the payload's documents); ``careful``: in its own savepoint;
        ``lead``: alone in its batch (a webhook's delivery), it takes no savepoint at all unless careful (failing
        after a write, it runs again careful: there is no other document to run again)."""
        if doc.error is not None:
            self.result.errors.append(IntakeProblem(doc.line, doc.index, None, "", doc.error))
            return
        if not isinstance(doc.data, dict):
            self.result.errors.append(IntakeProblem(doc.line, doc.index, None, "", "a document must be an object"))
            return
        src = Source(doc.data, doc.data, self.channel, self.tx.env, doc.line)
        key_text = None
        self.savepoint = self.tx.conn.begin_nested() if careful else None
        self.before = None if careful else _changes(self.tx)
        self.numbers_at = self.numbers.mark() if self.numbers is not None else 0
        self.added, self.wrote, self.undone = {}, False, False
        self.lead, self.position = lead and not careful, position
        try:
            key = self._key(src)
            key_text = _key_text(key, self.ci.defn.channel.field if self.ci.defn.channel else None)
            if doc.conflicts:
                raise RowConflicts("the rows of the document disagree")
            existing = self._existing(key)
            if existing is not None:  # changes nothing, not even a record its key's lookup created
                if self.wrote:
                    self._undo(position)
                else:
                    self._done()
                self.result.duplicates.append(Duplicate(doc.line, doc.index, key_text or "", existing))
                return
            data = self._map(doc, src)
            try:
                with validation.unused(self.tx, self.ci.entity.name, key):  # just looked up: not again
                    rec = self.tx.create(self.ci.entity.name, data)
            except ValidationFailed:
                if self.savepoint is None:
                    raise
                self._undo(position)  # first: on PostgreSQL the failed statement aborted the savepoint
                existing = self._existing_now(key) if key else None
                if existing is None:
                    raise
                self.result.duplicates.append(Duplicate(doc.line, doc.index, key_text or "", existing))
                return
            self._done()
            self.result.created.append(rec["name"])
            if key:  # a later document of the batch with the same key is its duplicate
                self.ahead.keys[tuple(key.values())] = rec["name"]
        except OrdoError as e:
            self._undo(position)
            self.result.errors.extend(problems(e, doc, key_text))

    def _done(self) -> None:
        """The current document is through: its savepoint (if any) released."""
        savepoint, self.savepoint = self.savepoint, None
        if savepoint is not None:
            savepoint.commit()

    def _restart(self) -> None:
        """The current document's savepoint rolled back before it wrote anything (its lookups read still hold)
        and a new one begun: it goes on as if it had just begun."""
        _rolled_back(self.savepoint)
        if self.numbers is not None:
            self.numbers.give_back(self.numbers_at)
        self.savepoint = self.tx.conn.begin_nested()
        self.wrote = False

    def _undo(self, position: int) -> None:
        """Take back what the current document wrote (its savepoint), and the lookups it cached; without a
        savepoint, a document that wrote nothing has nothing to take back, else the batch runs again."""
        if self.undone:
            return  # taken back already (a refused create, then reported as an error)
        self.undone = True
        savepoint, self.savepoint = self.savepoint, None
        if savepoint is None:
            if self.wrote or self.before is None or _changes(self.tx) != self.before:
                raise Careful(position)  # no savepoint to roll back to: run again, this document in one
            return  # refused before writing: the store is as it was, the lookups it found still hold
        if savepoint.is_active:
            savepoint.rollback()
        if self.numbers is not None:  # the names it took are given to the next documents (none skipped)
            self.numbers.give_back(self.numbers_at)
        for k, before in self.added.items():  # the batch's read-ahead still holds (a value not found: still not)
            if before is _UNKNOWN:
                self.cache.pop(k, None)
            else:
                self.cache[k] = before

    # -- key and duplicates
    def _key(self, src: Source) -> dict[str, Any]:
        key: dict[str, Any] = {}
        ch = self.ci.defn.channel
        for name in self.ci.defn.key:
            if ch is not None and name == ch.field and self.channel is not None:
                key[name] = self.channel["id"]
                continue
            cv = self.shape.fields.get(name)
            value = cv.evaluate(src, self._resolve, name) if cv is not None else None
            if value is None:
                raise MappingError(name, "is required (part of the intake key)", src.line)
            key[name] = self._stored(self.ci.entity.name, name, value, src)
        return key

    def _stored(self, entity: str, name: str, value: Any, src: Source) -> Any:
        """``value`` as stored in column ``name`` (links resolved to ids)."""
        if name == "name":
            return str(value)
        f = self.tx.app.compiled.entities[entity].fields[name].defn
        try:
            v = coerce(f, value)
        except CoercionError as e:
            raise MappingError(name, str(e), src.line) from None
        if f.type == "link" and isinstance(v, str):
            q = self.tx.plan(f.entity or "").select_by("id", ("name",))
            found = lean.execute(self.tx.conn, q, {"w_name": v}).scalar()
            if found is None:
                raise MappingError(name, f"no {f.entity} {v!r}", src.line)
            v = found
        return v

    def _existing(self, key: dict[str, Any]) -> str | None:
        """The name of the record using ``key`` (read ahead for the batch, else looked up now)."""
        if not key:
            return None
        values = tuple(key.values())
        if values in self.ahead.keys:
            return self.ahead.keys[values]
        return self._existing_now(key)

    def _existing_now(self, key: dict[str, Any]) -> str | None:
        q = self.tx.plan(self.ci.entity.name).select_by("name", tuple(key))
        return lean.execute(self.tx.conn, q, {f"w_{k}": v for k, v in key.items()}).scalar()

    # -- mapping
    def _map(self, doc: SourceDocument, src: Source) -> dict[str, Any]:
        data: dict[str, Any] = {}
        ch = self.ci.defn.channel
        if ch is not None and ch.field and self.channel is not None:
            data[ch.field] = self.channel["id"]
        for name, cv in self.shape.fields.items():
            value = cv.evaluate(src, self._resolve, name)
            if value is not None:
                data[name] = value
        for tname, table in self.shape.tables.items():
            rows = []
            for i, (line, item) in enumerate(rows_of(doc, table)):
                row_src = Source(doc.data, item, self.channel, self.tx.env, line)
                row = {}
                for name, cv in table.fields.items():
                    value = cv.evaluate(row_src, self._resolve, f"{tname}[{i}].{name}")
                    if value is not None:
                        row[name] = value
                rows.append(row)
            data[tname] = rows
        return data

    def _resolve(self, lk: CompiledLookup, value: Any, src: Source, path: str) -> Any:
        ck = (lk.entity, lk.by, value)
        if ck in self.cache:
            found = self.cache[ck]
        else:
            found = self.cache[ck] = self._find(lk, value, src)
            self.added.setdefault(ck, _UNKNOWN)
        if found is not None:
            return found
        if lk.missing == "null":
            return None
        if lk.missing == "error":
            raise MappingError(path, f"no {lk.entity} with {lk.by} {value!r}", src.line)
        data = {lk.by: value}
        for name, cv in lk.create.items():
            v = cv.evaluate(src, self._resolve, f"{path}.{name}")
            if v is not None:
                data[name] = v
        if self.savepoint is None and not self.lead:  # the first write before its record: from here in a savepoint
            self.savepoint = self.tx.conn.begin_nested()
        first, self.wrote = not self.wrote, True
        self.added.setdefault(ck, self.cache.get(ck, _UNKNOWN))  # read ahead: restored if taken back
        bare = self.savepoint is None  # a document alone in its batch: refused, it runs again careful
        # on PostgreSQL a refused INSERT (a concurrent import created the same record) aborts the transaction up
        # to a savepoint, rolled back before the lookup looks again: the document's own when this is its first
        # write (it has read only: nothing to take back, it goes on in a new one), else one of its own
        pg = self.tx.conn.dialect.name == "postgresql"
        savepoint = self.tx.conn.begin_nested() if pg and not bare and not first else None
        free = self._free(lk.entity, data)
        try:
            with validation.unused(self.tx, lk.entity, free):  # read ahead unused: not looked up again
                created = self.tx.create(lk.entity, data)
            if savepoint is not None:
                savepoint.commit()
        except ValidationFailed as e:
            if bare:
                raise Careful(self.position) from None
            savepoint = _rolled_back(savepoint)
            if pg and first:
                self._restart()
            again = self._find(lk, value, src)  # created meanwhile by a concurrent import
            if again is not None:
                self.cache[ck] = again
                return again
            detail = "; ".join(str(err) for err in e.errors)
            raise MappingError(path, f"cannot create {lk.entity} for {value!r}: {detail}", src.line) from None
        except BaseException:
            _rolled_back(savepoint)
            raise
        self.cache[ck] = created["id"]
        for f, v in free.items():  # used now
            self.ahead.free[(lk.entity, f)].discard(v)
        return created["id"]

    def _free(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        """A unique value of the record a lookup creates that the batch read ahead as unused: {field: value as
        stored} (one: the store skips the check of one unique group), else {}."""
        if not self.ahead.free:
            return {}
        fields = self.tx.app.compiled.entities[entity].fields
        for (e, f), values in self.ahead.free.items():
            if e == entity and data.get(f) is not None:
                try:
                    v = coerce(fields[f].defn, data[f])
                except CoercionError:
                    continue
                if v in values:
                    return {f: v}
        return {}


    def _find(self, lk: CompiledLookup, value: Any, src: Source) -> int | None:
        """Id of the first record of the lookup's entity whose ``by`` field equals ``value``."""
        stored = self._stored(lk.entity, lk.by, value, src) if lk.by != "name" else str(value)
        plan = self.tx.plan(lk.entity)
        if stored is None:  # ``by`` is null: ``IS NULL``, not a parameter (``= NULL`` matches nothing)
            t = plan.table
            return self.tx.conn.execute(sa.select(t.c.id).where(t.c[lk.by].is_(None)).order_by(t.c.id).limit(1)).scalar()
        return lean.execute(self.tx.conn, plan.select_by("id", (lk.by,), first=True), {f"w_{lk.by}": stored}).scalar()


def _key_text(key: dict[str, Any], channel_field: str | None) -> str | None:
    """The key as shown to people: its values other than the channel."""
    shown = [str(v) for k, v in key.items() if k != channel_field]
    return "/".join(shown) if shown else None


def _rolled_back(savepoint: Any) -> None:
    """Roll ``savepoint`` back if it is still open (None: no savepoint)."""
    if savepoint is not None and savepoint.is_active:
        savepoint.rollback()
