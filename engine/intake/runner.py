"""Run an intake: choose the shape, read the documents, and create one record per
document, in batches of one transaction each (see ``docs/intake.md``): a bad document never
loses the good ones.

Idempotency: the intake's ``key`` fields (e.g. channel + external id) are computed
first; a record with the same key means the document was already imported and it
is reported as a duplicate without any change (also when a concurrent import wins
the race: the unique index refuses the insert and the key is found on re-check).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.loader import resolve_data_path

from .. import validation
from ..actor import UserLike
from ..coerce import CoercionError, coerce
from ..errors import FieldError, NotFound, OrdoError, UsageError, ValidationFailed
from ..records import Transaction
from .compiled import CompiledIntake, CompiledShape
from .mapping import CompiledLookup, MappingError, Source
from .readers import PayloadError, SourceDocument, get_path, iter_items, read_documents
from .result import Duplicate, IntakeProblem, IntakeResult

if TYPE_CHECKING:
    from ..app import App

Progress = Callable[[int, int], None]


_READ_IN_BATCH = 256 * 1024  # bytes: a payload up to this size is parsed inside the first batch's transaction


class _Rollback(Exception):
    """Raised to roll back a dry run."""


class _Careful(Exception):
    """A document of a batch run without savepoints failed: the batch runs again, each document in its own."""


class RowConflicts(OrdoError):
    """The rows of a CSV document disagree (the problems are on the document)."""


class IntakeRuntime:
    """``app.features["intake"]``: run the app's intakes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.intakes = {d.name: CompiledIntake(app, d) for d in app.definition.all("intake")}

    def intake(self, name: str) -> CompiledIntake:
        found = self.intakes.get(name)
        if found is None:
            raise NotFound(f"no intake '{name}' (intakes: {', '.join(self.intakes) or 'none'})")
        return found

    def import_file(self, tx_or_user: Transaction | UserLike, intake: str, path: str | Path, *,
                    channel: str | None = None, shape: str | None = None, dry_run: bool = False,
                    batch_size: int = 500, progress: Progress | None = None) -> IntakeResult:
        """Import the documents of ``path`` (.json, .jsonl or .csv) through ``intake``; ``builtin:PACK/...``
        names a file shipped inside a template pack (e.g. ``builtin:oms/samples/shop_orders.csv``)."""
        try:
            p = resolve_data_path(path)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not p.is_file():
            raise UsageError(f"no such file: {path}" + (f" ({p})" if str(p) != str(path) else ""))
        return self.import_payload(tx_or_user, intake, p.read_bytes(), channel=channel, shape=shape,
                                   source=str(path), dry_run=dry_run, batch_size=batch_size, progress=progress)

    def import_payload(self, tx_or_user: Transaction | UserLike, intake: str, payload: bytes | str, *,
                       channel: str | None = None, shape: str | None = None, source: str | None = None,
                       dry_run: bool = False, batch_size: int = 500,
                       progress: Progress | None = None) -> IntakeResult:
        """Import a payload given as text or bytes; ``source`` names it (a file name picks the format).

        Given a user, the documents are committed in batches of ``batch_size``, one transaction each (run
        again from its start when it loses a race with a concurrent transaction); given a transaction, they
        all go into it."""
        ci = self.intake(intake)
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, got {batch_size}")
        job = _Import(self, ci, payload, channel, shape, source, dry_run)
        if isinstance(tx_or_user, Transaction):  # the caller's transaction: every document in its savepoint
            job.read(tx_or_user)
            job.batch(tx_or_user, 0, len(job.docs), careful=True)
            if progress is not None:
                progress(len(job.docs), len(job.docs))
            assert job.result is not None
            return job.result
        if len(payload) > _READ_IN_BATCH:  # a big file is parsed before a write transaction holds the lock
            with self.app.reader(tx_or_user) as tx:
                job.read(tx)
        # without savepoints first, except on PostgreSQL: there a batch run again would give its records new
        # names (a sequence's numbers are not rolled back), leaving a gap of up to a batch in the series
        fast = self.app.engine.dialect.name != "postgresql"
        start, careful = 0, not fast
        what = f"importing {source or 'the payload'}"
        try:
            while True:
                try:
                    start = self.app.run(tx_or_user, lambda tx, at=start, c=careful: job.commit(tx, at, batch_size, c),
                                         what)
                except _Careful:  # rolled back: the same batch again, each document in its own savepoint
                    careful = True
                    continue
                careful = not fast
                if progress is not None:
                    progress(start, len(job.docs))
                if start >= len(job.docs):
                    break
        except _Rollback:
            if progress is not None:
                progress(len(job.docs), len(job.docs))
        assert job.result is not None
        return job.result

    @staticmethod
    def _channel(tx: Transaction, ci: CompiledIntake, channel: str | None) -> dict[str, Any] | None:
        ch = ci.defn.channel
        if ch is None:
            if channel is not None:
                raise UsageError(f"intake '{ci.name}' does not take a channel")
            return None
        if not channel:
            raise UsageError(f"intake '{ci.name}' needs a channel (a {ch.entity} name)")
        try:
            return tx.load(ch.entity, channel)
        except NotFound:
            raise UsageError(f"no {ch.entity} '{channel}'") from None


