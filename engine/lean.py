"""Statements built once, executed lean: compiled to SQL text once per dialect, run on the DBAPI cursor.

SQLAlchemy Core spends ~100-700 us of Python per ``conn.execute`` (compiled-cache lookup, execution context,
parameter processing, result metadata) for statements that never change. :func:`execute` does what those
statements need and no more:

* the SQL text, the order of its bind parameters (with their default values and type processors) are taken
  from the compiled statement ONCE per (statement, dialect, parameter names) and kept;
* each call binds the caller's values in that order and runs the text on the DBAPI cursor of the
  connection's current transaction (``BEGIN`` issued through SQLAlchemy first when none is open, so the
  engine's ``begin`` event still decides ``BEGIN IMMEDIATE``); on PostgreSQL (psycopg 3.2+) the text is
  rewritten once to ``$n`` placeholders and run on psycopg's ``RawCursor`` with the values as a list (no
  query conversion, no parameter dict per call);
* the result's columns (``cursor.description``) are read at the first call only; the rows are fetched whole,
  so one DBAPI cursor, kept on the ``Connection``, runs every statement (none made and closed per call);
* result rows are converted by per-column processors chosen once (``Decimal``, dates, JSON, booleans on
  SQLite; what psycopg does not convert itself on PostgreSQL) and returned as light rows (tuple, attribute
  and ``_mapping`` access) in a :class:`Result` with the part of SQLAlchemy's result API callers use
  (``engine/lean_rows.py``);
* the engine's ``before_cursor_execute`` / ``after_cursor_execute`` listeners run as for any statement (the
  statement counter of :mod:`ordo.engine.stats` counts these too), and a driver error is raised as
  SQLAlchemy raises it (``sa.exc.IntegrityError`` ..., a lost connection invalidated), through the
  connection's own error handling.

A statement SQLAlchemy has more to do for (expanding ``IN`` parameters, Python-side column defaults, an
executemany with ``RETURNING``) is run by ``conn.execute`` unchanged: same result API. Only statements built
once (module constants, write plans) belong here: compiled forms are kept for the life of the process.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as _sqlite

from .lean_rows import Result, Row

_RAW: list[Any] = []  # psycopg's RawCursor (None: psycopg older than 3.2), imported with the first PostgreSQL plan


def _raw_cursor() -> Any:
    """psycopg 3.2+'s cursor that runs $n SQL with positional values as given (no query conversion per call);
    imported on first use, so a SQLite process never imports psycopg."""
    if not _RAW:
        try:
            from psycopg import RawCursor
        except ImportError:  # pragma: no cover - psycopg 3.1, or no psycopg
            RawCursor = None  # noqa: N806
        _RAW.append(RawCursor)
    return _RAW[0]


_CACHE: dict[tuple[Any, str, tuple[str, ...], bool], Any] = {}
_CACHE_LIMIT = 20_000  # compiled forms kept (statements built once: a few hundred per app)
_MUTEX = threading.Lock()
_FALLBACK = object()


_MISSING = object()


class _Call:
    """A bind parameter's default computed at each execution (``bindparam(callable_=...)``)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn


