"""Filters pushed down to SQL: expression text -> WHERE clause, compiled once and cached.

The :class:`TableSource` / :class:`LinkSource` pair tells the expression SQL
compiler where fields live: columns of the entity's table, correlated
subqueries for fields reached through links, and child tables for aggregates.
For a user's expression they carry the user's read :class:`Guard`: a linked
record the user may not read reads as null, and related rows they may not read
are left out of aggregates.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement, FromClause

from ordo.dsl.errors import ExpressionError, ExpressionErrors
from ordo.dsl.expr import Clock, CompiledExpression, Scope, ast, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.expr.to_sql import to_sql

from .compiled import CompiledApp
from .errors import UsageError


class Guard(Protocol):
    """What the acting user may read (see :class:`engine.permissions.ReadGuard`)."""

    key: Hashable
    schema: Any  # the fields the user's expressions may name (a SchemaView), None: every field

    def rows(self, entity: str, table: FromClause) -> ColumnElement[bool] | None: ...


class TableSource:
    """Fields of ``entity`` read from ``table`` (the entity's table, an alias or a child table).

    With a ``guard`` (a user's expression), links and related rows reached from here are
    restricted to rows the user may read; the rows of ``table`` itself are the caller's business,
    unless ``visible`` says which of them the user may read: the fields of any other row then read
    as null, so that no expression is ever evaluated on their values (whatever order the database
    evaluates conditions in)."""

    def __init__(self, app: CompiledApp, entity: str, table: FromClause, guard: Guard | None = None,
                 visible: ColumnElement[bool] | None = None) -> None:
        self.app = app
        self.entity = entity
        self.table = table
        self.guard = guard
        self.visible = visible

    def column(self, name: str) -> ColumnElement[Any]:
        col = self.table.c[name]
        return col if self.visible is None else sa.case((self.visible, col))

    def link(self, name: str, target: str) -> LinkSource:
        return LinkSource(self.app, target, self.column(name), self.guard)

    def children(self, name: str, target: str) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
        return rows_of(self, self.app, self.entity, name, target, self.column("id"), self.guard)

    def unguarded(self) -> TableSource:
        return TableSource(self.app, self.entity, self.table)


def rows_of(owner: Any, app: CompiledApp, entity: str, name: str, target: str, owner_id: ColumnElement[Any],
            guard: Guard | None = None, owner_visible: Any = None) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
    """The rows of table or related field ``name`` of ``owner`` (for aggregates).

    Child-table rows belong to their owner (``owner_id`` is null when the owner is hidden). With a
    ``guard``, related rows are those of the definition's ``where`` (evaluated with the definition's
    authority) that the user may read, of an owner the user may read (``owner_visible``)."""
    cf = app.entities[entity].fields[name]
    if cf.related_where is not None:
        table = app.entities[target].table
        assert table is not None
        alias = table.alias()
        parent = owner.unguarded() if guard is not None else owner
        cond = cf.related_where.to_sql(TableSource(app, target, alias), roots={"parent": parent}, where=True)
        if guard is None:
            return TableSource(app, target, alias), alias, cond
        readable = guard.rows(target, alias)
        extra = [c for c in (readable, owner_visible) if c is not None]
        return TableSource(app, target, alias, guard, readable), alias, sa.and_(cond, *extra) if extra else cond
    assert cf.child_table is not None
    alias = cf.child_table.alias()
    belongs = alias.c.parent_id == owner_id
    return TableSource(app, target, alias, guard, belongs if guard is not None else None), alias, belongs


class RecordSource:
    """Fields of one in-memory record in SQL: bound to its values, or (without a record) as parameters
    ``owner_<field>`` so that a statement built over it is compiled once and run for any record.
    Used by rules (the definition's authority): nothing is guarded."""

    def __init__(self, app: CompiledApp, entity: str, record: Mapping[str, Any] | None = None) -> None:
        self.app = app
        self.entity = entity
        self.record = record
        self.used: set[str] = set()

    def column(self, name: str) -> ColumnElement[Any]:
        if self.record is not None:
            value = self.record.get(name)
            return sa.null() if value is None else sa.literal(value)
        self.used.add(name)
        table = self.app.entities[self.entity].table
        assert table is not None
        return sa.bindparam(f"owner_{name}", type_=table.c[name].type)

    def link(self, name: str, target: str) -> LinkSource:
        return LinkSource(self.app, target, self.column(name))

    def children(self, name: str, target: str) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
        return rows_of(self, self.app, self.entity, name, target, self.column("id"))

    def unguarded(self) -> RecordSource:
        return self


class LinkSource:
    """Fields of the ``entity`` record whose id is ``id_expr`` (correlated scalar subqueries).

    With a ``guard``, every field of a record the user may not read is null (its id included)."""

    def __init__(self, app: CompiledApp, entity: str, id_expr: ColumnElement[Any], guard: Guard | None = None) -> None:
        self.app = app
        self.entity = entity
        self.id_expr = id_expr
        self.guard = guard

    def _table(self) -> FromClause:
        table = self.app.entities[self.entity].table
        assert table is not None
        return table.alias()

    def column(self, name: str) -> ColumnElement[Any]:
        t = self._table()
        visible = self.guard.rows(self.entity, t) if self.guard is not None else None
        if name == "id" and visible is None:
            return self.id_expr
        q = sa.select(t.c[name]).where(t.c.id == self.id_expr)
        if visible is not None:
            q = q.where(visible)
        return q.correlate_except(t).scalar_subquery()

    def link(self, name: str, target: str) -> LinkSource:
        return LinkSource(self.app, target, self.column(name), self.guard)

    def children(self, name: str, target: str) -> tuple[TableSource, FromClause, ColumnElement[bool]]:
        owner_id = self.column("id")
        visible = None if owner_id is self.id_expr else owner_id.is_not(None)
        return rows_of(self, self.app, self.entity, name, target, owner_id, self.guard, visible)

    def unguarded(self) -> LinkSource:
        return LinkSource(self.app, self.entity, self.id_expr)


_CHEAP_OPS = frozenset({"==", "!=", "<", "<=", ">", ">=", "and", "or", "in", "not in"})


def conjuncts(node: ast.Node) -> list[ast.Node]:
    """The parts of ``a and b and c`` (any other condition is one part)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Binary) and n.op == "and":
            stack += [n.right, n.left]
        else:
            out.append(n)
    return out


def is_cheap(node: ast.Node) -> bool:
    """Whether a condition only compares the record's own fields with constants and parameters: it
    cannot fail and takes the same time whatever the data (and an index may serve it)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Path):
            if n.root is not None or len(n.steps) != 1:
                return False
        elif isinstance(n, ast.Binary):
            if n.op not in _CHEAP_OPS or (n.op in ("in", "not in") and isinstance(n.right, ast.Path)):
                return False
        elif isinstance(n, ast.Unary):
            if n.op != "not":
                return False
        elif isinstance(n, ast.Call):
            if n.name != "is_null" or n.child_entity is not None:
                return False
        elif not isinstance(n, (ast.Literal, ast.Param, ast.ListLit)):
            return False
    return True


def readable_first(allowed: Any, cheap: Sequence[Any], rest: Sequence[Any]) -> list[Any]:
    """WHERE conditions evaluating ``rest`` only on rows passing ``allowed`` (the user's read filter).

    SQL does not fix the order in which AND evaluates: a user's condition evaluated on a row they may
    not read could fail (an error message) or take longer (timing) depending on that row's data. CASE
    fixes the order. ``cheap`` conditions (:func:`is_cheap`) stay outside, where an index serves them."""
    if allowed is None:
        return [*cheap, *rest]
    out = [allowed, *cheap]
    if rest:
        out.append(sa.case((allowed, sa.and_(*rest)), else_=sa.false()))
    return out


@dataclass(frozen=True)
class CompiledFilter:
    compiled: CompiledExpression
    clause: Any  # the whole condition
    cheap: list[Any]  # its parts that may run before the read filter (see is_cheap)
    rest: list[Any]


class FilterCache:
    """Compiled filters by (entity, text, parameter types, guard); bounded, thread-safe.

    A user's filter is compiled with their read guard (links and related rows restricted to what
    they may read); the guard's key is part of the cache key, so a clause compiled for one user is
    reused only for users with the same rules and rule inputs. ``guard=None``: unrestricted (the
    definition's own filters, admins)."""

    def __init__(self, app: CompiledApp, schema: Any, clock: Callable[[], Clock], size: int = 512) -> None:
        self.app = app
        self.schema = schema
        self.clock = clock
        self.size = size
        self._items: OrderedDict[tuple, CompiledFilter] = OrderedDict()
        self._statements: OrderedDict[Hashable, Any] = OrderedDict()  # see statement()
        self._lock = threading.Lock()

    def where(self, entity: str, text: str, params: Mapping[str, Any],
              guard: Guard | None = None) -> tuple[CompiledExpression, Any]:
        f = self.get(entity, text, params, guard)
        return f.compiled, f.clause

    def key(self, entity: str, text: str | None, params: Mapping[str, Any], guard: Guard | None = None) -> tuple:
        """What a filter compiled for ``text`` with ``params`` by a user with ``guard`` depends on: the
        entity, the text, the parameters' types (not their values) and the guard's key."""
        try:
            ptypes = T.param_types(dict(params)) if params else {}
        except ExpressionError as e:
            raise UsageError(f"invalid filter for {entity}: {e.message}") from None
        return (entity, text, tuple(sorted((k, str(t)) for k, t in ptypes.items())),
                None if guard is None else guard.key)

    def statement(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The statement cached under ``key``, else ``build()`` (cached when it returns; an error is not).

        For statements over a user's filter and row filter (list pages, counts): ``key`` holds what
        :meth:`key` gives, since a user's row filter depends only on their guard's key. A statement
        object executed again keeps its SQLAlchemy cache key, so it is neither built nor compiled again."""
        with self._lock:
            hit = self._statements.get(key)
            if hit is not None:
                self._statements.move_to_end(key)
                return hit
        stmt = build()
        with self._lock:
            self._statements[key] = stmt
            if len(self._statements) > self.size:
                self._statements.popitem(last=False)
        return stmt

    def get(self, entity: str, text: str, params: Mapping[str, Any], guard: Guard | None = None) -> CompiledFilter:
        try:
            ptypes = T.param_types(dict(params))
        except ExpressionError as e:
            raise UsageError(f"invalid filter for {entity}: {e.message}") from None
        key = (entity, text, tuple(sorted((k, str(t)) for k, t in ptypes.items())),
               None if guard is None else guard.key)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        schema = guard.schema if guard is not None and guard.schema is not None else self.schema
        try:
            compiled = compile_expression(text, Scope(schema, entity, params=ptypes), T.BOOLEAN)
        except (ExpressionError, ExpressionErrors) as e:
            raise UsageError(f"invalid filter for {entity}: {e}") from None
        source = TableSource(self.app, entity, self.app.entities[entity].table, guard)
        cheap: list[Any] = []
        rest: list[Any] = []
        bound = frozenset(k for k, t in ptypes.items() if t.kind != "null")  # a null value has type null
        for part in conjuncts(compiled.tree):
            (cheap if is_cheap(part) else rest).append(to_sql(part, source, clock=self.clock, where=True,
                                                              not_null_params=bound))
        parts = [*cheap, *rest]
        f = CompiledFilter(compiled, parts[0] if len(parts) == 1 else sa.and_(*parts), cheap, rest)
        with self._lock:
            self._items[key] = f
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return f


def parse_order_by(table: sa.Table, order_by: str | Sequence[str] | None,
                   hidden: frozenset[str] = frozenset()) -> list[Any]:
    """``"-created_at, name"`` or ``["-amount"]`` -> ORDER BY clauses (always ending with id). A field
    in ``hidden`` (from the acting user) is refused exactly like one that does not exist."""
    if order_by is None:
        items: list[str] = []
    elif isinstance(order_by, str):
        items = [p.strip() for p in order_by.split(",") if p.strip()]
    else:
        items = list(order_by)
    out = []
    for item in items:
        desc = item.startswith("-")
        parts = item.lstrip("-+").split()
        name = parts[0] if parts else ""
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            desc = parts[1].lower() == "desc"
        elif len(parts) > 1:
            raise UsageError(f"invalid order_by item {item!r}: use 'field', '-field' or 'field desc'")
        if name not in table.c or name in hidden:
            raise UsageError(f"cannot order by '{name}': not a stored field of {table.name}")
        out.append(table.c[name].desc() if desc else table.c[name].asc())
    out.append(table.c.id.asc())
    return out