def _decoded(payload: bytes | str, encoding: str, source: str | None) -> str:
    """The payload's text; bytes that are not in the shape's encoding are refused naming the offset."""
    if not isinstance(payload, bytes):
        return payload.lstrip("\ufeff")
    try:
        return payload.decode(encoding)
    except UnicodeDecodeError as e:
        line = payload.count(b"\n", 0, e.start) + 1
        raise PayloadError(f"{source or 'payload'}:{line}: not {encoding} text (byte 0x{payload[e.start]:02x} at "
                           f"offset {e.start})") from None
    except LookupError:
        raise PayloadError(f"unknown encoding {encoding!r}") from None


class _Import:
    """One payload being imported: its shape and documents (read once) and the result so far."""

    def __init__(self, runtime: IntakeRuntime, ci: CompiledIntake, payload: bytes | str, channel: str | None,
                 shape: str | None, source: str | None, dry_run: bool) -> None:
        self.runtime = runtime
        self.ci = ci
        self.payload = payload
        self.channel = channel
        self.shape_name = shape
        self.source = source
        self.dry_run = dry_run
        self.shape: CompiledShape | None = None
        self.docs: list[SourceDocument] = []
        self.result: IntakeResult | None = None
        self._mark: tuple[int, tuple[int, int, int]] | None = None  # (batch start, result before it)
        self._channel_seen: tuple[Transaction, dict[str, Any] | None] | None = None

    def read(self, tx: Transaction) -> None:
        """Choose the shape (the channel record may name it) and read the documents, once."""
        if self.result is not None:
            return
        chosen = self.ci.choose_shape(self.shape_name, self._channel(tx), self.source)
        text = _decoded(self.payload, chosen.defn.encoding, self.source)
        self.docs = read_documents(text, chosen.defn, chosen.document_columns)
        self.shape = chosen
        self.result = IntakeResult(self.ci.name, chosen.name, self.channel, self.source, len(self.docs),
                                   dry_run=self.dry_run)

    def _channel(self, tx: Transaction) -> dict[str, Any] | None:
        """The channel record as this transaction sees it (loaded once per transaction)."""
        if self._channel_seen is None or self._channel_seen[0] is not tx:
            self._channel_seen = (tx, IntakeRuntime._channel(tx, self.ci, self.channel))
        return self._channel_seen[1]

    def commit(self, tx: Transaction, start: int, batch_size: int, careful: bool) -> int:
        """One batch in its own transaction (a dry run: every document, then rolled back); returns where the
        next batch starts. A run again of the same batch (a lost race, or ``careful`` after a document
        failed) first forgets what the earlier run reported."""
        self.read(tx)
        assert self.result is not None
        if self._mark is not None and self._mark[0] == start:
            self.result.reset(self._mark[1])
        else:
            self._mark = (start, self.result.mark())
        end = len(self.docs) if self.dry_run else min(start + batch_size, len(self.docs))
        self.batch(tx, start, end, careful)
        if self.dry_run:
            raise _Rollback
        return end

    def batch(self, tx: Transaction, start: int, end: int, careful: bool) -> None:
        assert self.result is not None and self.shape is not None
        run = _Run(tx, self.ci, self.shape, self._channel(tx), self.result, careful)
        for doc in self.docs[start:end]:
            run.document(doc)


