"""Working calendars (kind ``calendar``, folder ``calendars/``): weekdays, hours and holidays.

Assignment rules skip users outside their working calendar. A user names a
calendar (``ordo user set NAME --calendar office``); a rule may name a default
for users without one. Times are local to ``timezone``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Literal

from pydantic import Field, field_validator

from .base import Definition, Label, register_kind
from .check import CheckContext

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


def parse_span(text: str) -> tuple[dt.time, dt.time] | None:
    """``"09:00-17:30"`` -> (09:00, 17:30); ``24:00`` is the end of the day. None if malformed."""
    m = _SPAN.match(text.replace(" ", ""))
    if m is None:
        return None
    start = dt.time(int(m[1]), int(m[2]))
    end = dt.time.max if m[3] == "24" and m[4] == "00" else (None if m[3] == "24" else dt.time(int(m[3]), int(m[4])))
    if end is None or end <= start:
        return None
    return start, end


@register_kind
class CalendarDef(Definition):
    """When people work: some weekdays, some hours, except holidays."""

    kind_name = "calendar"
    folder = "calendars"

    kind: Literal["calendar"] = "calendar"
    label: Label | None = None
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Paris")
    weekdays: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    hours: list[str] = Field(default_factory=lambda: ["09:00-17:00"], description="Working spans, 'HH:MM-HH:MM'")
    holidays: list[dt.date] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _spans(cls, v: list[str]) -> list[str]:
        for span in v:
            if parse_span(span) is None:
                raise ValueError(f"'{span}' is not a time span like '09:00-17:00' (start before end)")
        return v

    def check(self, ctx: CheckContext) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            ctx.error(("timezone",), f"unknown time zone '{self.timezone}' (use an IANA name such as Europe/Paris)")
