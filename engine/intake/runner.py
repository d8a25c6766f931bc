"""Run an intake: choose the shape, read the documents, and create one record per document, in batches of one
transaction each (see ``docs/intake.md``; one batch: :mod:`.batch`): a bad document never loses the good ones.

Idempotency: the intake's ``key`` fields (e.g. channel + external id) are computed
first; a record with the same key means the document was already imported and it
is reported as a duplicate without any change (also when a concurrent import wins
the race: the unique index refuses the insert and the key is found on re-check).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordo.dsl.loader import resolve_data_path

from .. import naming
from ..actor import UserLike
from ..errors import NotFound, UsageError
from ..records import Transaction
from .batch import Careful, Run
from .compiled import CompiledIntake, CompiledShape
from .readers import PayloadError, SourceDocument, read_documents
from .result import IntakeResult

if TYPE_CHECKING:
    from ..app import App

Progress = Callable[[int, int], None]


_READ_IN_BATCH = 256 * 1024  # bytes: a payload up to this size is parsed inside the first batch's transaction


@contextlib.contextmanager
def _settled_heap() -> Iterator[None]:
    """While a batched import runs, the objects there before it (the app, its definitions, the libraries) are
    left out of the garbage collector's full scans (``gc.freeze``; given back after it, ``gc.unfreeze``): a
    long import ran a full collection of the whole heap every few thousand rows (the OMS intake: 5-7% of its
    CPU). What the import makes is collected as before. A process that froze its long-lived objects itself
    (the ``ordo`` command, ``cli.common.long_lived``) has them out of reach already: nothing is done (given
    back, they would be walked again for the rest of the process)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Rollback(Exception):
    """Raised to roll back a dry run."""


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
            job.batch(tx_or_user, 0, len(job.docs), careful_from=0)
            if progress is not None:
                progress(len(job.docs), len(job.docs))
            assert job.result is not None
            return job.result
        if len(payload) > _READ_IN_BATCH:  # a big file is parsed before a write transaction holds the lock
            with self.app.reader(tx_or_user) as tx:
                job.read(tx)
        start, careful_from = 0, None  # None: the batch's default (none careful, see _Import.commit)
        what = f"importing {source or 'the payload'}"
        with _settled_heap():
            try:
                while True:
                    try:
                        start = self.app.run(tx_or_user, lambda tx, at=start, c=careful_from:
                                             job.commit(tx, at, batch_size, c), what)
                    except Careful as e:  # rolled back: the same batch again, from that document on careful
                        careful_from = e.position
                        continue
                    careful_from = None
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
        self.numbers = naming.KeptNumbers()  # series numbers of this import's runs rolled back (PostgreSQL)

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

    def commit(self, tx: Transaction, start: int, batch_size: int, careful_from: int | None) -> int:
        """One batch in its own transaction (a dry run: every document, then rolled back); returns where the
        next batch starts. A run again of the same batch (a lost race, or careful from a document that
        failed after writing) first forgets what the earlier run reported. ``careful_from`` None: no document
        careful (the end of the batch, known once the documents are read)."""
        self.read(tx)
        assert self.result is not None
        if self._mark is not None and self._mark[0] == start:
            self.result.reset(self._mark[1])
        else:
            self._mark = (start, self.result.mark())
        end = len(self.docs) if self.dry_run else min(start + batch_size, len(self.docs))
        # at a batch's first run no document takes a savepoint of its own, on either database (on PostgreSQL
        # the series numbers of a run rolled back are given again by the next run: naming.KeptNumbers, so
        # running a batch again leaves no gap in the names)
        careful_from = end if careful_from is None else careful_from
        with naming.reusing(tx.conn, self.numbers):  # rolled back: the next run gives its numbers again
            self.batch(tx, start, end, careful_from)
        if self.dry_run:
            raise _Rollback
        return end

    def batch(self, tx: Transaction, start: int, end: int, careful_from: int) -> None:
        """Documents ``start`` to ``end`` in ``tx``, those from ``careful_from`` on each in its savepoint."""
        assert self.result is not None and self.shape is not None
        run = Run(tx, self.ci, self.shape, self._channel(tx), self.result)
        run.read_ahead(self.docs[start:end])
        if end < len(self.docs):  # not the last batch: what its records do not use, the next batch's records do
            run.take_names(self.docs[start:end])
        docs = self.docs
        for i in range(start, end):
            run.document(docs[i], i, careful=i >= careful_from, lead=end - start == 1)