class _Run:
    """One batch of documents in one transaction."""

    def __init__(self, tx: Transaction, ci: CompiledIntake, shape: CompiledShape, channel: dict[str, Any] | None,
                 result: IntakeResult, careful: bool = True) -> None:
        self.tx = tx
        self.ci = ci
        self.shape = shape
        self.channel = channel
        self.result = result
        self.careful = careful  # a savepoint per document; else a failure after a write raises _Careful
        self.cache: dict[tuple[str, str, Any], int | None] = {}  # lookups of this batch (its transaction)
        self.added: list[tuple[str, str, Any]] = []
        self.wrote = False  # the current document has written something (a record created by a lookup)

    def document(self, doc: SourceDocument) -> None:
        if doc.error is not None:
            self.result.errors.append(IntakeProblem(doc.line, doc.index, None, "", doc.error))
            return
        if not isinstance(doc.data, dict):
            self.result.errors.append(IntakeProblem(doc.line, doc.index, None, "", "a document must be an object"))
            return
        src = Source(doc.data, doc.data, self.channel, self.tx.env, doc.line)
        key_text = None
        savepoint = self.tx.conn.begin_nested() if self.careful else None
        self.added, self.wrote = [], False
        try:
            key = self._key(src)
            key_text = _key_text(key, self.ci.defn.channel.field if self.ci.defn.channel else None)
            if doc.conflicts:
                raise RowConflicts("the rows of the document disagree")
            existing = self._existing(key)
            if existing is not None:
                self._undo(savepoint)
                self.result.duplicates.append(Duplicate(doc.line, doc.index, key_text or "", existing))
                return
            data = self._map(doc, src)
            self.wrote = True  # from here a failure may leave part of the record written
            try:
                with validation.unused(self.tx, self.ci.entity.name, key):  # just looked up: not again
                    rec = self.tx.create(self.ci.entity.name, data)
            except ValidationFailed:
                if savepoint is None:
                    raise
                self._undo(savepoint)  # first: on PostgreSQL the failed statement aborted the savepoint
                existing = self._existing(key) if key else None
                if existing is None:
                    raise
                self.result.duplicates.append(Duplicate(doc.line, doc.index, key_text or "", existing))
                return
            if savepoint is not None:
                savepoint.commit()
            self.result.created.append(rec["name"])
        except OrdoError as e:
            self._undo(savepoint)
            self.result.errors.extend(_problems(e, doc, key_text))

    def _undo(self, savepoint: Any) -> None:
        """Take back what the current document wrote (its savepoint), and the lookups it cached."""
        if savepoint is None:
            if self.wrote:
                raise _Careful  # no savepoint to roll back to: the batch runs again with them
        elif savepoint.is_active:
            savepoint.rollback()
        for k in self.added:
            self.cache.pop(k, None)

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
            found = self.tx.conn.execute(q, {"w_name": v}).scalar()
            if found is None:
                raise MappingError(name, f"no {f.entity} {v!r}", src.line)
            v = found
        return v

    def _existing(self, key: dict[str, Any]) -> str | None:
        if not key:
            return None
        q = self.tx.plan(self.ci.entity.name).select_by("name", tuple(key))
        return self.tx.conn.execute(q, {f"w_{k}": v for k, v in key.items()}).scalar()

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
            if table.rows is not None:
                _, parts = table.rows
                items = [(doc.line, item) for item in iter_items(get_path(doc.data, parts))]
            else:
                items = doc.rows
            for i, (line, item) in enumerate(items):
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
            self.added.append(ck)
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
        self.wrote = True
        # a savepoint of its own on PostgreSQL, where a refused INSERT (a concurrent import created the same
        # record) aborts the transaction up to a savepoint: the lookup looks again after rolling it back
        savepoint = self.tx.conn.begin_nested() if self.tx.conn.dialect.name == "postgresql" else None
        try:
            created = self.tx.create(lk.entity, data)
            if savepoint is not None:
                savepoint.commit()
        except ValidationFailed as e:
            savepoint = _rolled_back(savepoint)
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
        return created["id"]


    def _find(self, lk: CompiledLookup, value: Any, src: Source) -> int | None:
        """Id of the first record of the lookup's entity whose ``by`` field equals ``value``."""
        stored = self._stored(lk.entity, lk.by, value, src) if lk.by != "name" else str(value)
        plan = self.tx.plan(lk.entity)
        if stored is None:  # ``by`` is null: ``IS NULL``, not a parameter (``= NULL`` matches nothing)
            t = plan.table
            return self.tx.conn.execute(sa.select(t.c.id).where(t.c[lk.by].is_(None)).order_by(t.c.id).limit(1)).scalar()
        return self.tx.conn.execute(plan.select_by("id", (lk.by,), first=True), {f"w_{lk.by}": stored}).scalar()


def _key_text(key: dict[str, Any], channel_field: str | None) -> str | None:
    """The key as shown to people: its values other than the channel."""
    shown = [str(v) for k, v in key.items() if k != channel_field]
    return "/".join(shown) if shown else None


def _row_line(doc: SourceDocument, field: str) -> int:
    """The CSV line of the row a ``table[i].field`` error points at (else the document's line)."""
    if doc.rows and "[" in field:
        try:
            i = int(field.split("[", 1)[1].split("]", 1)[0])
            return doc.rows[i][0]
        except (ValueError, IndexError):
            pass
    return doc.line


def _problems(e: OrdoError, doc: SourceDocument, key: str | None) -> list[IntakeProblem]:
    conflicts = [IntakeProblem(line, doc.index, key, column, reason) for line, column, reason in doc.conflicts]
    if isinstance(e, RowConflicts):
        return conflicts
    return conflicts + _error_problems(e, doc, key)


def _error_problems(e: OrdoError, doc: SourceDocument, key: str | None) -> list[IntakeProblem]:
    if isinstance(e, MappingError):
        return [IntakeProblem(e.line if e.line is not None else doc.line, doc.index, key, e.field, e.reason)]
    if isinstance(e, ValidationFailed):
        errors: list[FieldError] = e.errors or [FieldError("", str(e))]
        return [IntakeProblem(_row_line(doc, err.field), doc.index, key, err.field, err.message) for err in errors]
    if isinstance(e, PayloadError):
        return [IntakeProblem(doc.line, doc.index, key, "", str(e))]
    return [IntakeProblem(doc.line, doc.index, key, "", str(e))]


def _rolled_back(savepoint: Any) -> None:
    """Roll ``savepoint`` back if it is still open (None: no savepoint)."""
    if savepoint is not None and savepoint.is_active:
        savepoint.rollback()
