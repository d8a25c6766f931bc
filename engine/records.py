"""The record store: create, read, update, delete and query records in one transaction.

A :class:`Transaction` is a unit of work for one acting user on one database
connection. Every write runs the same pipeline: coerce input -> resolve links ->
defaults -> computed fields -> validation -> write parent and child rows ->
audit. Any error raises before commit, so a failed operation leaves the store
exactly as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr import Env
from ordo.dsl.expr.pyruntime import weakly as _weakly

from . import audit, field_access, jobs, lean, link_targets, outbox, record_batch, record_refs, unit_of_work
from . import child_rows as rows
from . import held_inserts as inserts
from .actor import User
from .compiled import CompiledEntity
from .errors import Conflict, FieldError, PermissionDenied, ValidationFailed, integrity_message
from .naming import make_name
from .owed import fold
from .query import TableSource, readable_first
from .record_input import check_editable, merge_rows, prepare, read_input
from .record_reads import MAX_LIMIT, Reads
from .stored_as_given import given_back
from .users import Directory
from .validation import validate_record
from .write_plan import EntityPlan

if TYPE_CHECKING:
    from .runtime import AppRuntime

Record = dict[str, Any]
UPDATE_PAGE = MAX_LIMIT  # records update_many reads at a time (it updates every matching record)
_WATCHED = "ordo_watched_records"  # (entity, id) -> latest version, for records whose listeners are running


@dataclass(frozen=True)
class WriteEvent:
    """What a write did, as seen by write listeners (flows start from these)."""

    entity: str
    action: str  # "create", "update" or "delete"
    before: Record | None
    after: Record | None


class Transaction(Reads):
    """One unit of work. Use through ``App.transaction(user)`` or the App's methods."""

    def __init__(self, app: AppRuntime, conn: sa.Connection, user: User, *, automated: bool = False) -> None:
        self.app = app
        self.conn = conn
        self.user = user
        self.guard = app.permissions.guard(user, app.compiled)  # None: may read everything
        self._env: Env | None = None  # made on first use (env): a transaction evaluating no expression makes none
        self.users = Directory(conn, user, app.permissions.privileges)
        # entity -> the SQL condition of the rows the user may read; (entity, by id, locked) -> its SELECT
        self._row_filters: dict[Any, Any] = {}
        self._kept_links: set[tuple[str, int]] = set()  # links on records read here (see link_target)
        # a flow's or a job's writes: `editable_if` (which guards people's edits) does not apply, and entity
        # rules apply only when they read a field the write changes (see validation.py)
        self.automated = automated
        self._carrying = False  # see carrying()
        self._uow: unit_of_work.UnitOfWork | None = None  # kept while its database transaction is the current one

    @property
    def now(self) -> dt.datetime:
        return self.app.clock.now()

    @property
    def env(self) -> Env:
        """The environment of this transaction's expressions, made on first use. It calls back weakly: no cycle
        keeps the transaction's objects until a garbage collection."""
        if self._env is None:
            confined = getattr(self.app, "confined", False)  # unpublished definitions: read as the user
            self._env = Env(link=_weakly(self._confined_link if confined else self._load_link), clock=self.app.clock,
                            related=_weakly(self._confined_aggregate if confined else self._related_aggregate))
        return self._env

    @env.setter
    def env(self, env: Env) -> None:
        self._env = env

    @property
    def uow(self) -> unit_of_work.UnitOfWork:
        """The unit of work of this database transaction (shared by every Transaction on the connection)."""
        uow = self._uow
        if uow is None or uow.root is not self.conn._transaction:  # as unit_of_work.of decides (get_transaction())
            uow = self._uow = unit_of_work.of(self.conn)
        return uow

    def forget(self, entity: str, record_id: int | None = None) -> None:
        """Tell the unit of work that a record (or every record of ``entity``) was written directly, not
        through create/update/delete: the next read loads it again."""
        self.uow.forget(entity, record_id)
        self.uow.changed(_tables(self.app.compiled.entity(entity)), None if record_id is None else (entity, record_id))

    def plan(self, entity: str) -> EntityPlan:
        """The statements of ``entity``, built once (see write_plan)."""
        return self.app.plans[entity]

    # -- background work and notifications, committed with this transaction
    def enqueue(self, kind: str, payload: dict[str, Any], run_at: dt.datetime | None = None, *,
                unique_key: str | None = None, max_attempts: int = 5, new_key: bool = False) -> int:
        return jobs.enqueue(self.conn, kind, payload, run_at or self.now, now=self.now, unique_key=unique_key,
                            max_attempts=max_attempts, new_key=new_key)

    def cancel_jobs(self, *, unique_key: str | None = None, prefix: str | None = None) -> int:
        return jobs.cancel(self.conn, unique_key=unique_key, prefix=prefix)

    def notify(self, channel: str, recipient: str, subject: str, body: str = "",
               payload: dict[str, Any] | None = None) -> None:
        outbox.notify(self.conn, channel, recipient, subject, body, payload, now=self.now)

    def _emit(self, event: WriteEvent) -> Record | None:
        """Run the write listeners; return the record as it is after them (re-read only when a listener
        wrote to it again, e.g. a flow that set its status), so callers get what is committed."""
        stored = event.after
        if stored is None or not self.app.listeners:
            for listener in self.app.listeners:
                listener(self, event)
            return stored
        watched = self.conn.info.setdefault(_WATCHED, {})
        key = (event.entity, stored["id"])
        outer = key in watched
        watched[key] = stored["version"]
        try:
            for listener in self.app.listeners:
                listener(self, event)
            latest = watched[key]
        finally:
            if not outer:
                watched.pop(key, None)
        if latest == stored["version"] or latest is None:  # unchanged, or deleted by a listener
            return stored
        return self._fetch(event.entity, stored["id"]) or stored

    def _written(self, entity: str, record_id: int, version: int | None) -> None:
        """Tell a write whose listeners are running that its record changed again (None: deleted)."""
        watched = self.conn.info.get(_WATCHED)
        if watched and (entity, record_id) in watched:
            watched[(entity, record_id)] = version
            inserts.rewritten(self.uow, self.conn, entity, self.plan(entity).table)

    # -- permissions
    def row_filter(self, entity: str, source: Any = None) -> Any:
        """SQL condition limiting the rows of ``entity`` the acting user may read (None: all).

        ``source`` is the SqlSource the condition is written over (default: the entity's table)."""
        if source is not None:
            return self.app.permissions.row_filter(self.user, entity, source)
        if entity not in self._row_filters:  # built once per transaction (the acting user is fixed)
            permissions = self.app.permissions
            if permissions.rules(self.user, entity, "read") is None:  # every row: no condition to write
                self._row_filters[entity] = None
            else:
                source = TableSource(self.app.compiled, entity, self.app.compiled.entity(entity).table)
                self._row_filters[entity] = permissions.row_filter(self.user, entity, source)
        return self._row_filters[entity]

    def allowed(self, entity: str, action: str, record: Mapping[str, Any]) -> bool:
        return self.app.permissions.allows(self.user, entity, action, record, self.env)

    @contextlib.contextmanager
    def carrying(self) -> Iterator[None]:
        """Writes inside carry field values the acting user may not set themselves (hidden or read-only):
        for the definition's own operations that copy a record as it is (split, merge), never for what
        the user gives. Row permissions still apply."""
        outer, self._carrying = self._carrying, True
        try:
            yield
        finally:
            self._carrying = outer

    def _settable(self, ce: CompiledEntity, action: str, data: Mapping[str, Any], errors: list[FieldError],
                  current: Record | None = None) -> Mapping[str, Any]:
        """``data`` without what the acting user's field rules forbid (see ``field_access.settable``)."""
        return field_access.settable(self, ce, action, data, errors, current)

    def _failed(self, ce: CompiledEntity, errors: list[FieldError], given: int = 0) -> ValidationFailed:
        """The errors of a refused write; past the first ``given`` (about the input, named as given), an
        error on a field hidden from the user (a rule's) names no field."""
        hidden = self.app.permissions.hidden(self.user, ce.name)
        return ValidationFailed(ce.name, errors[:given] + [FieldError("", e.message) if e.field in hidden else e
                                                           for e in errors[given:]])

    def _require(self, entity: str, action: str, record: Mapping[str, Any]) -> None:
        """Refuse ``action`` on a record the user may read (an unreadable one is never found)."""
        if not self.allowed(entity, action, record):
            raise PermissionDenied(f"{self.user.name} may not {action} {entity} {record.get('name') or ''}".rstrip())

    def where_clause(self, entity: str, text: str, params: Mapping[str, Any]) -> Any:
        """The rows of ``entity`` matching the acting user's filter ``text`` that they may read, as SQL
        (compiled once per guard): links and related rows it reaches are restricted to what the user
        may read, and it is evaluated only on rows they may read (see ``query.readable_first``)."""
        f = self.app.filters.get(entity, text, params, self.guard)
        return sa.and_(*readable_first(self.row_filter(entity), f.cheap, f.rest))

    def link_target(self, entity: str, key: int | str) -> Any:
        """The row a link value written by the acting user names, or None (see :mod:`link_targets`)."""
        return link_targets.find(self, entity, key)

    def _keep_links(self, ce: CompiledEntity, rec: Record) -> None:
        link_targets.keep(self._kept_links, ce, rec)

    # -- writing
    def create(self, entity: str, data: Mapping[str, Any]) -> Record:
        """Validate and insert a record (and its child rows); return it as committed, after the write
        listeners (flows) it started changed it."""
        ce = self.app.compiled.entity(entity)
        rec, explicit_name = self._new(ce, data)
        now = self.app.clock.now()
        name = explicit_name or make_name(self.conn, entity, ce.defn.naming, rec, now.date())
        values = self._insert_values(ce, rec, name, now)
        held = inserts.hold(self, ce, rec, values)
        if held is None:
            stored = self._write(self.plan(entity).insert, values, entity)
            if stored is not None and entity in self.app.rewrites_created:  # (only those may hold)
                inserts.learn(self.uow, ce.table, stored["id"])
            return self._created(ce, rec, stored, now)  # as stored (RETURNING): never read back
        try:  # its listeners' UPDATEs of it fold into the INSERT (see held_inserts)
            return self._created(ce, rec, held, now)
        finally:
            if self.uow.inserts.rows:
                self.uow.inserts.settle(self.conn)

    def create_many(self, entity: str, data: list[Mapping[str, Any]]) -> list[Record]:
        """Create records in order, with one INSERT when none of them can depend on another (see
        ``record_batch``); return them as committed."""
        return record_batch.create_many(self, entity, data)

    def _new(self, ce: CompiledEntity, data: Mapping[str, Any]) -> tuple[Record, str | None]:
        """A create's record checked (coerced, computed, validated, allowed) and its explicit name, if any."""
        errors: list[FieldError] = []
        data = self._settable(ce, "create", data, errors)
        given = len(errors)  # errors about what the user gave, named as they gave it
        rec = read_input(self, ce, data, errors, creating=True)
        explicit_name = rec.pop("name", None)
        prepare(self, ce, rec, errors, creating=True)
        validate_record(self, ce, rec, errors, record_id=None)
        if explicit_name is not None and self._row(ce, explicit_name) is not None:
            errors.append(FieldError("name", f"a {ce.name} named '{explicit_name}' already exists"))
        if errors:
            raise self._failed(ce, errors, given)
        self._require(ce.name, "create", rec)
        for hook in self.app.before_insert:  # may add what a listener would write next (a flow's first state)
            hook(self, ce, rec)
        return rec, explicit_name

    def _insert_values(self, ce: CompiledEntity, rec: Record, name: str, now: dt.datetime) -> Record:
        values = {f.name: rec.get(f.name) for f in ce.stored_fields}
        values.update(name=name, created_at=now, created_by=self.user.name, updated_at=now,
                      updated_by=self.user.name, version=1)
        return values

    def _created(self, ce: CompiledEntity, rec: Record, stored: Record, now: dt.datetime) -> Record:
        """After a record's INSERT: its child rows, the unit of work, the audit entry, the write listeners."""
        entity = ce.name
        p = self.plan(entity)
        for cf in ce.table_fields:
            if cf.name not in stored:  # (held: its rows as they will be stored)
                stored[cf.name] = rows.write(self.conn, p.children[cf.name], cf, stored["id"], [],
                                             rec.get(cf.name) or [])
        self.uow.adopt(entity, stored["id"])  # its aggregates over the other records of its entity stay true
        self._stored(ce, stored)
        audit.write(self.conn, at=now, user=self.user.name, entity=entity, record_id=stored["id"],
                    record_name=stored["name"], action="create", changes=audit.diff(None, stored, self._audited(ce)))
        return self.shown(entity, self._emit(WriteEvent(entity, "create", None, stored)) or stored)

    def update(self, entity: str, key: int | str, data: Mapping[str, Any],
               expected_version: int | None = None) -> Record:
        """Change fields of a record; return it as committed, after the write listeners (flows).
        A stale ``expected_version`` raises :class:`Conflict`."""
        ce = self.app.compiled.entity(entity)
        current = self.load(entity, key, for_update=True)
        self._require(entity, "update", current)
        if expected_version is not None and current["version"] != expected_version:
            raise Conflict(f"{entity} {current['name']} was changed by someone else (version "
                           f"{current['version']}, expected {expected_version}); reload and retry")
        errors: list[FieldError] = []
        data = self._settable(ce, "update", data, errors, current)
        given = len(errors)
        changes = read_input(self, ce, data, errors, creating=False, current=current)
        if changes.pop("name", current["name"]) != current["name"]:
            errors.append(FieldError("name", "the name of a record cannot be changed"))
        rec = {**current, **changes}
        for cf in ce.table_fields:
            if cf.name in changes:
                rec[cf.name] = merge_rows(cf, current[cf.name], changes[cf.name], errors)
        if not self.automated:
            check_editable(self, ce, current, rec, errors)
        prepare(self, ce, rec, errors, creating=False, before=current)
        validate_record(self, ce, rec, errors, record_id=current["id"], before=current)
        if errors:
            raise self._failed(ce, errors, given)
        self._require(entity, "update", rec)
        now = self.app.clock.now()
        p = self.plan(entity)
        values = p.update_values(ce.stored_names, current, rec)  # the changed fields only
        values.update(updated_at=now, updated_by=self.user.name, version=current["version"] + 1,
                      _id=current["id"], _version=current["version"])
        stored = self._update_row(p, values, entity, current)
        if stored is None:
            raise Conflict(f"{entity} {current['name']} was changed by someone else; reload and retry")
        for cf in ce.table_fields:
            stored[cf.name] = (rows.write(self.conn, p.children[cf.name], cf, current["id"], current[cf.name],
                                          rec[cf.name]) if cf.name in changes else current[cf.name])
        self._stored(ce, stored)
        self._written(entity, current["id"], stored["version"])
        delta = audit.diff(current, stored, self._audited(ce))
        if delta:
            audit.write(self.conn, at=now, user=self.user.name, entity=entity, record_id=current["id"],
                        record_name=current["name"], action="update", changes=delta)
        return self.shown(entity, self._emit(WriteEvent(entity, "update", current, stored)) or stored)

    def delete(self, entity: str, key: int | str, expected_version: int | None = None) -> None:
        """Delete a record and its child rows; links to it follow their ``on_delete`` rule."""
        ce = self.app.compiled.entity(entity)
        current = self.load(entity, key, for_update=True)
        self._require(entity, "delete", current)
        if expected_version is not None and current["version"] != expected_version:
            raise Conflict(f"{entity} {current['name']} was changed by someone else (version "
                           f"{current['version']}, expected {expected_version})")
        record_refs.handle_references(self, ce, current)
        p = self.plan(entity)
        for cf in ce.table_fields:
            lean.execute(self.conn, p.children[cf.name].delete_parent, {"_parent": current["id"]})
        lean.execute(self.conn, p.delete, {"_id": current["id"]})
        self.uow.forget(entity, current["id"])
        self.uow.changed(_tables(ce))
        self._written(entity, current["id"], None)
        audit.write(self.conn, at=self.app.clock.now(), user=self.user.name, entity=entity, record_id=current["id"],
                    record_name=current["name"], action="delete",
                    changes=audit.diff(current, None, self._audited(ce)))
        self._emit(WriteEvent(entity, "delete", current, None))

    # -- pipeline steps
    def _audited(self, ce: CompiledEntity) -> list[str]:
        return ce.audited

    def _stored(self, ce: CompiledEntity, stored: Record) -> None:
        """The unit of work learns the record as written (locked by this transaction); aggregates reading
        its entity are stale."""
        uow = self.uow
        uow.put(ce.name, stored, locked=True, tables=ce.table_names)
        uow.changed(_tables(ce), (ce.name, stored["id"]))

    def update_many(self, entity: str, where: str | None, data: Mapping[str, Any],
                    params: Mapping[str, Any] | None = None, limit: int | None = None) -> list[Record]:
        """Apply ``data`` to every record matching ``where`` (read in pages of ``UPDATE_PAGE`` by id, so
        none is left out however many match; ``limit`` caps how many), each through the full update pipeline.

        All or nothing: one refused record refuses the batch (its errors name the record)."""
        return record_refs.update_many(self, entity, where, data, params, limit, UPDATE_PAGE)

    def _update_row(self, p: EntityPlan, values: Record, entity: str, current: Record) -> Record | None:
        """The optimistic-lock UPDATE of ``values`` on ``current`` (as stored, locked), taking over a bump owed
        (``owed``); the row as stored (``current`` with the values when each comes back as bound:
        ``stored_as_given``, else RETURNING), or None (its version changed)."""
        uow = self.uow
        if uow.owed:
            values["_version"] = fold(uow.owed, (entity, current["id"]), current["version"])
        if not given_back(p.table, self.conn.dialect.name, values):
            row = self._run(p.update, values, entity).first()
            return None if row is None else dict(row._mapping)
        if not (uow.inserts.rows and inserts.fold(uow, p.table.name, values["_id"], values["_version"], {
                k: v for k, v in values.items() if k[0] != "_"})) and self._run(p.update_known, values,
                                                                                 entity).rowcount != 1:
            return None
        return {**{c: current[c] for c in p.columns}, **{k: v for k, v in values.items() if k[0] != "_"}}

    def _write(self, stmt: Any, values: Record, entity: str) -> Record | None:  # RETURNING the row (see _run)
        row = self._run(stmt, values, entity).first()
        return None if row is None else dict(row._mapping)

    def _run(self, stmt: Any, values: Record, entity: str) -> Any:
        """Run an INSERT or UPDATE built once; a constraint violation becomes ValidationFailed. No savepoint
        of its own: on PostgreSQL a failed statement aborts the transaction up to the caller's savepoint, so a
        caller that goes on after a refused write (an intake row, ``ordo generate``) rolls its savepoint back
        before it reads or writes again."""
        try:
            return lean.execute(self.conn, stmt, values)
        except sa.exc.IntegrityError as e:
            raise ValidationFailed(entity, [FieldError("", integrity_message(e))]) from None

def _tables(ce: CompiledEntity) -> tuple[str, ...]:
    """The tables a write of ``ce`` touches (its own and its child tables)."""
    return ce.write_tables
