"""Record names from a pattern such as ``SO-{YYYY}-{#####}`` or ``{code}``.

Each series (the pattern's text before its counter, per entity) counts on its own:

* PostgreSQL: one SEQUENCE per series, so concurrent writers in any number of processes never wait for
  each other (``nextval`` takes no lock held until commit; a counter row would be held by every open
  transaction that named a record). A number taken by a transaction that then rolls back is not reused:
  names are unique and increasing, not gap-free.
* SQLite: a row per series in ``ordo_series`` incremented with one atomic upsert (SQLite has one writer
  at a time anyway).

The sequence of a series is named after a digest of its key (:func:`sequence_name`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import weakref
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from . import lean
from .tables import SYSTEM_METADATA

series_table = sa.Table(
    "ordo_series",
    SYSTEM_METADATA,
    sa.Column("key", sa.String(200), primary_key=True),
    # SQLite: the last number given; PostgreSQL: the last one given before the series had its sequence
    sa.Column("current", sa.BigInteger, nullable=False),
)

_TOKEN = re.compile(r"\{([^{}]*)\}")
# engine -> series key -> the sequence's OID, per process (looked up by the engine: no URL rendered per name)
_sequences: weakref.WeakKeyDictionary[sa.Engine, dict[str, int]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def sequence_name(key: str) -> str:
    return "ordo_seq_" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def next_number(conn: sa.Connection, key: str) -> int:
    """The next number of series ``key`` (1 for a new series)."""
    if conn.dialect.name == "postgresql":
        oid = _sequence(conn, key)
        return int(lean.execute(conn, _NEXTVAL, {"oid": oid}).scalar_one())
    return int(lean.execute(conn, _COUNT, {"key": key}).scalar_one())


# SQLite: the series' next number in one atomic upsert (built once)
_COUNT = (sqlite.insert(series_table).values(key=sa.bindparam("key"), current=1)
          .on_conflict_do_update(index_elements=[series_table.c.key], set_={"current": series_table.c.current + 1})
          .returning(series_table.c.current))


# by OID, not name: a name looked up in the caller's transaction could miss a sequence just created
_NEXTVAL = sa.text("SELECT nextval(CAST(:oid AS oid))")


def _sequence(conn: sa.Connection, key: str) -> int:
    """The OID of the series' sequence, created once on its own autocommit connection (the caller's
    transaction holds no lock for it, and each statement there sees what other processes committed);
    a series counted in ``ordo_series`` before sequences existed continues from its last number."""
    known = _sequences.get(conn.engine)
    oid = known.get(key) if known is not None else None
    if oid is not None:
        return oid
    seq = sequence_name(key)
    probe = f"SELECT CAST(to_regclass('{seq}') AS oid)"
    lock_key = int.from_bytes(hashlib.sha256(("ordo-series:" + key).encode()).digest()[:8], "big", signed=True)
    with conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as ddl:
        found = ddl.exec_driver_sql(probe).scalar()
        if found is None:
            ddl.exec_driver_sql(f"SELECT pg_advisory_lock({lock_key})")
            try:
                found = ddl.exec_driver_sql(probe).scalar()  # another process may have just created it
                if found is None:
                    t = series_table
                    last = ddl.execute(sa.select(t.c.current).where(t.c.key == key)).scalar() or 0
                    ddl.exec_driver_sql(f"CREATE SEQUENCE IF NOT EXISTS {seq} START WITH {int(last) + 1}")
                    found = ddl.exec_driver_sql(probe).scalar()
            finally:
                ddl.exec_driver_sql(f"SELECT pg_advisory_unlock({lock_key})")
    with _lock:
        _sequences.setdefault(conn.engine, {})[key] = int(found)
    return int(found)


@lru_cache(maxsize=1024)
def _parsed(pattern: str) -> tuple[list[tuple[str, str | None]], int | None]:
    """A pattern as (literal text, token or None) parts, once per pattern, and the index of its counter part
    (the first ``{#...}``; None: no counter). A token is a date part or a field of the record."""
    parts: list[tuple[str, str | None]] = []
    counter = None
    at = 0
    for m in _TOKEN.finditer(pattern):
        token = m.group(1)
        if re.fullmatch(r"#+", token):
            if counter is None:
                parts.append((pattern[at:m.start()], None))
                counter = len(parts)
                parts.append((token, "#"))
            else:  # a second counter is kept as text
                parts.append((pattern[at:m.end()], None))
            at = m.end()
            continue
        parts.append((pattern[at:m.start()], None))
        parts.append(("", token))
        at = m.end()
    parts.append((pattern[at:], None))
    return parts, counter


def make_name(conn: sa.Connection, entity: str, pattern: str | None, record: dict[str, Any], today: dt.date) -> str:
    """The next name for a record of ``entity``."""
    parts, counter = _parsed(pattern or f"{entity.upper()}-{{######}}")
    dates = {"YYYY": f"{today.year:04d}", "YY": f"{today.year % 100:02d}", "MM": f"{today.month:02d}",
             "DD": f"{today.day:02d}"}
    out: list[str] = []
    for i, (text, token) in enumerate(parts):
        if token is None:
            out.append(text)
        elif i == counter:
            out.append("")  # the counter's place, filled below
        elif token in dates:
            out.append(dates[token])
        else:
            value = record.get(token)
            out.append("" if value is None else str(value))
    if counter is None:
        return "".join(out)
    prefix = "".join(out[:counter])
    n = next_number(conn, f"{entity}:{prefix}")
    return prefix + str(n).zfill(len(parts[counter][0])) + "".join(out[counter + 1:])
