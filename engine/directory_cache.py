"""What this process read of the user directory, kept across transactions and checked by one token.

Every transaction starts by looking its acting user up (their roles decide every permission check), and an
approval step looks up who holds a role. The directory changes rarely, so this process keeps what it read
(:class:`Shared`: users, members, presence) and each transaction checks it with one statement: the token
of ``ordo_directory_rev``. Triggers on ``ordo_user`` and ``ordo_membership`` set a new random token in the
same transaction as any change to them (through the engine, another process or plain SQL), so:

* a change is seen by the next transaction that starts after its commit, in every process, as before;
* a transaction that changed the directory reads its own new (uncommitted) token and so never uses, nor
  fills, the cache of the committed one; a token rolled back is never committed, so its cache is never used
  by anyone else (tokens are random: one rolled back does not come back).

Data read in a transaction is at least as new as the token read before it (both databases read committed
data or one snapshot), so the cache of a token never holds data older than that token.

A database whose triggers are not installed (opened without schema sync, made by an older version) is read
as before: one lookup per transaction, nothing kept (:func:`enabled`).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import sqlalchemy as sa

from . import lean
from .tables import SYSTEM_METADATA

revision_table = sa.Table(
    "ordo_directory_rev",
    SYSTEM_METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("token", sa.BigInteger, nullable=False),
)

WATCHED = ("ordo_user", "ordo_membership")
_READ = sa.select(revision_table.c.token).where(revision_table.c.id == 1)
_SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ordo_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ordo_directory_rev SET token = (random() * 9e18)::bigint WHERE id = 1;
  RETURN NULL;
END $$"""


class Shared:
    """The directory as read at one token: users by name (None: no such user), members by (kind, group,
    active_only), presence by name. Only added to, by transactions that read this token."""

    __slots__ = ("members", "presence", "token", "users")

    def __init__(self, token: int | None) -> None:
        self.token = token
        self.users: dict[str, Any] = {}
        self.members: dict[tuple[str, str, bool], list[str]] = {}
        self.presence: dict[str, tuple[bool, bool, str | None]] = {}


_ENABLED: weakref.WeakKeyDictionary[sa.Engine, Shared] = weakref.WeakKeyDictionary()
_MUTEX = threading.Lock()


def install(conn: sa.Connection) -> None:
    """The token's row and the triggers that change it (idempotent; at schema sync, in its transaction)."""
    if conn.execute(_READ).first() is None:
        conn.execute(sa.insert(revision_table).values(id=1, token=0))
    if conn.dialect.name == "sqlite":
        for table in WATCHED:
            for what in _SQLITE_EVENTS:
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS ordo_dir_{table}_{what.lower()} AFTER {what} ON {table} "
                    f"BEGIN UPDATE ordo_directory_rev SET token = random() WHERE id = 1; END")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_FUNCTION)
        for table in WATCHED:
            if not _pg_trigger(conn, table):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER ordo_directory_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "
                    f"{table} FOR EACH STATEMENT EXECUTE FUNCTION ordo_directory_changed()")


def _pg_trigger(conn: sa.Connection, table: str) -> bool:
    return conn.exec_driver_sql(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'ordo_directory_changed' AND tgrelid = to_regclass(%(t)s)",
        {"t": table}).first() is not None


def _installed(conn: sa.Connection) -> bool:
    if not sa.inspect(conn).has_table(revision_table.name) or conn.execute(_READ).first() is None:
        return False
    if conn.dialect.name == "sqlite":
        names = {f"ordo_dir_{t}_{w.lower()}" for t in WATCHED for w in _SQLITE_EVENTS}
        found = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        return names <= found
    if conn.dialect.name == "postgresql":
        return all(_pg_trigger(conn, t) for t in WATCHED)
    return False


def enable(engine: sa.Engine) -> bool:
    """Keep the directory across transactions on ``engine`` if its database has the token and triggers
    (checked once, when an app opens)."""
    with engine.connect() as conn:
        ok = _installed(conn)
    with _MUTEX:
        if ok:
            _ENABLED.setdefault(engine, Shared(None))
        else:
            _ENABLED.pop(engine, None)
    return ok


def enabled(engine: sa.Engine) -> bool:
    return engine in _ENABLED


def shared(conn: sa.Connection) -> Shared | None:
    """The directory kept for the token ``conn``'s transaction reads (one statement), a new empty one when
    the token changed; None where nothing is kept."""
    engine = conn.engine
    kept = _ENABLED.get(engine)
    if kept is None:
        return None
    row = lean.execute(conn, _READ).first()
    if row is None:
        return None
    token = row[0]
    if kept.token == token:
        return kept
    fresh = Shared(token)
    with _MUTEX:
        if engine in _ENABLED:
            _ENABLED[engine] = fresh
    return fresh