class _Plan:
    """One statement compiled for one dialect and set of parameter names."""

    __slots__ = ("sql", "names", "keys", "getter", "special", "procs", "named", "raw", "row", "types", "results",
                 "ready")

    def __init__(self, sql: str, binds: list[tuple[str, str, Any, Any]], named: bool) -> None:
        self.sql = sql
        self.names = [b[0] for b in binds]  # the parameters' names in the SQL, in bind order
        self.keys = [(b[1], b[2]) for b in binds]  # (caller's key, default) in bind order
        # the caller's values in bind order (one C call) when every parameter is the caller's to give (none has
        # a default: a literal bound by SQLAlchemy, a callable); else by ``get`` with the defaults
        self.getter: Any = None
        if all(b[2] is _MISSING for b in binds):
            if len(binds) > 1:
                self.getter = operator.itemgetter(*(b[1] for b in binds))
            elif binds:
                key = binds[0][1]
                self.getter = lambda params: [params[key]]
            else:
                self.getter = lambda params: ()
        self.special = [i for i, b in enumerate(binds) if b[2] is _MISSING or type(b[2]) is _Call]
        self.procs = [(i, b[3]) for i, b in enumerate(binds) if b[3] is not None]  # bind processors
        self.named = named  # pyformat (psycopg): parameters as a dict; else positional in bind order
        self.raw = False  # psycopg: ``sql`` rewritten to $n placeholders, run on a RawCursor with a list
        if named and _raw_cursor() is not None:
            self.sql, self.named, self.raw = _dollar(sql, self.names), False, True
        self.row: type[Row] | None = None
        self.types: list[Any] = []  # of the result columns
        self.results: list[tuple[int, Any]] = []  # (position, processor) of columns that need one
        self.ready = False


_PYFORMAT = re.compile(r"%%|%\(([^)]+)\)s")


def _dollar(sql: str, names: list[str]) -> str:
    """pyformat SQL (``%(name)s``, ``%%``) as PostgreSQL's own: ``$n`` (n: the name's place in ``names``, so a
    name used twice binds one value), ``%``."""
    place = {name: i + 1 for i, name in enumerate(names)}
    return _PYFORMAT.sub(lambda m: "%" if m.group(1) is None else f"${place[m.group(1)]}", sql)


def _compile(conn: sa.Connection, stmt: Any, keys: tuple[str, ...], many: bool) -> Any:
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
    if (compiled.post_compile_params or compiled.literal_execute_params or compiled.insert_prefetch
            or compiled.update_prefetch or compiled.escaped_bind_names
            or (many and compiled._insertmanyvalues is not None and compiled.effective_returning)):
        return _FALLBACK
    binds = []
    by_name = {name: bp for bp, name in compiled.bind_names.items()}
    processors = compiled._bind_processors
    order = compiled.positiontup if compiled.positional else list(by_name)
    for name in order:
        bp = by_name[name]
        if bp.callable is not None:  # a value computed at each execution (as SQLAlchemy does)
            default: Any = _Call(bp.callable)
        else:
            default = _MISSING if bp.required else bp.value
        binds.append((name, bp.key, default, _fast(processors.get(name), bp.type, dialect)))
    plan = _Plan(compiled.string, binds, not compiled.positional)
    keynames = [str(c.keyname) for c in (compiled._result_columns or ())]  # plain str (not quoted_name)
    if keynames:
        plan.row = type("Row", (Row,), {"__slots__": (), "_fields": tuple(keynames),
                                        "_index": {k: i for i, k in enumerate(keynames)}})
        plan.types = [c.type for c in compiled._result_columns]
    return plan


_SQLITE_DATETIME = _sqlite.DATETIME()._storage_format  # SQLAlchemy's text of a datetime on SQLite


# the text of the naive datetimes bound lately (a transaction binds its few "now"s many times: created_at,
# updated_at, timeline and audit rows ...); emptied when full. Shared by the threads (plain dict operations)
_DATETIME_TEXTS: dict[dt.datetime, str] = {}
_DATETIME_TEXTS_MAX = 64


