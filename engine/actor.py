"""The acting user: every runtime operation is done by someone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class User:
    """Who acts. ``roles`` drive task inboxes and permissions; ``attrs`` feed row rules."""

    name: str
    roles: frozenset[str] = frozenset()
    is_admin: bool = False
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def has_role(self, role: str) -> bool:
        return self.is_admin or role in self.roles


SYSTEM = User("system", frozenset(), is_admin=True)
# the command line without --user: whoever can open the database owns it (audited as "admin")
OWNER = User("admin", frozenset({"admin"}), is_admin=True)

UserLike = User | str


def as_user(user: UserLike | None) -> User:
    """Accept a :class:`User` or a plain user name; refuse a missing user."""
    if isinstance(user, User):
        return user
    if isinstance(user, str) and user.strip():
        return User(user.strip())
    from .errors import UsageError

    raise UsageError("an acting user is required (pass user='name' or a User)")
