"""Publishing a set of definition files as the next version, and rolling back to an earlier one.

``publish(store, user, note)`` takes the draft through these steps, and stops at the first that fails
with nothing stored:

1. the whole app is validated: every error at once, ``file:line:column`` with the relative path
   (:class:`PublishRefused`, a ``DefinitionErrors``);
2. in one transaction under the publish lock: no other publish came in meanwhile and (publishing the draft)
   the draft is still what was validated (``Conflict``: try again); the database schema is brought in line
   (engine/schema_sync): additive changes are applied, destructive ones are refused unless the definitions
   declare a migration (``SchemaChangeRefused``); the version is recorded (number, who, when, note, its
   files) with an audit entry. Any refusal rolls the whole transaction back: schema changes included.

Serving processes see the new number and rebuild their app for it (designer_api/live.py); flow instances
already running keep the graph they started with (engine/flows pins it in ``ordo_flow_version``).
``rollback(store, n, user, note)`` publishes the files of version ``n`` again, as a new version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.files import digest, load_files

from .. import audit
from ..actor import UserLike, as_user
from ..db import advisory_lock, write_connection
from ..errors import Conflict
from .store import LOCK, DefinitionStore, Version
from .tables import DRAFT, FILES, PUBLISHED, file_table, version_table

if TYPE_CHECKING:
    from ..app import App

AUDIT_ENTITY = audit.DEFINITIONS  # the audit log's entity for publishes and rollbacks (record_id: version)


class PublishRefused(DefinitionErrors):
    """The definitions have errors: nothing was published. ``errors`` lists every one."""


def _published(conn: sa.Connection) -> tuple[int | None, dict[str, str]]:
    if not sa.inspect(conn).has_table(version_table.name):  # a database whose tables are made by this publish
        return None, {}
    number = conn.execute(PUBLISHED).scalar()
    files = {r.path: r.text for r in conn.execute(FILES, {"v": number})} if number is not None else {}
    return number, files


def prepare(store: DefinitionStore, files: Mapping[str, str], app: App | None = None) -> App:
    """Validate ``files`` and return the App they make, built on the store's engine; the database is not
    touched (``publish`` syncs its schema under the publish lock). Raises PublishRefused."""
    from ..app import App

    errors = store.validate(files)
    if errors:
        raise PublishRefused(errors)
    if app is None:
        definition = load_files(files, label=store.label, root=store.root)
        app = App(definition, engine=store.engine, clock=store.clock, sync=False, check=False)
    return app


def schema_changes(store: DefinitionStore, files: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """What publishing ``files`` would change in the database schema: (changes, refused); nothing is changed.
    The files must be valid."""
    from ..app import App
    from ..errors import SchemaChangeRefused

    definition = load_files(files, label=store.label, root=store.root)
    app = App(definition, engine=store.engine, clock=store.clock, sync=False, check=False)
    try:
        return app.sync_schema(dry_run=True), []
    except SchemaChangeRefused as e:
        return [], list(e.problems)


def publish(store: DefinitionStore, user: UserLike, note: str = "", *, files: Mapping[str, str] | None = None,
            action: str = "publish", based_on: int | None = None, app: App | None = None,
            replace_draft: bool = False) -> Version:
    """Publish ``files`` (default: the draft) as the next version; see the module docstring. Validation runs
    first, without a lock; then, in one transaction under the publish lock, the published version (and, for
    the draft, the draft) is checked to be the one validated, the schema is synced and the version recorded:
    a refused publish (errors, Conflict, SchemaChangeRefused) changes nothing, schema included.
    ``replace_draft`` (an import): the draft, edited or not, is replaced by the version published; else a
    draft with edits beyond what is published is kept."""
    from_draft = files is None
    with store.engine.connect() as conn:
        seen, current = _published(conn)
    files = dict(store.draft() if from_draft else files)
    if seen is not None and files == current and action != "rollback":
        what = "the draft is" if from_draft else "the files are"
        raise Conflict(f"{what} the published version v{seen}: nothing to publish")
    app = prepare(store, files, app)
    name = as_user(user).name
    now = store.clock.now()
    new_digest = digest(files)
    with write_connection(store.engine) as conn:
        advisory_lock(conn, LOCK)
        number, previous = _published(conn)
        if number != seen:
            raise Conflict(f"version v{number} was published meanwhile; nothing was published: review the draft "
                           f"and publish again")
        draft = _draft_digest(conn) if number is not None else None
        if from_draft and (draft or digest(previous)) != new_digest:
            raise Conflict("the draft was changed meanwhile; nothing was published: review it and publish again")
        app.sync_schema(conn=conn)
        new = (number or 0) + 1
        row = dict(number=new, action=action, based_on=based_on, created_by=name, created_at=now,
                   note=note or "", digest=new_digest)
        conn.execute(sa.insert(version_table).values(**row))
        conn.execute(sa.insert(file_table), [{"version": new, "path": p, "text": t} for p, t in files.items()])
        if draft is not None and (replace_draft or draft in (new_digest, digest(previous))):  # no other edits
            conn.execute(sa.delete(file_table).where(file_table.c.version == DRAFT))
            conn.execute(sa.delete(version_table).where(version_table.c.number == DRAFT))
        changed = sorted(p for p in set(files) | set(previous) if files.get(p) != previous.get(p))
        audit.write(conn, at=now, user=name, entity=AUDIT_ENTITY, record_id=new, record_name=f"v{new}",
                    action=action, changes=_audit_changes(number, new, note, based_on, changed))
    return Version(new, action, based_on, name, now, note or "", new_digest)


def _draft_digest(conn: sa.Connection) -> str | None:
    """The digest of the draft's files; None when there is no draft (it is the published version)."""
    return conn.execute(sa.select(version_table.c.digest).where(version_table.c.number == DRAFT)).scalar()


def _audit_changes(before: int | None, after: int, note: str, based_on: int | None,
                   changed: list[str]) -> dict[str, list]:
    out: dict[str, list] = {"version": [before, after], "files": [None, changed]}
    if note:
        out["note"] = [None, note]
    if based_on is not None:
        out["based_on"] = [None, based_on]
    json.dumps(out)  # plain values only
    return out


def rollback(store: DefinitionStore, number: int, user: UserLike, note: str = "") -> Version:
    """Publish the files of version ``number`` again, as a new version (its schema checked as any publish)."""
    target = store.version(number)
    if target.number == DRAFT:
        raise Conflict("roll back to a published version (a number), not the draft")
    published = store.published()
    if published == target.number:
        raise Conflict(f"v{target.number} is the published version already")
    return publish(store, user, note or f"rollback to v{target.number}", files=store.files(target.number),
                   action="rollback", based_on=target.number)
