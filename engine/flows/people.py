"""Who is asked or told: approver specs -> assignees (users or roles) -> user names."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import OrdoError
from .compile import Approver

if TYPE_CHECKING:
    from ..records import Transaction

Assignee = tuple[str, str]  # ("user", name) or ("role", name)


class FlowFailed(OrdoError):
    """A flow cannot go on (e.g. no approver and the node's policy is 'fail'); nothing was changed."""


def _names(value: Any, link_entity: str | None, tx: Transaction | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [n for v in value for n in _names(v, link_entity, tx)]
    if isinstance(value, dict):
        return [str(value["name"])] if value.get("name") else []
    if link_entity is not None:
        if tx is None:
            return [f"{link_entity}#{value}"]
        rec = tx.env.link(link_entity, value)
        return [str(rec["name"])] if rec and rec.get("name") else []
    text = str(value).strip()
    return [text] if text else []


def resolve(tx: Transaction | None, approvers: Iterable[Approver], record: dict[str, Any], initiator: str,
            entity: str, *, dry: bool = False, keep: Callable[[dict[str, Any]], None] | None = None
            ) -> list[Assignee]:
    """Assignees in the order given, without duplicates. ``dry`` (a simulation): assignment rules are
    named (``("rule", name)``), not run, as running one changes its state. ``keep``: how a run keeps the
    assignee field an assignment rule sets on its record (written with the run's own update)."""
    out: list[Assignee] = []
    env = tx.env if tx is not None else None
    for a in approvers:
        s = a.spec
        if s.role:
            out.append(("role", s.role))
        elif s.user:
            out.append(("user", s.user))
        elif a.expr is not None:
            value = a.expr(record, env, initiator)
            out.extend(("user", n) for n in _names(value, a.link_entity, tx))
        elif s.assignment:
            if tx is None or dry:
                out.append(("rule", s.assignment))
                continue
            feature = tx.app.features.get("assignment")
            if feature is None:
                raise FlowFailed(f"assignment rule '{s.assignment}' cannot run: the assignment feature is not "
                                 "installed")
            out.extend(("user", n) for n in feature.assign(tx, s.assignment, entity, record, keep=keep) or [])
    return list(dict.fromkeys(out))


def expand(tx: Transaction | None, assignees: Iterable[Assignee], members: Any = None) -> list[str]:
    """User names: roles replaced by their active members."""
    users: list[str] = []
    for kind, name in assignees:
        if kind == "role":
            if tx is not None:
                users.extend(tx.users.members(name))
            elif members is not None:
                users.extend(members(name))
        else:
            users.append(name)
    return list(dict.fromkeys(users))


def send(tx: Transaction, users: Iterable[str], subject: str, body: str, channel: str = "inbox",
         payload: dict[str, Any] | None = None) -> int:
    """Notify users on a channel (email goes to the user's address; users without one get an inbox note)."""
    n = 0
    for user in users:
        if channel == "email":
            info = tx.users.get(user)
            if info is not None and info.email:
                tx.notify("email", info.email, subject, body, payload)
                n += 1
                continue
        tx.notify("inbox", user, subject, body, payload)
        n += 1
    return n
