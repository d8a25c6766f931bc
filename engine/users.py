"""Users, roles and groups, kept in the database so every process sees the same.

Membership is looked up when a transaction starts, so a change applies at once
everywhere (no copied user lists): what a process read is kept across transactions only
while the directory's token (one statement per transaction, see directory_cache) is unchanged. A user with the ``admin`` role is an admin.
Roles declared in ``roles.yaml`` with ``users:`` are granted on schema sync (with
system authority). Changes are checked against the acting user (see Directory).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from . import directory_cache, lean, unit_of_work
from .actor import User
from .credentials import Credentials, token_digest, token_table, token_use_stale
from .errors import NotFound, PermissionDenied, UsageError
from .tables import SYSTEM_METADATA

ADMIN_ROLE = "admin"
EVERYONE_ROLE = "everyone"  # every user holds it implicitly (see permissions): never granted

user_table = sa.Table(
    "ordo_user",
    SYSTEM_METADATA,
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("display_name", sa.String(200)),
    sa.Column("email", sa.String(200)),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("available", sa.Boolean, nullable=False, default=True),
    sa.Column("calendar", sa.String(140)),
    sa.Column("attrs", sa.Text, nullable=False, default="{}"),
)

membership_table = sa.Table(
    "ordo_membership",
    SYSTEM_METADATA,
    sa.Column("kind", sa.String(10), primary_key=True),  # "role" or "group"
    sa.Column("group_name", sa.String(140), primary_key=True),
    sa.Column("user_name", sa.String(140), primary_key=True),
    sa.Index("ix_ordo_membership_user", "user_name"),
)


@dataclass
class UserInfo:
    name: str
    display_name: str | None = None
    email: str | None = None
    active: bool = True
    available: bool = True
    calendar: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def as_actor(self) -> User:
        return User(self.name, frozenset(self.roles), ADMIN_ROLE in self.roles, dict(self.attrs))


# a user with their memberships, in one statement built once (every transaction looks its actor up)
_GET_USER = (sa.select(user_table, membership_table.c.kind, membership_table.c.group_name)
             .select_from(user_table.outerjoin(membership_table, membership_table.c.user_name == user_table.c.name))
             .where(user_table.c.name == sa.bindparam("_name"))
             .order_by(membership_table.c.kind, membership_table.c.group_name))


# members of a role or group, built once (values bound at execution), with what the assignment rules check of
# each (active, available, calendar: kept with the members, so no lookup per member follows)
_MEMBERS = (sa.select(membership_table.c.user_name, user_table.c.active, user_table.c.available,
                      user_table.c.calendar)
            .join(user_table, user_table.c.name == membership_table.c.user_name)
            .where(membership_table.c.kind == sa.bindparam("_kind"), membership_table.c.group_name == sa.bindparam("_group"))
            .order_by(membership_table.c.user_name))
_ACTIVE_MEMBERS = _MEMBERS.where(user_table.c.active.is_(True))

# the holder of a live API token with their memberships, in one statement built once (every API call
# made with a token looks it up)
_TOKEN_HOLDER = (sa.select(token_table.c.id.label("_token_id"), token_table.c.last_used_at.label("_token_used"),
                           user_table, membership_table.c.kind, membership_table.c.group_name)
                 .select_from(token_table.join(user_table, user_table.c.name == token_table.c.user_name)
                              .outerjoin(membership_table, membership_table.c.user_name == user_table.c.name))
                 .where(token_table.c.digest == sa.bindparam("_digest"), token_table.c.revoked_at.is_(None))
                 .order_by(membership_table.c.kind, membership_table.c.group_name))


def _user_info(rows: list[Any]) -> UserInfo:
    """A user with their roles and groups from the rows of ``_GET_USER`` (or ``_TOKEN_HOLDER``)."""
    row = rows[0]
    info = UserInfo(row.name, row.display_name, row.email, row.active, row.available, row.calendar,
                    json.loads(row.attrs or "{}"))
    for r in rows:
        if r.group_name is not None:
            (info.roles if r.kind == "role" else info.groups).append(r.group_name)
    return info


Presence = tuple[bool, bool, str | None]  # (active, available, calendar) of a user


class _Known:
    """What this database transaction read of the directory (``UnitOfWork.facts``): users by name (None: no
    such user), members by (kind, group, active_only), presence by name; the dictionaries of the process's
    :class:`directory_cache.Shared` when the database keeps a token. Any write through a Directory on
    the connection drops it (:func:`_changed`), so a grant or revoke is seen by the next lookup; a savepoint
    rolled back or the transaction's end drops it with the unit of work's facts."""

    __slots__ = ("members", "presence", "users")

    def __init__(self, shared: directory_cache.Shared | None = None) -> None:
        if shared is not None:  # what this process read at the token this transaction reads
            self.users, self.members, self.presence = shared.users, shared.members, shared.presence
            return
        self.users: dict[str, UserInfo | None] = {}
        self.members: dict[tuple[str, str, bool], list[str]] = {}
        self.presence: dict[str, Presence] = {}


_KNOWN = "ordo_directory"  # key of the directory's cache in UnitOfWork.facts


def _known(conn: sa.Connection) -> _Known | None:
    """The directory cache of ``conn``'s transaction (None outside a transaction: nothing kept)."""
    if not conn.in_transaction():
        return None
    facts = unit_of_work.of(conn).facts
    known = facts.get(_KNOWN)
    if known is None:
        known = facts[_KNOWN] = _Known(directory_cache.shared(conn))
    return known


