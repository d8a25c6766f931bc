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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr import Env, ast
from ordo.dsl.expr.limits import int_problem, text_problem
from ordo.dsl.expr.sqltypes import sa_type
from ordo.dsl.expr.to_sql import to_sql

from . import audit, jobs, outbox
from .actor import User
from .coerce import CoercionError, coerce
from .compiled import CompiledEntity, CompiledField
from .errors import Conflict, FieldError, NotFound, PermissionDenied, UsageError, ValidationFailed
from .naming import make_name
from .query import RecordSource, TableSource, parse_order_by, readable_first
from .record_input import check_editable, merge_rows, prepare, read_input
from .users import Directory
from .validation import validate_record

if TYPE_CHECKING:
    from .app import App

Record = dict[str, Any]
MAX_LIMIT = 10_000
UPDATE_PAGE = MAX_LIMIT  # records update_many reads at a time (it updates every matching record)
_WATCHED = "ordo_watched_records"  # (entity, id) -> latest version, for records whose listeners are running


@dataclass(frozen=True)
class WriteEvent:
    """What a write did, as seen by write listeners (flows start from these)."""

    entity: str
    action: str  # "create", "update" or "delete"
    before: Record | None
    after: Record | None


class Transaction:
    """One unit of work. Use through ``App.transaction(user)`` or the App's methods."""

    def __init__(self, app: App, conn: sa.Connection, user: User, *, automated: bool = False) -> None:
        self.app = app
        self.conn = conn
        self.user = user
        self._links: dict[tuple[str, Any], Record | None] = {}
        self.env = Env(link=self._load_link, clock=app.clock, related=self._related_aggregate)
        self.guard = app.permissions.guard(user, app.compiled)  # None: may read everything
        self.users = Directory(conn, user, app.permissions.privileges)
        self._kept_links: set[tuple[str, int]] = set()  # links on records read here (see link_target)
        # a flow's or a job's writes: `editable_if` (which guards people's edits) does not apply, and entity
        # rules apply only when they read a field the write changes (see validation.py)
        self.automated = automated
        self._carrying = False  # see carrying()

    @property
    def now(self) -> dt.datetime:
        return self.app.clock.now()

    # -- background work and notifications, committed with this transaction
    def enqueue(self, kind: str, payload: dict[str, Any], run_at: dt.datetime | None = None, *,
                unique_key: str | None = None, max_attempts: int = 5) -> int:
        return jobs.enqueue(self.conn, kind, payload, run_at or self.now, now=self.now, unique_key=unique_key,
                            max_attempts=max_attempts)

    def cancel_jobs(self, *, unique_key: str | None = None, prefix: str | None = None) -> int:
        return jobs.cancel(self.conn, unique_key=unique_key, prefix=prefix)

    def notify(self, channel: str, recipient: str, subject: str, body: str = "",
               payload: dict[str, Any] | None = None) -> int:
        return outbox.notify(self.conn, channel, recipient, subject, body, payload, now=self.now)

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

    # -- reading
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
        row = self._row(ce, key, for_update, readable=True)
        if row is None:
            raise NotFound(f"{entity} {key!r} not found")
        rec = dict(row._mapping)
        self._attach_children(ce, [rec])
        if self.guard is not None:
            self._keep_links(ce, rec)
        return rec

    def shown(self, entity: str, rec: Record) -> Record:
        """``rec`` without the fields hidden from the acting user."""
        hidden = self.app.permissions.hidden(self.user, entity)
        return {k: v for k, v in rec.items() if k not in hidden} if hidden else rec

    def _fetch(self, entity: str, key: int | str, for_update: bool = False) -> Record | None:
        """The record with its child rows, without permission checks (internal)."""
        ce = self.app.compiled.entity(entity)
        row = self._row(ce, key, for_update)
        if row is None:
            return None
        rec = dict(row._mapping)
        self._attach_children(ce, [rec])
        return rec

    # -- permissions
    def row_filter(self, entity: str, source: Any = None) -> Any:
        """SQL condition limiting the rows of ``entity`` the acting user may read (None: all).

        ``source`` is the SqlSource the condition is written over (default: the entity's table)."""
        if source is None:
            source = TableSource(self.app.compiled, entity, self.app.compiled.entity(entity).table)
        return self.app.permissions.row_filter(self.user, entity, source)

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
        """``data`` without what the acting user's field rules forbid: a hidden field is refused as an
        unknown one; a read-only field is refused naming it, unless given with its ``current`` value
        (a record as ``get`` returns it saves back)."""
        perms = self.app.permissions
        hidden = perms.hidden(self.user, ce.name)
        read_only = perms.read_only(self.user, ce.name, action)
        if not (hidden or read_only) or not isinstance(data, Mapping) or self._carrying:
            return data
        out = {}
        for key, value in data.items():
            if key in hidden:
                errors.append(FieldError(key, f"unknown field of {ce.name}"))
            elif key in read_only:
                if current is None or not self._same_value(ce.fields[key], value, current.get(key)):
                    errors.append(FieldError(key, "is read-only"))
            else:
                out[key] = value
        return out

    def _same_value(self, cf: CompiledField, given: Any, current: Any) -> bool:
        if cf.defn.type == "link" and isinstance(given, str) and current is not None:
            row = self.link_target(cf.defn.entity or "", given)
            return row is not None and row.id == current
        if cf.child is not None:
            return False
        try:
            return given is None and current is None or (given is not None and coerce(cf.defn, given) == current)
        except (CoercionError, KeyError):
            return False

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
        """The row a link value written by the acting user names, or None: a record they may not
        read is refused like a missing one, unless the link is already on a record read in this
        transaction (keeping a stored value is not learning anything)."""
        ce = self.app.compiled.entities[entity]
        row = self._row(ce, key, readable=True)
        if row is None and self._kept_links:
            row = self._row(ce, key)
            if row is not None and (entity, row.id) not in self._kept_links:
                row = None
        return row

    def _keep_links(self, ce: CompiledEntity, rec: Record) -> None:
        for cf in ce.fields.values():
            if cf.defn.type == "link" and rec.get(cf.name) is not None:
                self._kept_links.add((cf.defn.entity or "", rec[cf.name]))
            elif cf.child is not None:
                for row in rec.get(cf.name) or []:
                    self._keep_links(cf.child, row)

    def find(self, entity: str, key: int | str) -> Record | None:
        try:
            return self.get(entity, key)
        except NotFound:
            return None

    def _row(self, ce: CompiledEntity, key: int | str, for_update: bool = False, readable: bool = False) -> Any:
        """The stored row (no child rows); ``readable``: only if the acting user may read it."""
        t = ce.table
        assert t is not None
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise UsageError(f"record key must be an id or a name, got {key!r}")
        problem = int_problem(key) if isinstance(key, int) else text_problem(key)
        if problem is not None:
            raise UsageError(f"record key of {ce.name}: {problem}")
        cond = t.c.id == key if isinstance(key, int) else t.c.name == key
        q = sa.select(t).where(cond)
        if readable:
            allowed = self.row_filter(ce.name)
            if allowed is not None:
                q = q.where(allowed)
        if for_update and self.conn.dialect.name == "postgresql":
            q = q.with_for_update()
        return self.conn.execute(q).first()

    def _attach_children(self, ce: CompiledEntity, recs: list[Record]) -> None:
        if not recs:
            return
        ids = [r["id"] for r in recs]
        for cf in ce.table_fields:
            ct = cf.child_table
            assert ct is not None
            by_parent: dict[int, list[Record]] = {i: [] for i in ids}
            for i in range(0, len(ids), 500):
                q = sa.select(ct).where(ct.c.parent_id.in_(ids[i:i + 500])).order_by(ct.c.parent_id, ct.c.idx)
                for row in self.conn.execute(q):
                    child = dict(row._mapping)
                    by_parent[child.pop("parent_id")].append(child)
            for r in recs:
                r[cf.name] = by_parent[r["id"]]

    def _load_link(self, entity: str, key: Any) -> Record | None:
        cache_key = (entity, key)
        if cache_key not in self._links:  # rules see linked records whatever the user may read
            self._links[cache_key] = self._fetch(entity, key)
        return self._links[cache_key]

    def _related_aggregate(self, node: Any, owner: Record) -> Any:
        """Evaluate an aggregate over a related field of ``owner`` in SQL; the statement is built once
        per aggregate (the owner's fields are parameters) and kept by the app."""
        cached = self.app.related_statements.get(node)
        if cached is None:
            path = node.args[0]
            last = path.steps[-1]
            local = ast.Path(path.line, path.column, [last.name])
            local.steps = [last]
            call = ast.Call(node.line, node.column, node.name, [local, *node.args[1:]])
            call.child_entity, call.type = node.child_entity, node.type
            source = RecordSource(self.app.compiled, last.entity)
            expr = sa.type_coerce(to_sql(call, source, clock=lambda: self.app.clock), sa_type(node.type))
            cached = (sa.select(expr), sorted(source.used))
            self.app.related_statements[node] = cached
        stmt, used = cached
        value = self.conn.execute(stmt, {f"owner_{name}": owner.get(name) for name in used}).scalar()
        return bool(value) if node.type is not None and node.type.kind == "boolean" and value is not None else value

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
        recs = [dict(r._mapping) for r in self.conn.execute(q, params)]
        if with_children:
            self._attach_children(ce, recs)
        return [{k: v for k, v in r.items() if k not in hidden} for r in recs] if hidden else recs

    def _filtered(self, q: Any, entity: str, where: str | None, params: Mapping[str, Any]) -> Any:
        """``q`` restricted to the rows matching ``where`` that the acting user may read."""
        if where:
            return q.where(self.where_clause(entity, where, params))
        allowed = self.row_filter(entity)
        return q if allowed is None else q.where(allowed)

    def count(self, entity: str, where: str | None = None, params: Mapping[str, Any] | None = None) -> int:
        ce = self.app.compiled.entity(entity)
        t = ce.table
        assert t is not None
        params = dict(params or {})
        q = self._filtered(sa.select(sa.func.count()).select_from(t), entity, where, params)
        return int(self.conn.execute(q, params).scalar_one())

    # -- writing
    def create(self, entity: str, data: Mapping[str, Any]) -> Record:
        """Validate and insert a record (and its child rows); return it as committed, after the write
        listeners (flows) it started changed it."""
        ce = self.app.compiled.entity(entity)
        errors: list[FieldError] = []
        data = self._settable(ce, "create", data, errors)
        given = len(errors)  # errors about what the user gave, named as they gave it
        rec = read_input(self, ce, data, errors, creating=True)
        explicit_name = rec.pop("name", None)
        prepare(self, ce, rec, errors, creating=True)
        validate_record(self, ce, rec, errors, record_id=None)
        if explicit_name is not None and self._row(ce, explicit_name) is not None:
            errors.append(FieldError("name", f"a {entity} named '{explicit_name}' already exists"))
        if errors:
            raise self._failed(ce, errors, given)
        self._require(entity, "create", rec)
        now = self.app.clock.now()
        name = explicit_name or make_name(self.conn, entity, ce.defn.naming, rec, now.date())
        values = {f.name: rec.get(f.name) for f in ce.stored_fields}
        values.update(name=name, created_at=now, created_by=self.user.name, updated_at=now,
                      updated_by=self.user.name, version=1)
        t = ce.table
        assert t is not None
        new_id = self._insert(t, values, entity)
        for cf in ce.table_fields:
            self._write_children(cf, new_id, [], rec.get(cf.name) or [])
        stored = self._fetch(entity, new_id)  # the writer sees what they wrote, whatever their read rules
        assert stored is not None
        audit.write(self.conn, at=now, user=self.user.name, entity=entity, record_id=new_id, record_name=name,
                    action="create", changes=audit.diff(None, stored, self._audited(ce)))
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
        prepare(self, ce, rec, errors, creating=False)
        validate_record(self, ce, rec, errors, record_id=current["id"], before=current)
        if errors:
            raise self._failed(ce, errors, given)
        self._require(entity, "update", rec)
        now = self.app.clock.now()
        t = ce.table
        assert t is not None
        values = {f.name: rec.get(f.name) for f in ce.stored_fields}
        values.update(updated_at=now, updated_by=self.user.name, version=current["version"] + 1)
        stmt = sa.update(t).where(t.c.id == current["id"], t.c.version == current["version"]).values(**values)
        if self._execute(stmt, entity) != 1:
            raise Conflict(f"{entity} {current['name']} was changed by someone else; reload and retry")
        for cf in ce.table_fields:
            if cf.name in changes:
                self._write_children(cf, current["id"], current[cf.name], rec[cf.name])
        stored = self._fetch(entity, current["id"])
        assert stored is not None
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
        self._handle_references(ce, current)
        t = ce.table
        assert t is not None
        for cf in ce.table_fields:
            ct = cf.child_table
            assert ct is not None
            self.conn.execute(sa.delete(ct).where(ct.c.parent_id == current["id"]))
        self.conn.execute(sa.delete(t).where(t.c.id == current["id"]))
        self._written(entity, current["id"], None)
        audit.write(self.conn, at=self.app.clock.now(), user=self.user.name, entity=entity, record_id=current["id"],
                    record_name=current["name"], action="delete",
                    changes=audit.diff(current, None, self._audited(ce)))
        self._emit(WriteEvent(entity, "delete", current, None))

    # -- pipeline steps
    def _audited(self, ce: CompiledEntity) -> list[str]:
        return ["name", *ce.fields]

    def update_many(self, entity: str, where: str | None, data: Mapping[str, Any],
                    params: Mapping[str, Any] | None = None, limit: int | None = None) -> list[Record]:
        """Apply ``data`` to every record matching ``where`` (read in pages of ``UPDATE_PAGE`` by id, so
        none is left out however many match; ``limit`` caps how many), each through the full update pipeline.

        All or nothing: one refused record refuses the batch (its errors name the record)."""
        updated: list[Record] = []
        after_key = "ordo_after_id"
        while after_key in (params or {}):
            after_key += "_"
        page_where, page_params = where, dict(params or {})  # the first page: the caller's filter as given
        while limit is None or len(updated) < limit:
            size = UPDATE_PAGE if limit is None else min(UPDATE_PAGE, limit - len(updated))
            page = self.query(entity, page_where, page_params, order_by="id", limit=size)
            for rec in page:
                try:
                    updated.append(self.update(entity, rec["id"], data))
                except ValidationFailed as e:
                    raise ValidationFailed(entity, [FieldError(f"{rec['name']}.{err.field}".rstrip("."),
                                                               err.message) for err in e.errors]) from None
            if len(page) < size:
                break
            page_where = f"id > :{after_key}" if where is None else f"({where}) and id > :{after_key}"
            page_params = {**(params or {}), after_key: page[-1]["id"]}
        return updated

    def _execute(self, stmt: Any, entity: str, returning: bool = False) -> int:
        """Run a write; a constraint violation becomes ValidationFailed. Returns the
        RETURNING value, or the row count."""
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(stmt)
                return int(result.scalar_one()) if returning else result.rowcount
        except sa.exc.IntegrityError as e:
            raise ValidationFailed(entity, [FieldError("", _integrity_message(e))]) from None

    def _insert(self, table: sa.Table, values: Record, entity: str) -> int:
        return self._execute(sa.insert(table).values(**values).returning(table.c.id), entity, returning=True)

    def _write_children(self, cf: CompiledField, parent_id: int, old: list[Record], new: list[Record]) -> None:
        ct = cf.child_table
        assert ct is not None and cf.child is not None
        keep = {r["id"] for r in new if r.get("id") is not None}
        gone = [r["id"] for r in old if r["id"] not in keep]
        if gone:
            self.conn.execute(sa.delete(ct).where(ct.c.id.in_(gone)))
        columns = [f.name for f in cf.child.stored_fields]
        inserts = []
        for idx, row in enumerate(new, start=1):
            values = {c: row.get(c) for c in columns}
            values["idx"] = idx
            if row.get("id") is None:
                inserts.append({**values, "parent_id": parent_id})
            else:
                self.conn.execute(sa.update(ct).where(ct.c.id == row["id"]).values(**values))
        if inserts:
            self.conn.execute(sa.insert(ct), inserts)

    def _handle_references(self, ce: CompiledEntity, current: Record) -> None:
        for table, column, owner, parent in ce.links_in:
            field = self.app.compiled.entities[owner].fields[column].defn
            refs = sa.select(table.c.id).where(table.c[column] == current["id"])
            ids = [r.id for r in self.conn.execute(refs.limit(1000))]
            if not ids:
                continue
            if field.on_delete == "restrict":
                where = parent or owner
                # a restricted user is not told how many records (some may be hidden from them)
                count = f"{len(ids)}{'+' if len(ids) == 1000 else ''} " if self.guard is None else ""
                raise Conflict(f"cannot delete {ce.name} {current['name']}: still used by {count}{where} "
                               f"record(s) (field {column})")
            if field.on_delete == "set_null" or parent is not None:
                self.conn.execute(sa.update(table).where(table.c[column] == current["id"]).values({column: None}))
            else:
                for rid in ids:
                    try:
                        self.delete(owner, rid)
                    except NotFound:  # a dependent record the user may not read: not named
                        raise Conflict(f"cannot delete {ce.name} {current['name']}: {owner} records that depend "
                                       f"on it (field {column}) cannot be deleted by {self.user.name}") from None


def _integrity_message(e: sa.exc.IntegrityError) -> str:
    text = str(e.orig).lower()
    if "unique" in text or "duplicate" in text:
        return "a record with the same unique value already exists"
    if "foreign key" in text:
        return "refers to a record that does not exist or is still referenced"
    if "not null" in text or "null value" in text:
        return "a required value is missing"
    return "the database refused the change"
