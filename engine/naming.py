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
_sequences: dict[tuple[str, str], int] = {}  # (database URL, series key) -> the sequence's OID, per process
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
    marker = (str(conn.engine.url), key)
    oid = _sequences.get(marker)
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
        _sequences[marker] = int(found)
    return int(found)


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
