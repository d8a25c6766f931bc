"""The definitions of a served app, kept in its database: a draft and numbered, immutable published versions.

    store = DefinitionStore(engine, root="apps/acme")
    store.import_folder("apps/acme", "alice", "first import")   # version 1 (published) when nothing is stored
    store.save_file("flows/order_lifecycle.yaml", text, "alice")  # the draft changes; nothing is served yet
    store.validate()                                              # every error, file:line:column
    store.publish("alice", "finance approval above 50k")         # version 2 (see publish.py)

Files are kept as texts by their path relative to the app folder (``dsl/files.py`` loads them), so an
export writes exactly the files that were imported, changed only where someone changed them. A failed
operation leaves the store as it was (one transaction each). ``root`` is the folder the app came from
(relative ``extends:`` and data files are resolved from it); it is optional.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.app import AppDefinition
from ordo.dsl.errors import DefinitionError, DefinitionErrors
from ordo.dsl.expr import Clock
from ordo.dsl.files import (
    MANIFEST,
    MAX_FILES,
    FileRefused,
    check_files,
    check_path,
    check_text,
    digest,
    load_files,
    read_app_files,
    validate_files,
)

from .. import audit, unit_of_work
from ..actor import UserLike, as_user
from ..db import advisory_lock, write_connection
from ..errors import Conflict, NotFound, UsageError
from .tables import DRAFT, FILES, PUBLISHED, file_table, version_table

if TYPE_CHECKING:
    from ordo.dsl.item_diff import Change

LOCK = "ordo-definitions"
Ref = int | str  # a version number, or "draft" / "published"


class FileRejected(UsageError):
    """Files the store does not take: a path outside the app, not YAML, too large (nothing was changed).
    ``errors``: one DefinitionError per file refused, naming it (and the line, where there is one)."""

    def __init__(self, message: str, errors: list[DefinitionError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class NothingToDiscard(Conflict):
    """The draft is the published version: discarding it would change nothing (nothing was changed)."""


@dataclass(frozen=True)
class Version:
    number: int  # 0: the draft
    action: str  # draft, import, publish, rollback
    based_on: int | None  # rollback: the version published again; draft: the version it started from
    created_by: str
    created_at: dt.datetime
    note: str
    digest: str  # of its files (paths and texts)

    @property
    def label(self) -> str:
        return "draft" if self.number == DRAFT else f"v{self.number}"

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "label": self.label, "action": self.action, "based_on": self.based_on,
                "created_by": self.created_by, "created_at": self.created_at, "note": self.note,
                "digest": self.digest}


def _version(row: Any) -> Version:
    return Version(row.number, row.action, row.based_on, row.created_by, row.created_at, row.note or "", row.digest)


def refused(e: FileRefused) -> FileRejected:
    return FileRejected(str(e) if e.line is not None else e.message, [e])


class DefinitionStore:
    """The draft and published versions of one app's definitions in a database (see the module docstring)."""

    def __init__(self, engine: sa.Engine, *, root: str | Path | None = None, label: str = "app",
                 clock: Clock | None = None) -> None:
        self.engine = engine
        self.root = root
        self.label = label
        self.clock = clock or Clock()
        unit_of_work.watch(engine)  # audit rows are buffered until the commit

    # -- reading
    def ready(self) -> bool:
        """Whether the database has the store's tables (schema sync creates them)."""
        with self.engine.connect() as conn:
            return sa.inspect(conn).has_table(version_table.name)

    def stored(self) -> bool:
        """Whether any version is stored (False too when the database has no store tables yet)."""
        return self.ready() and self.published() is not None

    def published(self) -> int | None:
        """The number of the version being served (the newest), None when nothing is stored. Cheap: every
        served request may ask (at most once a second, see designer_api/live.py)."""
        with self.engine.connect() as conn:
            return conn.execute(PUBLISHED).scalar()

    def versions(self) -> list[Version]:
        """Every published version, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(version_table).where(version_table.c.number > DRAFT)
                                .order_by(version_table.c.number.desc()))
            return [_version(r) for r in rows]

    def version(self, ref: Ref) -> Version:
        """A published version (by number, or ``"published"``) or the draft; NotFound for an unknown one."""
        number = self.number(ref)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(version_table).where(version_table.c.number == number)).first()
            if row is None and number == DRAFT:  # no draft yet: it is the published version
                published = conn.execute(PUBLISHED).scalar()
                if published is not None:
                    row = conn.execute(sa.select(version_table).where(version_table.c.number == published)).first()
                    return Version(DRAFT, "draft", published, row.created_by, row.created_at, "", row.digest)
        if row is None:
            raise self._unknown(number)
        return _version(row)

    def number(self, ref: Ref) -> int:
        """The version number ``ref`` names: a number, ``"v3"``, ``"draft"`` (0) or ``"published"``."""
        if isinstance(ref, bool):
            raise UsageError(f"unknown version {ref!r}")
        if isinstance(ref, int):
            return ref
        text = str(ref).strip().lower()
        if text == "draft":
            return DRAFT
        if text in ("published", "current", "latest"):
            published = self.published()
            if published is None:
                raise NotFound("no version is published yet (import the app first: `ordo import-app`)")
            return published
        digits = text[1:] if text.startswith("v") else text
        if not digits.isdigit() or len(digits) > 9:
            raise UsageError(f"unknown version {ref!r}: give a version number (e.g. 3), 'draft' or 'published'")
        return int(digits)

    def files(self, ref: Ref) -> dict[str, str]:
        """The files of a version (or of the draft): relative path -> text."""
        number = self.number(ref)
        with self.engine.connect() as conn:
            if number == DRAFT and not self._has_draft(conn):
                number = conn.execute(PUBLISHED).scalar() or DRAFT
            if number != DRAFT and conn.execute(sa.select(version_table.c.number)
                                                .where(version_table.c.number == number)).first() is None:
                raise self._unknown(number)
            files = {r.path: r.text for r in conn.execute(FILES, {"v": number})}
        if not files:
            raise NotFound("nothing is stored yet: import the app first (`ordo import-app`)")
        return files

    def draft(self) -> dict[str, str]:
        """The draft's files (the published version's until someone changes one)."""
        return self.files("draft")

    def definition(self, ref: Ref) -> AppDefinition:
        """The checked definitions of a version or of the draft; DefinitionErrors when they do not load."""
        return load_files(self.files(ref), label=self.label, root=self.root)

    def validate(self, files: Mapping[str, str] | None = None) -> list[DefinitionError]:
        """Every problem of ``files`` (default: the draft), sorted by file, line and column."""
        return validate_files(self.draft() if files is None else files, label=self.label, root=self.root)

    def diff(self, a: Ref, b: Ref) -> list[Change]:
        """What changed from ``a`` to ``b`` (versions or "draft"), definition by definition, item by item."""
        from ordo.dsl.item_diff import diff_definitions

        return diff_definitions(self.definition(a), self.definition(b))

    def changed_files(self, a: Ref, b: Ref) -> dict[str, str]:
        """The files that differ between ``a`` and ``b``: path -> added, removed or changed."""
        fa, fb = self.files(a), self.files(b)
        out = {p: "removed" for p in fa if p not in fb}
        out.update({p: "added" for p in fb if p not in fa})
        out.update({p: "changed" for p in fa if p in fb and fa[p] != fb[p]})
        return dict(sorted(out.items()))

    # -- the draft
    def save_file(self, path: str, text: str, user: UserLike, *, expected: str | None = None,
                  action: str = "save_file") -> str:
        """Write one file of the draft (new or changed); return its normalised path. ``expected``: the
        :func:`text_sha` of the text the change was made to ("" for a new file); when the draft's file is
        no longer that text (someone saved it meanwhile), nothing is written (Conflict). ``action``: what the
        audit entry calls it (``edit_file``: structured edits)."""
        try:
            rel, text = check_path(path), check_text(path, text)
        except FileRefused as e:
            raise refused(e) from None
        with write_connection(self.engine) as conn:
            advisory_lock(conn, LOCK)
            files = self._draft_for_edit(conn, user)
            if expected is not None and text_sha(files.get(rel)) != expected:
                raise Conflict(f"{rel} was changed in the draft since you opened it: reload it and make your change "
                               f"again (nothing was saved)")
            if rel not in files and len(files) >= MAX_FILES:
                raise FileRejected(f"the app already has {MAX_FILES} files: no more can be added")
            before = files.get(rel)
            files[rel] = text
            conn.execute(sa.delete(file_table).where(file_table.c.version == DRAFT, file_table.c.path == rel))
            conn.execute(sa.insert(file_table).values(version=DRAFT, path=rel, text=text))
            self._touch_draft(conn, user, files)
            self._audit(conn, user, action, {"file": [None, rel], "sha": [text_sha(before) or None, text_sha(text)]})
        return rel

    def delete_file(self, path: str, user: UserLike) -> None:
        """Remove one file from the draft (not app.yaml)."""
        try:
            rel = check_path(path)
        except FileRefused as e:
            raise refused(e) from None
        if rel == MANIFEST:
            raise FileRejected("app.yaml cannot be deleted: it names the app")
        with write_connection(self.engine) as conn:
            advisory_lock(conn, LOCK)
            files = self._draft_for_edit(conn, user)
            if rel not in files:
                raise NotFound(f"the draft has no file {rel!r}")
            before = files.pop(rel)
            conn.execute(sa.delete(file_table).where(file_table.c.version == DRAFT, file_table.c.path == rel))
            self._touch_draft(conn, user, files)
            self._audit(conn, user, "delete_file", {"file": [rel, None], "sha": [text_sha(before), None]})

    def replace_draft(self, files: Mapping[str, str], user: UserLike, conn: sa.Connection | None = None) -> None:
        """Make ``files`` the whole draft (an import); each path and text is checked first."""
        checked = checked_files(files)
        if conn is None:
            with write_connection(self.engine) as c:
                advisory_lock(c, LOCK)
                self._replace_draft(c, checked, user, "import_draft")
        else:
            self._replace_draft(conn, checked, user, "import_draft")

    def discard_draft(self, user: UserLike, *, expected: str | None = None) -> dict[str, str]:
        """Throw the draft's changes away: it is the published version again. Returns what is thrown away
        (path -> added, removed or changed in the draft). ``expected``: the digest of the draft the change
        was decided on (``Version.digest`` of ``version("draft")``); when the draft is no longer that
        (someone changed it meanwhile), nothing is discarded (Conflict). NothingToDiscard when the draft is
        the published version. Audited (``discard_draft``: the files, the digests before and after)."""
        with write_connection(self.engine) as conn:
            advisory_lock(conn, LOCK)
            published = conn.execute(PUBLISHED).scalar()
            if published is None:
                raise NotFound("nothing is stored yet: import the app first (`ordo import-app`)")
            files = {r.path: r.text for r in conn.execute(FILES, {"v": published})}
            draft = {r.path: r.text for r in conn.execute(FILES, {"v": DRAFT})} if self._has_draft(conn) else files
            if expected is not None and digest(draft) != expected:
                raise Conflict("the draft was changed since you loaded it: reload it and decide again "
                               "(nothing was discarded)")
            if draft == files:
                raise NothingToDiscard(f"the draft is the published version v{published}: there is nothing to "
                                       f"discard")
            changed = {p: "removed" for p in files if p not in draft}
            changed.update({p: "added" for p in draft if p not in files})
            changed.update({p: "changed" for p in files if p in draft and files[p] != draft[p]})
            self._write_draft(conn, files, user)
            self._audit(conn, user, "discard_draft", {"files": [None, sorted(changed)],
                                                      "digest": [digest(draft), digest(files)]})
        return dict(sorted(changed.items()))

    def draft_edits(self, limit: int = 20) -> list[audit.AuditEntry]:
        """The audit entries of the draft's changes since the published version was published (who, when,
        which file, its sha before and after), newest first; ``action``: save_file, edit_file, delete_file,
        import_draft or discard_draft. The whole history is in the audit log (entity ``ordo_definitions``,
        record 0)."""
        with self.engine.connect() as conn:
            since = conn.execute(sa.select(version_table.c.created_at).where(
                version_table.c.number == PUBLISHED.scalar_subquery())).scalar()
            return audit.read(conn, entity=audit.DEFINITIONS, record_id=DRAFT, since=since, limit=limit)

    # -- publishing (publish.py) and export (export.py)
    def publish(self, user: UserLike, note: str = "") -> Version:
        """Publish the draft as the next version (all errors at once; schema changes checked)."""
        from .publish import publish

        return publish(self, user, note)

    def rollback(self, number: Ref, user: UserLike, note: str = "") -> Version:
        """Publish version ``number`` again, as a new version."""
        from .publish import rollback

        return rollback(self, self.number(number), user, note)

    def export(self, ref: Ref, dest: str | Path) -> list[str]:
        """Write a version's (or the draft's) files to a folder or a ``.zip`` file."""
        from .export import write_files

        return write_files(self.files(ref), dest)

    # -- import
    def import_folder(self, folder: str | Path, user: UserLike, note: str = "", *,
                      publish: bool = False) -> Version:
        """Read the app folder's files into the store: as version 1 when nothing is stored yet, else as the
        new draft (with ``publish``: published as the next version, replacing the draft). The files are
        checked first; a refused import (invalid files: :class:`PublishRefused` when publishing, else
        ``DefinitionErrors``; a Conflict) leaves the store as it was, the draft and its edits included."""
        from .publish import publish as publish_files

        files = read_app_files(folder)
        note = note or f"imported from {folder}"
        if not self.stored():
            return publish_files(self, user, note, files=files, action="import")
        if publish:
            return publish_files(self, user, note, files=files, action="import", replace_draft=True)
        errors = self.validate(files)
        if errors:
            raise DefinitionErrors(errors)
        self.replace_draft(files, user)
        return self.version("draft")

    # -- helpers
    @staticmethod
    def _has_draft(conn: sa.Connection) -> bool:
        return conn.execute(sa.select(version_table.c.number).where(version_table.c.number == DRAFT)).first() \
            is not None

    def _draft_for_edit(self, conn: sa.Connection, user: UserLike) -> dict[str, str]:
        """The draft's files, the draft made from the published version first if there is none."""
        if self._has_draft(conn):
            return {r.path: r.text for r in conn.execute(FILES, {"v": DRAFT})}
        published = conn.execute(PUBLISHED).scalar()
        if published is None:
            raise NotFound("nothing is stored yet: import the app first (`ordo import-app`)")
        files = {r.path: r.text for r in conn.execute(FILES, {"v": published})}
        self._write_draft(conn, files, user)
        return files

    def _replace_draft(self, conn: sa.Connection, files: Mapping[str, str], user: UserLike, action: str) -> None:
        number = DRAFT if self._has_draft(conn) else conn.execute(PUBLISHED).scalar()
        before = {r.path: r.text for r in conn.execute(FILES, {"v": number})} if number is not None else {}
        self._write_draft(conn, files, user)
        changed = sorted(p for p in set(files) | set(before) if files.get(p) != before.get(p))
        self._audit(conn, user, action, {"files": [None, changed], "digest": [digest(before), digest(files)]})

    def _audit(self, conn: sa.Connection, user: UserLike, action: str, changes: dict[str, list]) -> None:
        """An audit entry of a draft change (entity ``ordo_definitions``, record 0: the draft)."""
        audit.write(conn, at=self.clock.now(), user=as_user(user).name, entity=audit.DEFINITIONS, record_id=DRAFT,
                    record_name="draft", action=action, changes=changes)

    def _write_draft(self, conn: sa.Connection, files: Mapping[str, str], user: UserLike) -> None:
        conn.execute(sa.delete(file_table).where(file_table.c.version == DRAFT))
        if files:
            conn.execute(sa.insert(file_table), [{"version": DRAFT, "path": p, "text": t} for p, t in files.items()])
        self._touch_draft(conn, user, files)

    def _touch_draft(self, conn: sa.Connection, user: UserLike, files: Mapping[str, str]) -> None:
        published = conn.execute(PUBLISHED).scalar()
        conn.execute(sa.delete(version_table).where(version_table.c.number == DRAFT))
        conn.execute(sa.insert(version_table).values(
            number=DRAFT, action="draft", based_on=published, created_by=as_user(user).name,
            created_at=self.clock.now(), note="", digest=digest(files)))

    def _unknown(self, number: int) -> NotFound:
        published = self.published()
        known = f"versions 1 to {published}" if published else "no version yet"
        return NotFound(f"no version {number} ({known}; or 'draft')")


def text_sha(text: str | None) -> str:
    """A short fingerprint of a file's text ("" for no file): what a client sends back as ``base``."""
    return "" if text is None else hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def checked_files(files: Mapping[str, str]) -> dict[str, str]:
    """``files`` with normalised paths, if the store takes every one (else FileRejected listing each refusal:
    the same checks as loading, :func:`ordo.dsl.files.check_files`) and they hold an app.yaml."""
    out, errors = check_files(files)
    if not errors and MANIFEST not in out:
        errors = [FileRefused("the files hold no app.yaml", file=MANIFEST)]
    if errors:
        errors.sort(key=DefinitionError.sort_key)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise FileRejected(f"{errors[0]}{more}", errors)
    return out