def _fast(proc: Any, typ: Any, dialect: Any) -> Any:
    """A bind processor doing what ``proc`` does, faster where it is known: SQLite's ``DATETIME`` text
    (``YYYY-MM-DD HH:MM:SS.ffffff``) of a naive datetime is its ``isoformat`` (C), not a %-format of seven
    attributes, made once per value bound lately (:data:`_DATETIME_TEXTS`); any other value goes to
    SQLAlchemy's processor."""
    if proc is None or dialect.name != "sqlite":
        return proc
    impl = typ.dialect_impl(dialect)
    if type(impl) is not _sqlite.DATETIME or impl._storage_format != _SQLITE_DATETIME:
        return proc
    datetime = dt.datetime
    texts = _DATETIME_TEXTS

    def process(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            text = texts.get(value)
            if text is None:
                if len(texts) >= _DATETIME_TEXTS_MAX:
                    texts.clear()
                text = texts[value] = value.isoformat(" ", "microseconds")
            return text
        return proc(value)

    return process


def _plan(conn: sa.Connection, stmt: Any, params: Mapping[str, Any], many: bool) -> Any:
    """The plan of ``stmt`` for the names of ``params``: found by the names in the caller's order (no sort per
    call), compiled once per set of names."""
    dialect = conn.dialect.name
    key = (stmt, dialect, tuple(params), many)
    found = _CACHE.get(key)
    if found is None:
        names = tuple(sorted(params))
        found = _CACHE.get((stmt, dialect, names, many))
        if found is None:
            found = _compile(conn, stmt, names, many)
        with _MUTEX:
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()
            _CACHE[(stmt, dialect, names, many)] = _CACHE[key] = found
    return found


def _bind(plan: _Plan, params: Mapping[str, Any]) -> Any:
    values = None
    if plan.getter is not None:
        try:
            values = list(plan.getter(params))  # every value given: no default to compute
        except KeyError:  # a required value not given: refused below
            pass
    if values is None:
        get = params.get
        values = [get(key, default) for key, default in plan.keys]
        for i in plan.special:
            value = values[i]
            if type(value) is _Call:
                values[i] = value.fn()
            elif value is _MISSING:
                raise sa.exc.InvalidRequestError(f"A value is required for bind parameter {plan.keys[i][0]!r}")
    for i, proc in plan.procs:
        values[i] = proc(values[i])
    if plan.named:
        return dict(zip(plan.names, values, strict=True))
    return values


def _ready(plan: _Plan, conn: sa.Connection, description: Any) -> None:
    """The result processors, chosen once from the first result's column types (PostgreSQL reports them)."""
    dialect = conn.dialect
    chosen = []
    for i, (typ, col) in enumerate(zip(plan.types, description, strict=False)):
        proc = typ._cached_result_processor(dialect, col[1])
        if proc is not None:
            chosen.append((i, proc))
    plan.results = chosen
    plan.ready = True


def execute(conn: sa.Connection, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
            ) -> Any:
    """Run ``stmt`` (built once) with ``params`` (a mapping, or a list of them: executemany) on ``conn``'s
    transaction; a :class:`Result` (or SQLAlchemy's own result for a statement it must run itself)."""
    if type(params) is list:
        if len(params) != 1:
            return _many(conn, stmt, params)
        params = params[0]
    single = params or {}
    plan = _CACHE.get((stmt, conn.dialect.name, tuple(single), False))  # the common case: found by the caller's
    if plan is None:
        plan = _plan(conn, stmt, single, False)
    if plan is _FALLBACK:
        return conn.execute(stmt, params)
    return _run(conn, plan, _bind(plan, single), False)


def _many(conn: sa.Connection, stmt: Any, params: list[Mapping[str, Any]]) -> Any:
    plan = _plan(conn, stmt, params[0], True) if params else _FALLBACK
    if plan is _FALLBACK:
        return conn.execute(stmt, params)
    return _run(conn, plan, [_bind(plan, p) for p in params], True)


def _dispatch(conn: sa.Connection) -> Any:
    """The cursor events of ``conn``: the engine's own when the connection has none of its own (what
    SQLAlchemy joins per connection, without building the joined listeners of a new connection per statement)."""
    return conn.dispatch if conn._has_events else conn.engine.dispatch


_CURSOR = "ordo_lean_cursor"


def _cursor(conn: sa.Connection, dbapi: Any) -> Any:
    """The DBAPI cursor kept on ``conn`` for its DBAPI connection (a statement's rows are fetched whole before
    the next one runs, so one cursor serves them all: none made and closed per statement); a new one when the
    DBAPI connection changed (a connection invalidated and replaced)."""
    kept = conn.__dict__.get(_CURSOR)
    if kept is not None and kept[0] is dbapi:
        return kept[1]
    cursor = dbapi.cursor()
    conn.__dict__[_CURSOR] = (dbapi, cursor)
    return cursor


def forget_cursor(conn: sa.Connection) -> None:
    """A statement run on ``conn`` failed outside :func:`execute` (see :mod:`ordo.engine.pipelined`): the cursor
    kept for it is not used again."""
    conn.__dict__.pop(_CURSOR, None)


def _run(conn: sa.Connection, plan: _Plan, bound: Any, many: bool) -> Result:
    # the DBAPI connection of conn's transaction (BEGIN through SQLAlchemy first when none is open) and the
    # cursor kept for it (see _cursor), found inline: once per statement
    tx = conn._transaction
    if tx is None or not tx.is_active:
        conn.begin()
    fairy = conn._dbapi_connection
    dbapi = (fairy if fairy is not None else conn.connection).dbapi_connection
    raw = plan.raw
    if raw:
        cursor = _RAW[0](dbapi)
    else:
        kept = conn.__dict__.get(_CURSOR)
        cursor = kept[1] if kept is not None and kept[0] is dbapi else _cursor(conn, dbapi)
    sql = plan.sql
    if conn._has_events:  # the connection's own listeners joined to the engine's: SQLAlchemy's iteration
        dispatch = conn.dispatch
        befores: Any = (dispatch.before_cursor_execute,)
        after = dispatch.after_cursor_execute
        afters: Any = (after, ())
    else:  # the engine's: its collections read as SQLAlchemy's __bool__/__iter__ do, without their calls
        dispatch = conn.engine.dispatch
        before = dispatch.before_cursor_execute
        befores = (before.parent_listeners, before.listeners)
        after = dispatch.after_cursor_execute
        afters = (after.listeners, after.parent_listeners)
    try:
        for fns in befores:
            for fn in fns:
                sql, bound = fn(conn, cursor, sql, bound, None, many)
        if many:
            cursor.executemany(sql, bound)
        else:
            cursor.execute(sql, bound)
        if afters[0] or afters[1]:
            after(conn, cursor, sql, bound, None, many)
        if plan.ready:  # a statement with rows (its description read once, at the first call)
            rows = cursor.fetchall()
            description = True
        else:
            description = cursor.description
            rows = cursor.fetchall() if description is not None else []
        rowcount = cursor.rowcount
    except BaseException as e:
        conn.__dict__.pop(_CURSOR, None)  # a cursor that failed is not used again
        try:
            conn._handle_dbapi_exception(e, sql, bound, cursor, None)
        finally:
            cursor.close()
        raise  # pragma: no cover - the handler raises
    if raw:
        cursor.close()
    row = plan.row
    if row is not None and description is not None:
        if not plan.ready:
            _ready(plan, conn, description)
        procs = plan.results
        if procs:
            out = []
            for r in rows:
                values = list(r)
                for i, proc in procs:
                    values[i] = proc(values[i])
                out.append(row(values))
            rows = out
        else:
            rows = list(map(row, rows))
    return Result(rows, rowcount)


def driver_sql(conn: sa.Connection, sql: str) -> None:
    """Run a fixed SQL text without parameters or rows (``BEGIN IMMEDIATE``) on the DBAPI cursor, with the
    engine's cursor events and error handling (``conn.exec_driver_sql`` without its execution context)."""
    cursor = _cursor(conn, conn.connection.dbapi_connection)
    params: Any = ()
    dispatch = _dispatch(conn)
    try:
        before = dispatch.before_cursor_execute
        if before:
            for fn in before:
                sql, params = fn(conn, cursor, sql, params, None, False)
        cursor.execute(sql, params)
        after = dispatch.after_cursor_execute
        if after:
            after(conn, cursor, sql, params, None, False)
    except BaseException as e:
        conn.__dict__.pop(_CURSOR, None)  # a cursor that failed is not used again
        try:
            conn._handle_dbapi_exception(e, sql, params, cursor, None)
        finally:
            cursor.close()
        raise  # pragma: no cover - the handler raises
