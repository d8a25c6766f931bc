"""Record names from a pattern such as ``SO-{YYYY}-{#####}`` or ``{code}``.

Counters live in ``ordo_series`` and are incremented with one atomic
INSERT ... ON CONFLICT DO UPDATE ... RETURNING, so concurrent writers in several
processes never get the same number.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .tables import SYSTEM_METADATA

series_table = sa.Table(
    "ordo_series",
    SYSTEM_METADATA,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("current", sa.BigInteger, nullable=False),
)

_TOKEN = re.compile(r"\{([^{}]*)\}")


def next_number(conn: sa.Connection, key: str) -> int:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(series_table).values(key=key, current=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[series_table.c.key], set_={"current": series_table.c.current + 1}
    ).returning(series_table.c.current)
    return int(conn.execute(stmt).scalar_one())


def make_name(conn: sa.Connection, entity: str, pattern: str | None, record: dict[str, Any], today: dt.date) -> str:
    """The next name for a record of ``entity``."""
    pattern = pattern or f"{entity.upper()}-{{######}}"
    dates = {"YYYY": f"{today.year:04d}", "YY": f"{today.year % 100:02d}", "MM": f"{today.month:02d}",
             "DD": f"{today.day:02d}"}

    def fixed(m: re.Match) -> str:
        token = m.group(1)
        if token in dates:
            return dates[token]
        if re.fullmatch(r"#+", token):
            return m.group(0)
        value = record.get(token)
        return "" if value is None else str(value)

    prefix_filled = _TOKEN.sub(fixed, pattern)
    counter = re.search(r"\{(#+)\}", prefix_filled)
    if counter is None:
        return prefix_filled
    key = f"{entity}:{prefix_filled[: counter.start()]}"
    n = next_number(conn, key)
    return prefix_filled[: counter.start()] + str(n).zfill(len(counter.group(1))) + prefix_filled[counter.end():]
