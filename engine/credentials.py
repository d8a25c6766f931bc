"""Credentials: passwords, API tokens, sign-in sessions and failed sign-in throttling.

Everything lives in the database, so any number of server processes agree on who is signed in, a revoked
token or a signed-out session stops working everywhere at once, and throttling counts across workers.
Passwords are hashed with Argon2id (argon2-cffi); tokens and session ids are random and stored only as
SHA-256 digests, so a copy of the database reveals no usable secret.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .errors import NotFound, UsageError
from .tables import SYSTEM_METADATA, id_column

if TYPE_CHECKING:
    from argon2 import PasswordHasher  # imported when a password is first hashed or checked (see _hasher)

credential_table = sa.Table(
    "ordo_credential",
    SYSTEM_METADATA,
    sa.Column("user_name", sa.String(140), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
)

token_table = sa.Table(
    "ordo_token",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("user_name", sa.String(140), nullable=False, index=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
)

session_table = sa.Table(
    "ordo_session",
    SYSTEM_METADATA,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(140), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

failure_table = sa.Table(
    "ordo_signin_failure",
    SYSTEM_METADATA,
    sa.Column("key", sa.String(300), primary_key=True),  # "user:<name>" or "addr:<address>"
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_at", sa.DateTime, nullable=False),
)

TOKEN_PREFIX = "ordo_"
# OWASP's recommended Argon2id minimum (19 MiB, 2 passes, 1 lane): ~40 ms per sign-in on one core
HASHER_SETTINGS = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing cost is bounded whatever a client sends


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def token_digest(secret: str) -> str | None:
    """The stored digest of an API token secret; None for text that cannot be a token."""
    if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    return _digest(secret)


def token_use_stale(last_used_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a token's last use is worth recording again (at most once a minute)."""
    return last_used_at is None or now - last_used_at > dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Throttle:
    """At most ``per_user`` failed sign-ins for one user name and ``per_address`` from one client address
    within ``window``; further attempts are refused until the window has passed."""

    per_user: int = 5
    per_address: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    label: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class Credentials:
    """Credential operations on one connection, inside the caller's transaction."""

    def __init__(self, conn: sa.Connection, hasher: PasswordHasher | None = None) -> None:
        self.conn = conn
        self.hasher = hasher or _hasher()

    # -- passwords
    def set_password(self, user: str, password: str, now: dt.datetime) -> None:
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise UsageError(f"a password has at most {MAX_PASSWORD} characters")
        hashed = self.hasher.hash(password)
        t = credential_table
        self.conn.execute(sa.delete(t).where(t.c.user_name == user))
        self.conn.execute(sa.insert(t).values(user_name=user, password_hash=hashed, changed_at=now))
        self.end_sessions(user)  # a new password signs every browser out

    def has_password(self, user: str) -> bool:
        t = credential_table
        return self.conn.execute(sa.select(t.c.user_name).where(t.c.user_name == user)).first() is not None

    def verify_password(self, user: str, password: str) -> bool:
        """True when ``password`` is the user's; the same work is done for an unknown user (no timing oracle)."""
        t = credential_table
        stored = self.conn.execute(sa.select(t.c.password_hash).where(t.c.user_name == user)).scalar()
        candidate = password if isinstance(password, str) and len(password) <= MAX_PASSWORD else ""
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self.hasher.verify(stored or _dummy_hash(), candidate) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    # -- throttling of failed sign-ins
    def throttled(self, user: str, address: str, now: dt.datetime, policy: Throttle) -> bool:
        for key, limit in ((f"user:{user}", policy.per_user), (f"addr:{address}", policy.per_address)):
            row = self.conn.execute(sa.select(failure_table).where(failure_table.c.key == key)).first()
            if row is not None and row.first_at > now - policy.window and row.failures >= limit:
                return True
        return False

    def record_failure(self, user: str, address: str, now: dt.datetime, policy: Throttle) -> None:
        t = failure_table
        for key in (f"user:{user}"[:300], f"addr:{address}"[:300]):
            row = self.conn.execute(sa.select(t).where(t.c.key == key)).first()
            if row is None:
                try:
                    with self.conn.begin_nested():
                        self.conn.execute(sa.insert(t).values(key=key, failures=1, first_at=now))
                    continue
                except sa.exc.IntegrityError:  # another worker counted the same key just now
                    row = self.conn.execute(sa.select(t).where(t.c.key == key)).first()
            if row.first_at <= now - policy.window:
                self.conn.execute(sa.update(t).where(t.c.key == key).values(failures=1, first_at=now))
            else:
                self.conn.execute(sa.update(t).where(t.c.key == key).values(failures=t.c.failures + 1))

    def clear_failures(self, user: str) -> None:
        self.conn.execute(sa.delete(failure_table).where(failure_table.c.key == f"user:{user}"))

    # -- API tokens
    def create_token(self, user: str, now: dt.datetime, label: str | None = None) -> tuple[int, str]:
        """A new token for ``user``: (id, secret). The secret is shown once and stored only as a digest."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        result = self.conn.execute(sa.insert(token_table).values(
            user_name=user, digest=_digest(secret), label=label, created_at=now).returning(token_table.c.id))
        return int(result.scalar_one()), secret

    def touch_token(self, token_id: int, now: dt.datetime) -> None:
        self.conn.execute(sa.update(token_table).where(token_table.c.id == token_id).values(last_used_at=now))

    def revoke_token(self, token_id: int, now: dt.datetime, user: str | None = None) -> None:
        t = token_table
        q = sa.update(t).where(t.c.id == token_id, t.c.revoked_at.is_(None)).values(revoked_at=now)
        if user is not None:
            q = q.where(t.c.user_name == user)
        if self.conn.execute(q).rowcount != 1:
            raise NotFound(f"no live token {token_id}" + (f" of {user}" if user else ""))

    def tokens(self, user: str | None = None) -> list[TokenInfo]:
        t = token_table
        q = sa.select(t).order_by(t.c.id)
        if user is not None:
            q = q.where(t.c.user_name == user)
        return [TokenInfo(r.id, r.user_name, r.label, r.created_at, r.last_used_at, r.revoked_at)
                for r in self.conn.execute(q)]

    # -- sign-in sessions
    def start_session(self, user: str, now: dt.datetime, lifetime: dt.timedelta) -> tuple[str, str]:
        """A new session: (session id for the cookie, CSRF token for the pages)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.conn.execute(sa.insert(session_table).values(
            digest=_digest(sid), user_name=user, csrf=csrf, created_at=now, expires_at=now + lifetime))
        return sid, csrf

    def session(self, sid: str, now: dt.datetime) -> tuple[str, str] | None:
        """(user, CSRF token) of a live session, or None."""
        t = session_table
        row = self.conn.execute(sa.select(t.c.user_name, t.c.csrf).where(
            t.c.digest == _digest(sid), t.c.expires_at > now)).first()
        return (str(row.user_name), str(row.csrf)) if row is not None else None

    def end_session(self, sid: str) -> None:
        self.conn.execute(sa.delete(session_table).where(session_table.c.digest == _digest(sid)))

    def end_sessions(self, user: str) -> None:
        self.conn.execute(sa.delete(session_table).where(session_table.c.user_name == user))


@functools.cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher  # not imported with the engine: most processes never hash a password

    return PasswordHasher(**HASHER_SETTINGS)


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("ordo: no such user")
