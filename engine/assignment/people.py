"""From targets (users, roles, groups) to the users who can take work now.

Membership is read from the user directory when a rule runs (once per
transaction: the directory keeps what it read in the unit of work, with each
member's activity, availability and calendar). A user is eligible when
active, marked available, and inside their working calendar (their own, else
the rule's default) at the transaction's clock.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING

from ordo.dsl.assignment import Target
from ordo.dsl.calendar import WEEKDAYS, CalendarDef, parse_span

if TYPE_CHECKING:
    from ..records import Transaction


class WorkingCalendar:
    """A calendar definition ready to answer 'is this moment working time?'."""

    def __init__(self, defn: CalendarDef) -> None:
        self.name = defn.name
        self.zone = zoneinfo.ZoneInfo(defn.timezone)
        self.days = {WEEKDAYS.index(d) for d in defn.weekdays}
        self.spans = [s for s in (parse_span(h) for h in defn.hours) if s is not None]
        self.holidays = set(defn.holidays)

    def is_working(self, at: dt.datetime) -> bool:
        """``at`` is UTC (naive or aware)."""
        aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
        local = aware.astimezone(self.zone)
        if local.weekday() not in self.days or local.date() in self.holidays:
            return False
        t = local.time().replace(tzinfo=None)
        return any(start <= t < end or (end == dt.time.max and t >= start) for start, end in self.spans)


def members(tx: Transaction, targets: list[Target]) -> list[str]:
    """Active users named by the targets, in a stable order, without duplicates."""
    out: list[str] = []
    for t in targets:
        if t.user is not None:
            presence = tx.users.presence(t.user)
            names = [t.user] if presence is not None and presence[0] else []
        elif t.role is not None:
            names = tx.users.members(t.role, "role")
        else:
            names = tx.users.members(t.group or "", "group")
        out.extend(n for n in names if n not in out)
    return out


def eligible(tx: Transaction, names: list[str], calendars: dict[str, WorkingCalendar],
             default_calendar: str | None, skip_unavailable: bool) -> list[str]:
    """The users among ``names`` who can take work now (all of them when not skipping)."""
    if not skip_unavailable:
        return list(names)
    out = []
    presence = tx.users.presence
    for name in names:
        found = presence(name)
        if found is None or not found[0] or not found[1]:
            continue
        cal = calendars.get(found[2] or default_calendar or "") if calendars else None
        if cal is not None and not cal.is_working(tx.now):
            continue
        out.append(name)
    return out
