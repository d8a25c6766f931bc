"""The embedding API: open an app on a database and work with its records.

    app = ordo.engine.open_app("path/to/app", "sqlite:///shop.db")
    order = app.create("order", {"customer": "C-0001", "lines": [...]}, user="alice")
    app.query("order", "total > 1000 and customer.level == 'VIP'", user="alice")

Every operation takes the acting user and runs in one transaction. Several
operations can share one: ``with app.transaction(user) as tx: tx.create(...)``.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from ordo.dsl import cache as app_cache
from ordo.dsl.app import AppDefinition
from ordo.dsl.expr import Clock
from ordo.dsl.expr.limits import INT_MAX, int_problem
from ordo.dsl.loader import load_app

from . import audit, credentials, directory_cache, record_ops, unit_of_work  # noqa: F401 - credentials declares its system tables
from .actor import SYSTEM, User, UserLike, as_user
from .compiled import compile_app
from .db import describe, make_engine, read_connection, retrying, write_connection
from .errors import OrdoError, PermissionDenied, UsageError
from .features import Features
from .jobs import JobRunner
from .outbox import Outbox
from .pages import query_pages
from .permissions import Permissions
from .query import FilterCache
from .record_reads import MAX_LIMIT
from .records import Record, Transaction, WriteEvent
from .related_aggregates import RelatedAggregates
from .schema_sync import check_schema, sync_schema, sync_schema_in
from .users import Directory
from .write_plan import Plans


def extensions() -> list[str]:
    """Runtime features that plug into every App: each subpackage of the engine
    (``engine/flows/``, ...) whose ``__init__`` defines ``install(app)``, which may
    compile the feature's definitions and register job handlers and write listeners."""
    package = __package__ or "ordo.engine"
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(importlib.import_module(package).__path__)
                  if m.ispkg)

WriteListener = Callable[[Transaction, WriteEvent], None]
T = TypeVar("T")


