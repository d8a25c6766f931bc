"""Record names from a pattern such as ``SO-{YYYY}-{#####}`` or ``{code}``.

Each series (the pattern's text before its counter, per entity) counts on its own:

* PostgreSQL: one SEQUENCE per series, so concurrent writers in any number of processes never wait for
  each other (``nextval`` takes no lock held until commit; a counter row would be held by every open
  transaction that named a record). A number taken by a transaction that then rolls back is not reused:
  names are unique and increasing, not gap-free.
* SQLite: a row per series in ``ordo_series`` incremented with one atomic upsert (SQLite has one writer
  at a time anyway), once per series and transaction: the transaction holds the write lock from then on, so
  its next numbers are counted in memory and the counter written at commit (:func:`next_number`).

A caller about to create several records of one series (the allocation's records) takes their numbers in
one statement (:func:`reserve`); the creates that follow in the transaction use them (kept in the unit of
work's facts, dropped with a savepoint rolled back).

The sequence of a series is named after a digest of its key (:func:`sequence_name`). Work that may roll back
and run again (an intake batch) keeps the numbers it took in a :class:`KeptNumbers` (:func:`reusing`): the
next run gives them again, lowest first, before it takes new ones, so running it twice leaves no gap; such
work may also take the numbers of its next records ahead into it (:func:`take_ahead`, one statement for many).
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import hashlib
import re
import threading
import weakref
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from . import lean, unit_of_work
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


_POOL = "names reserved"  # uow.facts[(_POOL, series key)]: numbers taken ahead, the next one last


def next_number(conn: sa.Connection, key: str) -> int:
    """The next number of series ``key`` (1 for a new series)."""
    uow = unit_of_work.current(conn)
    if uow is not None and uow.facts:
        pool = uow.facts.get((_POOL, key))
        if pool:
            return pool.pop()
    return _take(conn, key, 1)[0]


def _take(conn: sa.Connection, key: str, n: int) -> list[int]:
    """The next ``n`` numbers of series ``key``, ascending, in at most one statement.

    PostgreSQL: numbers a rolled-back run gave back first (:class:`KeptNumbers`), then ``nextval``.
    SQLite: the first numbers of a series in a transaction are taken by the upsert, which holds the database's
    write lock until the end of the transaction: nobody else counts meanwhile, so the next ones are counted
    here and the last one written with the transaction's buffered rows (one UPDATE per take, one executemany
    at commit). A savepoint rolled back forgets the count and the numbers buffered inside it: the count goes
    on from the last number still buffered, else from the database (upsert)."""
    if conn.dialect.name == "postgresql":
        kept = conn.info.get(KEPT)
        numbers: list[int] = []
        if kept is not None and kept.free.get(key):
            free = kept.free[key]
            numbers, free[:] = free[:n], free[n:]
        if len(numbers) < n:
            oid = _sequence(conn, key)
            if n - len(numbers) == 1:
                numbers.append(int(lean.execute(conn, _NEXTVAL, {"oid": oid}).scalar_one()))
            else:
                numbers += sorted(int(v) for v in lean.execute(
                    conn, _NEXTVAL_N, {"oid": oid, "n": n - len(numbers)}).scalars())
        if kept is not None:
            kept.taken.extend((key, v) for v in numbers)
        return numbers
    uow = unit_of_work.of(conn)
    fact = ("naming", key)
    last = uow.facts.get(fact)
    if last is None:
        last = _buffered(uow.pending, key)
    if last is None:
        last = int(lean.execute(conn, _COUNT, {"key": key, "n": n}).scalar_one())
    else:
        last += n
        unit_of_work.buffer(conn, _SET, {"k_key": key, "v_current": last})
    uow.facts[fact] = last
    return list(range(last - n + 1, last + 1))


def _buffered(pending: list[tuple[Any, dict[str, Any]]], key: str) -> int | None:
    """The last number of series ``key`` buffered (not written yet) in the transaction, if any."""
    for stmt, row in reversed(pending):
        if stmt is _SET and row["k_key"] == key:
            return int(row["v_current"])
    return None


KEPT = "ordo_kept_numbers"  # conn.info: the KeptNumbers of the work running on the connection


class KeptNumbers:
    """PostgreSQL: numbers of name series taken by runs of one piece of work that were rolled back (a sequence
    does not give them again): the next run takes them first, lowest first, so its records get the names the
    rolled-back run gave (none is skipped). SQLite rolls its counter back itself: nothing is kept there."""

    def __init__(self) -> None:
        self.free: dict[str, list[int]] = {}  # series key -> numbers no committed record has, ascending
        self.taken: list[tuple[str, int]] = []  # (series key, number) given by the current run, in order

    def mark(self) -> int:
        return len(self.taken)

    def give_back(self, mark: int = 0) -> None:
        """The numbers taken since ``mark`` are unused again (what wrote them was rolled back)."""
        for key, n in self.taken[mark:]:
            bisect.insort(self.free.setdefault(key, []), n)
        del self.taken[mark:]


@contextlib.contextmanager
def reusing(conn: sa.Connection, kept: KeptNumbers) -> Iterator[KeptNumbers]:
    """Within the block, ``conn``'s transaction takes series numbers from ``kept`` first and records them; left by
    an exception (the transaction is rolled back), they are kept for the next run. A no-op on SQLite."""
    if conn.dialect.name != "postgresql":
        yield kept
        return
    conn.info[KEPT] = kept
    kept.taken = []
    try:
        yield kept
    except BaseException:
        kept.give_back()
        raise
    finally:
        conn.info.pop(KEPT, None)
        kept.taken = []


# SQLite: the last of the series' next ``n`` numbers in one atomic upsert, and the counter set to a number
# counted (built once)
_COUNT = (sqlite.insert(series_table).values(key=sa.bindparam("key"), current=sa.bindparam("n"))
          .on_conflict_do_update(index_elements=[series_table.c.key],
                                 set_={"current": series_table.c.current + sa.bindparam("n")})
          .returning(series_table.c.current))
_SET = sa.update(series_table).where(series_table.c.key == sa.bindparam("k_key")).values(
    current=sa.bindparam("v_current"))

# by OID, not name: a name looked up in the caller's transaction could miss a sequence just created
_NEXTVAL = sa.text("SELECT nextval(CAST(:oid AS oid))")
_NEXTVAL_N = sa.text("SELECT nextval(CAST(:oid AS oid)) FROM generate_series(1, :n)")


def _series(entity: str, pattern: str | None, today: dt.date) -> str | None:
    """The key of the series ``entity``'s records created ``today`` are numbered in; None when the pattern
    names records by their fields (their series is known only per record) or has no counter."""
    parts, counter = _parsed(pattern or f"{entity.upper()}-{{######}}")
    if counter is None or any(token not in ("#", *_DATES) for _, token in parts if token is not None):
        return None
    return f"{entity}:{''.join(_fill(parts, counter, {}, today)[:counter])}"


def reserve(conn: sa.Connection, entity: str, pattern: str | None, today: dt.date, n: int) -> None:
    """Take the next ``n`` numbers of ``entity``'s series in one statement, for the next ``n`` creates of it in
    this transaction (:func:`make_name` uses them first). Nothing to do for fewer than 2 names, or a pattern
    naming records by their fields (their series is known only per record)."""
    key = _series(entity, pattern, today) if n >= 2 else None
    if key is None:
        return
    numbers = _take(conn, key, n)
    pool = unit_of_work.of(conn).facts.setdefault((_POOL, key), [])
    pool[:0] = reversed(numbers)  # popped from the end: lowest first, before any taken earlier and left


def take_ahead(conn: sa.Connection, kept: KeptNumbers, entity: str, pattern: str | None, today: dt.date,
               n: int) -> None:
    """PostgreSQL: make ``kept`` hold at least ``n`` free numbers of ``entity``'s series (those it holds and
    the next ones of the sequence, in one statement), so that the next ``n`` names of the work using it
    (:func:`reusing`: this run and the runs after it) are taken without a statement each. A number taken is
    recorded and given back as any other (a run rolled back gives it again); one not used stays free for the
    work's next run. Nothing to do on SQLite (counted in memory) or for fewer than 2 numbers."""
    key = _series(entity, pattern, today) if conn.dialect.name == "postgresql" else None
    if key is None:
        return
    free = kept.free.setdefault(key, [])
    more = n - len(free)
    if more < 2:
        return
    oid = _sequence(conn, key)
    for v in lean.execute(conn, _NEXTVAL_N, {"oid": oid, "n": more}).scalars():
        bisect.insort(free, int(v))


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


_DATES = ("YYYY", "YY", "MM", "DD")


@lru_cache(maxsize=64)
def _dates(today: dt.date) -> dict[str, str]:
    """The date tokens' text for ``today`` (once per day; callers only read it)."""
    return {"YYYY": f"{today.year:04d}", "YY": f"{today.year % 100:02d}", "MM": f"{today.month:02d}",
            "DD": f"{today.day:02d}"}


def make_name(conn: sa.Connection, entity: str, pattern: str | None, record: dict[str, Any], today: dt.date) -> str:
    """The next name for a record of ``entity``."""
    parts, counter = _parsed(pattern or f"{entity.upper()}-{{######}}")
    out = _fill(parts, counter, record, today)
    if counter is None:
        return "".join(out)
    prefix = "".join(out[:counter])
    n = next_number(conn, f"{entity}:{prefix}")
    return prefix + str(n).zfill(len(parts[counter][0])) + "".join(out[counter + 1:])


def _fill(parts: list[tuple[str, str | None]], counter: int | None, record: dict[str, Any],
          today: dt.date) -> list[str]:
    """The pattern's parts as text (the counter's place empty)."""
    dates = _dates(today)
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
    return out