def _changed(conn: sa.Connection) -> None:
    """Users or memberships were written on ``conn``: what its transaction read of them is stale."""
    uow = unit_of_work.current(conn)
    if uow is not None:
        uow.facts.pop(_KNOWN, None)


def _copy(info: UserInfo) -> UserInfo:
    """A copy callers may change (the cached one stays as read)."""
    return UserInfo(info.name, info.display_name, info.email, info.active, info.available, info.calendar,
                    dict(info.attrs), list(info.roles), list(info.groups))


def _check_kind(kind: str) -> None:
    if kind not in ("role", "group"):
        raise UsageError(f"membership kind must be 'role' or 'group', got {kind!r}")


MANAGE_USERS = "manage_users"
SELF_SERVICE = frozenset({"display_name", "email", "available"})  # what users may change about themselves


class Directory:
    """User and membership operations on one connection (inside the caller's transaction).

    Reading is open. Changes are made as ``actor``: creating users, granting and revoking roles and
    groups, and changing attributes, activity or calendar need an admin or a role with the
    ``manage_users`` privilege (``roles``: each declared role's privileges); anyone may change their
    own display name, email and availability. Nobody grants themselves anything: only an admin
    changes their own roles or attributes, grants or revokes ``admin``, or changes an admin. Without
    an actor the directory is read-only."""

    def __init__(self, conn: sa.Connection, actor: User | None = None,
                 roles: Mapping[str, frozenset[str]] | None = None) -> None:
        self.conn = conn
        self.actor_user = actor
        self.roles: Mapping[str, frozenset[str]] = roles or {}

    # -- who may change what
    def _manager(self, what: str) -> User:
        """The acting user, if they may manage users; else PermissionDenied naming ``what``."""
        me = self.actor_user
        if me is None:
            raise PermissionDenied(f"cannot {what}: the user directory was opened without an acting user")
        if not (me.is_admin or any(MANAGE_USERS in self.roles.get(r, ()) for r in me.roles)):
            raise PermissionDenied(f"{me.name} may not {what} (needs the admin role or a role with the "
                                   f"{MANAGE_USERS} privilege)")
        return me

    def _check_target(self, me: User, name: str, what: str, *, own: bool = False) -> None:
        """A manager who is not an admin may not change ``what`` of an admin, nor (``own``) their own."""
        if me.is_admin:
            return
        if own and name == me.name:
            raise PermissionDenied(f"{me.name} may not change their own {what} (only an admin may)")
        info = self.get(name)
        if info is not None and ADMIN_ROLE in info.roles:
            raise PermissionDenied(f"{me.name} may not change the {what} of admin {name} (only an admin may)")

    def _check_role(self, me: User, role: str) -> None:
        if role == EVERYONE_ROLE:
            raise UsageError(f"every user holds the role '{EVERYONE_ROLE}'; it is not granted")
        known = sorted({*self.roles, ADMIN_ROLE} - {EVERYONE_ROLE})
        if role not in known:
            raise UsageError(f"unknown role {role!r} (known: {', '.join(known)})")
        if role == ADMIN_ROLE and not me.is_admin:
            raise PermissionDenied(f"{me.name} may not grant or revoke the {ADMIN_ROLE} role (only an admin may)")

    def get(self, name: str) -> UserInfo | None:
        """The user ``name`` with their roles and groups (one statement, once per transaction), or None."""
        info = self.read(name)
        return None if info is None else _copy(info)

    def read(self, name: str) -> UserInfo | None:
        """The user ``name`` as :meth:`get` gives it, for reading only: in a transaction, the very object its
        directory cache keeps (not a copy: never change it)."""
        known = _known(self.conn)
        if known is not None and name in known.users:
            return known.users[name]
        rows = lean.execute(self.conn, _GET_USER, {"_name": name}).all()
        info = _user_info(rows) if rows else None
        if known is not None:
            known.users[name] = info
        return info

    def presence(self, name: str) -> Presence | None:
        """(active, available, calendar) of the user ``name``, or None: known from a members lookup in this
        transaction, else from :meth:`get`."""
        known = _known(self.conn)
        if known is not None:
            found = known.presence.get(name)
            if found is not None:
                return found
            if name in known.users:
                info = known.users[name]
                return None if info is None else (info.active, info.available, info.calendar)
        info = self.get(name)
        return None if info is None else (info.active, info.available, info.calendar)

    def token_holder(self, secret: str, now: dt.datetime) -> tuple[UserInfo, int | None] | None:
        """The user holding the live API token ``secret`` with their roles and groups (one statement),
        and the token's id when its last use should be recorded (``Credentials.touch_token``); None for
        an unknown or revoked token, or one whose user no longer exists."""
        digest = token_digest(secret)
        rows = lean.execute(self.conn, _TOKEN_HOLDER, {"_digest": digest}).all() if digest is not None else None
        if not rows:
            return None
        stale = token_use_stale(rows[0]._token_used, now)
        return _user_info(rows), (int(rows[0]._token_id) if stale else None)

    def require(self, name: str) -> UserInfo:
        info = self.get(name)
        if info is None:
            raise NotFound(f"user {name!r} not found")
        return info

    def save(self, name: str, *, display_name: str | None = None, email: str | None = None,
             active: bool | None = None, available: bool | None = None, calendar: str | None = None,
             attrs: dict[str, Any] | None = None) -> UserInfo:
        """Create the user or change the given settings (see the class for who may)."""
        if not name or not isinstance(name, str):
            raise UsageError("a user needs a name")
        values: dict[str, Any] = {k: v for k, v in {
            "display_name": display_name, "email": email, "active": active, "available": available,
            "calendar": calendar}.items() if v is not None}
        if attrs is not None:
            if not isinstance(attrs, dict):
                raise UsageError("user attributes must be a mapping of names to values")
            values["attrs"] = json.dumps(attrs, ensure_ascii=False, sort_keys=True)
        exists = self.conn.execute(sa.select(user_table.c.name).where(user_table.c.name == name)).first()
        me = self.actor_user
        self_service = me is not None and name == me.name and exists is not None and set(values) <= SELF_SERVICE
        if (exists is None or values) and not self_service:
            what = ", ".join(sorted(values))
            me = self._manager("create users" if exists is None else f"change the {what} of {name}")
            if exists is not None:
                self._check_target(me, name, what, own="attrs" in values)
        if exists is None or values:
            _changed(self.conn)
        if exists is None:
            self.conn.execute(sa.insert(user_table).values(
                name=name, active=values.pop("active", True), available=values.pop("available", True),
                attrs=values.pop("attrs", "{}"), **values))
        elif values:
            self.conn.execute(sa.update(user_table).where(user_table.c.name == name).values(**values))
            if values.get("active") is False:  # a disabled user is signed out everywhere at once
                Credentials(self.conn).end_sessions(name)
        return self.require(name)

    def set_active(self, name: str, active: bool) -> UserInfo:
        """Enable or disable an existing user (admins, or managers for users who are not admins). A
        disabled user cannot sign in or use API tokens, and their sign-in sessions end now."""
        self.require(name)
        return self.save(name, active=active)

    def set_password(self, name: str, password: str, now: dt.datetime) -> None:
        """Set an existing user's password (their own, or anyone's for admins and, for users who are not
        admins, managers); every sign-in session of theirs ends."""
        self.require(name)
        me = self.actor_user
        if me is None or me.name != name:
            me = self._manager(f"set the password of {name}")
            self._check_target(me, name, "password")
        Credentials(self.conn).set_password(name, password, now)

    def grant(self, user: str, group: str, kind: str = "role") -> None:
        """Give ``user`` a role (declared in roles.yaml, or admin) or a group (any name)."""
        _check_kind(kind)
        me = self._manager(f"grant {kind}s")
        if kind == "role":
            self._check_role(me, group)
        self._check_target(me, user, f"{kind}s", own=True)
        if self.get(user) is None:
            self.save(user)
        m = membership_table
        found = self.conn.execute(sa.select(m.c.user_name).where(
            m.c.kind == kind, m.c.group_name == group, m.c.user_name == user)).first()
        if found is None:
            _changed(self.conn)
            self.conn.execute(sa.insert(m).values(kind=kind, group_name=group, user_name=user))

    def revoke(self, user: str, group: str, kind: str = "role") -> None:
        _check_kind(kind)
        me = self._manager(f"revoke {kind}s")
        if kind == "role" and group == ADMIN_ROLE and not me.is_admin:
            raise PermissionDenied(f"{me.name} may not grant or revoke the {ADMIN_ROLE} role (only an admin may)")
        self._check_target(me, user, f"{kind}s")
        m = membership_table
        _changed(self.conn)
        self.conn.execute(sa.delete(m).where(m.c.kind == kind, m.c.group_name == group, m.c.user_name == user))

    def members(self, group: str, kind: str = "role", *, active_only: bool = True) -> list[str]:
        """User names in a role or group, sorted (inactive users left out unless asked)."""
        _check_kind(kind)
        known = _known(self.conn)
        key = (kind, group, active_only)
        if known is not None and key in known.members:
            return list(known.members[key])
        q = _ACTIVE_MEMBERS if active_only else _MEMBERS
        rows = lean.execute(self.conn, q, {"_kind": kind, "_group": group}).all()
        names = [r[0] for r in rows]
        if known is not None:
            known.members[key] = names
            for r in rows:
                known.presence[r[0]] = (r[1], r[2], r[3])
            return list(names)
        return names

    def all(self) -> list[UserInfo]:
        names = [r[0] for r in self.conn.execute(sa.select(user_table.c.name).order_by(user_table.c.name))]
        return [self.require(n) for n in names]

    def actor(self, name: str) -> User:
        """The acting user with current roles (a user not in the directory has none)."""
        info = self.read(name)  # as_actor copies what it keeps
        return info.as_actor() if info is not None else User(name)

    def seed_roles(self, roles: Iterable[tuple[str, list[str]]]) -> None:
        for role, users in roles:
            for u in users:
                self.grant(u, role)