class App:
    """A loaded app bound to a database."""

    def __init__(self, definition: AppDefinition, db_url: str | None = None, *, clock: Clock | None = None,
                 sync: bool = True, engine: sa.Engine | None = None, create: bool = True,
                 check: bool = True, authority: AppDefinition | None = None) -> None:
        """``sync``: bring the tables in line with the definitions (creating them); otherwise, with
        ``check``, refuse a database that does not hold this app's current schema. ``create``: a
        missing SQLite file may be created (never its folder).

        ``authority``: run ``definition`` (unpublished: a designer's draft) with the roles of that
        definition (the published one) instead of its own, and *confined*: its own expressions (links,
        related aggregates) read only what the acting user may read (see records.Transaction)."""
        self.definition = definition
        self.compiled = compile_app(definition)
        self.plans = Plans(self.compiled)  # each entity's statements, built at its first use (see write_plan)
        self.clock = clock or Clock()
        self.db_label = describe(db_url)
        self.engine = engine if engine is not None else make_engine(db_url, create=create)
        unit_of_work.watch(self.engine)  # buffered audit rows written at commit (see unit_of_work)
        self.filters = FilterCache(self.compiled, definition.schema, lambda: self.clock)
        self.permissions = Permissions(definition, authority)
        self.confined = authority is not None
        # related aggregates compiled once (weak by node, as flows compile old versions on demand)
        self.related_statements = RelatedAggregates(self.compiled, lambda: self.clock)
        self.listeners: list[WriteListener] = [record_ops.forget_deleted]  # split lineage
        # called by a create, validated and permitted, with its record before the INSERT: a feature sets there
        # what its write listener would write right after (a flow's first state: engine/flows/start_state.py)
        self.before_insert: list[Callable[[Transaction, Any, dict[str, Any]], None]] = []
        # entities whose create's write listeners may write the new record again (a flow started on create):
        # their creates may hold the INSERT while the listeners run (engine/held_inserts.py)
        self.rewrites_created: set[str] = set()
        self.jobs = JobRunner(self, lambda conn: Transaction(self, conn, SYSTEM, automated=True))
        self.outbox = Outbox(self)
        self.features = Features()  # extension name -> its runtime object (some built at first lookup)
        self.on_start: list[Callable[[App], None]] = []  # run once the schema is in sync (e.g. schedules)
        for name in extensions():
            module = importlib.import_module(name)
            if hasattr(module, "install"):
                module.install(self)
        app_cache.remember(definition)  # with the expressions compiled above, for the next process
        if sync:
            self.sync_schema()
            self.start()
        elif check:
            check_schema(self.engine, self.compiled, self.name, f"database {self.db_label!r}")
        directory_cache.enable(self.engine)  # the directory kept across transactions, where its token is kept

    def start(self) -> None:
        """Run the start hooks of features (e.g. recurring schedules); the schema must be in sync."""
        for hook in self.on_start:
            hook(self)

    @property
    def name(self) -> str:
        return self.definition.name

    def sync_schema(self, dry_run: bool = False, conn: sa.Connection | None = None) -> list[str]:
        """Create/alter tables to match the definitions and grant the roles declared
        with ``users:``; return the changes made. ``conn``: inside that write transaction (nothing is
        committed here; a rollback of it undoes the changes), else in transactions of their own."""
        where = f"database {self.db_label!r}"
        if conn is not None:
            changes = sync_schema_in(conn, self.compiled, app_name=self.name, where=where, dry_run=dry_run)
            if not dry_run:
                self._seed_roles(conn)
            return changes
        changes = sync_schema(self.engine, self.compiled, dry_run=dry_run, app_name=self.name, where=where)
        if not dry_run:
            with write_connection(self.engine) as c:
                self._seed_roles(c)
        return changes

    def _seed_roles(self, conn: sa.Connection) -> None:
        directory = Directory(conn, SYSTEM, self.permissions.privileges)  # the definition's authority
        directory.seed_roles((r.name, r.users) for r in self.definition.all("role"))

    def on_write(self, listener: WriteListener) -> None:
        """Call ``listener(tx, event)`` after every record write, inside its transaction."""
        self.listeners.append(listener)

    def run_worker_once(self, worker: str = "worker") -> tuple[int, int]:
        """Run due jobs and deliver due notifications once; return (jobs, messages)."""
        return self.jobs.run_due(worker), self.outbox.deliver_due()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- units of work
    @contextlib.contextmanager
    def transaction(self, user: UserLike) -> Iterator[Transaction]:
        """A write transaction: everything inside commits together or not at all."""
        with write_connection(self.engine) as conn:
            yield Transaction(self, conn, self._actor(conn, user))

    def run(self, user: UserLike, work: Callable[[Transaction], T], what: str = "the transaction") -> T:
        """Run ``work(tx)`` as one write transaction. When it loses a deadlock or serialization race with a
        concurrent transaction it is rolled back and run again (3 runs in all, after short random pauses);
        then :class:`~ordo.engine.db.TransactionConflict` (a ``Conflict``) names ``what``. ``work`` must do
        nothing outside the transaction that cannot be repeated. The one-call methods below use it."""
        def once() -> T:
            with self.transaction(user) as tx:
                return work(tx)
        return retrying(once, what)

    @contextlib.contextmanager
    def reader(self, user: UserLike, conn: sa.Connection | None = None) -> Iterator[Transaction]:
        """A read-only view (one consistent transaction); ``conn``: in that connection's open transaction
        (the caller's, e.g. the one the server read the caller's credentials in) instead of a new one."""
        if conn is not None:
            yield Transaction(self, conn, self._actor(conn, user))
            return
        with read_connection(self.engine) as conn:
            yield Transaction(self, conn, self._actor(conn, user))

    @staticmethod
    def _actor(conn: sa.Connection, user: UserLike) -> User:
        """A user name is looked up (current roles); a User object is taken as given. A disabled user is
        refused (:class:`PermissionDenied`), as the CLI and the server refuse them."""
        actor = as_user(user)
        if not isinstance(user, str):
            return actor
        info = Directory(conn).read(actor.name)  # as_actor copies what it keeps
        if info is None:
            return User(actor.name)
        if not info.active:
            raise PermissionDenied(f"the user {actor.name!r} is disabled")
        return info.as_actor()

    # -- users
    def users(self, user: UserLike) -> Any:
        """A context manager yielding the user :class:`Directory` in a write transaction, acting as
        ``user``: managing users needs the admin role or the ``manage_users`` privilege."""
        return _directory(self, user)

    # -- records
    def create(self, entity: str, data: Mapping[str, Any], user: UserLike) -> Record:
        return self.run(user, lambda tx: tx.create(entity, data), f"creating a {entity}")

    def get(self, entity: str, key: int | str, user: UserLike) -> Record:
        with self.reader(user) as tx:
            return tx.get(entity, key)

    def update(self, entity: str, key: int | str, data: Mapping[str, Any], user: UserLike,
               expected_version: int | None = None) -> Record:
        return self.run(user, lambda tx: tx.update(entity, key, data, expected_version), f"updating {entity} {key}")

    def update_many(self, entity: str, where: str | None, data: Mapping[str, Any], user: UserLike,
                    params: Mapping[str, Any] | None = None) -> list[Record]:
        """Batch edit: apply ``data`` to every record matching ``where`` in one transaction."""
        return self.run(user, lambda tx: tx.update_many(entity, where, data, params), f"updating {entity} records")

    def split(self, entity: str, key: int | str, parts: Sequence[int | Mapping[str, Any]],
              user: UserLike) -> tuple[Record, Record]:
        """Move child rows (or part of their quantity) to a new record (see the entity's ``split:``)."""
        return self.run(user, lambda tx: record_ops.split(tx, entity, key, parts), f"splitting {entity} {key}")

    def merge(self, entity: str, keys: Sequence[int | str], user: UserLike) -> Record:
        """Gather the rows of matching records into the oldest one (see the entity's ``merge:``)."""
        return self.run(user, lambda tx: record_ops.merge(tx, entity, keys), f"merging {entity} records")

    def merge_all(self, entity: str, user: UserLike, where: str | None = None,
                  params: Mapping[str, Any] | None = None) -> list[Record]:
        """Merge every group of mergeable records (one transaction); return the kept records."""
        return self.run(user, lambda tx: [record_ops.merge(tx, entity, ids)
                                          for ids in record_ops.merge_groups(tx, entity, where, params)],
                        f"merging {entity} records")

    def delete(self, entity: str, key: int | str, user: UserLike, expected_version: int | None = None) -> None:
        self.run(user, lambda tx: tx.delete(entity, key, expected_version), f"deleting {entity} {key}")

    def query(self, entity: str, where: str | None = None, *, user: UserLike,
              params: Mapping[str, Any] | None = None, order_by: str | Sequence[str] | None = None,
              limit: int | None = None, offset: int = 0, with_children: bool = False) -> list[Record]:
        """The records of ``entity`` matching ``where`` that ``user`` may read, in ``order_by`` order (by id
        when not given). ``limit``: a page of at most that many (0 to ``MAX_LIMIT``) after ``offset``. None:
        every matching record, read page by page; more than ``MAX_LIMIT`` of them are refused (UsageError),
        never silently cut: ask for pages, or read them in bounded memory with ``pages.query_pages``."""
        with self.reader(user) as tx:
            if limit is not None:
                return tx.query(entity, where, params, order_by, limit, offset, with_children)
            found: list[Record] = []
            for page in query_pages(tx, entity, where, params, order_by, offset=offset, limit=MAX_LIMIT + 1,
                                    with_children=with_children):
                found += page
            if len(found) > MAX_LIMIT:
                raise UsageError(f"more than {MAX_LIMIT:,} {entity} records match: ask for a page (limit and "
                                 "offset) or read them page by page (ordo.engine.pages.query_pages)")
            return found

    def count(self, entity: str, where: str | None = None, *, user: UserLike,
              params: Mapping[str, Any] | None = None) -> int:
        with self.reader(user) as tx:
            return tx.count(entity, where, params)

    def audit_log(self, *, user: UserLike, entity: str | None = None, record: int | str | None = None,
                  by: str | None = None, action: str | None = None, limit: int = 100,
                  offset: int = 0) -> list[audit.AuditEntry]:
        """Changes, newest first; filter by entity, record (id or name), acting user ``by`` or action.

        A user sees the entries of records they may read now (admins and users unrestricted on an
        entity also see those of its deleted records)."""
        for what, n in (("limit", limit), ("offset", offset), ("record", record if isinstance(record, int) else 0)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 0 or int_problem(n) is not None:
                raise UsageError(f"audit log {what} must be a whole number from 0 to {INT_MAX}, got {n!r}")
        with self.reader(user) as tx:
            record_id = None
            if record is not None:
                if entity is None:
                    raise OrdoError("filtering the audit log by record needs the entity")
                record_id = record if isinstance(record, int) else tx.get(entity, record)["id"]
            return audit.without_hidden(tx, audit.read(tx.conn, entity=entity, record_id=record_id, user=by,
                                                       action=action, limit=limit, offset=offset,
                                                       visible=audit.visible_to(tx)))


def open_app(path: str | Path | AppDefinition, db_url: str | None = None, *, clock: Clock | None = None,
             sync: bool = True, create: bool = True, check: bool = True) -> App:
    """Load (and fully validate) the app at ``path`` and open it on ``db_url`` (default ``./ordo.db``).

    By default the database is created if needed and its tables synced with the definitions.
    ``sync=False`` opens an existing database as it is and refuses one that does not hold this
    app's current schema (``check=False`` skips that check); ``create=False`` refuses a missing file."""
    definition = path if isinstance(path, AppDefinition) else load_app(path)
    return App(definition, db_url, clock=clock, sync=sync, create=create, check=check)


@contextlib.contextmanager
def _directory(app: App, user: UserLike) -> Iterator[Directory]:
    with app.transaction(user) as tx:
        yield tx.users
