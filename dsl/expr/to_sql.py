"""Compile a checked expression tree to a SQLAlchemy expression.

The same checked tree the Python compiler reads is turned into SQL so that
filters, reports and rules run inside the database. The compiler does not know
table names: it asks a :class:`SqlSource` for the column of a field, the
source behind a link, and the rows of a child table. The engine decides whether
a link becomes a correlated subquery or a join.

Semantics match :mod:`to_python`: SQL three-valued logic, null-safe ``==``,
division by zero gives null, aggregates over no rows give 0/null as documented.
Values are always bound parameters, never interpolated.

Null-safe equality is written so that indexes serve it on every database:
``IS NOT DISTINCT FROM`` (which PostgreSQL cannot answer from an index) only where
it is needed. ``a == b`` is plain ``=`` when neither side can be null (a literal,
a NOT NULL column of the row itself, a parameter bound to a value), and also when
one side cannot be null and the comparison stands where null counts as false (a
WHERE condition and the ``and`` / ``or`` under it, an ``if`` condition, the row
condition of an aggregate): there ``x = 5`` and ``x IS NOT DISTINCT FROM 5``
select the same rows. ``x == null`` is ``x IS NULL``. Where null counts as false and one side is a bound
value that may be null (``customer == parent.customer`` in a related field's ``where``) it is a
:class:`NullSafeEq`, which :func:`nullsafe_bound` turns into ``x = :v`` or ``x IS NULL`` for the values
at hand (PostgreSQL: an index serves it, also in a prepared statement's generic plan).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import ColumnElement, FromClause

from . import ast
from .pyruntime import Clock
from .sql_constructs import (
    DateAdd,
    DateDiff,
    DatePart,
    Distance,
    Extreme,
    Rounding,
    RoundTo,
    SafeDiv,
    SafeMod,
    SqrtOrNull,
    StrCat,
    StrContains,
    StrReplace,
    ToDate,
    ToInt32,
)
from .sql_nullsafe import NullSafeEq
from .sqltypes import sa_type


class SqlSource(Protocol):
    """Where the fields of one record come from in SQL."""

    def column(self, name: str) -> ColumnElement[Any]: ...

    def link(self, name: str, target: str) -> SqlSource: ...

    def children(self, name: str, target: str) -> tuple[SqlSource, FromClause, ColumnElement[bool]]: ...


class _Compiler:
    def __init__(self, roots: dict[str, Any], clock: Callable[[], Clock], not_null_params: Collection[str] = ()) -> None:
        self.roots = roots
        self.clock = clock
        self.not_null_params = not_null_params  # parameters that will be bound to a value (never null)

    def emit(self, node: ast.Node, src: SqlSource, where: bool = False) -> Any:
        """SQL of ``node``; ``where``: it stands where null counts as false (a WHERE condition)."""
        if where and isinstance(node, ast.Binary):
            if node.op in ("and", "or"):
                parts = (self.emit(node.left, src, True), self.emit(node.right, src, True))
                return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
            if node.op in ("==", "!="):
                return self._equality(node, src, where=True)
        return getattr(self, "e_" + type(node).__name__)(node, src)

    def _not_null(self, node: ast.Node, sql: Any, src: SqlSource) -> bool:
        """Whether ``node`` (compiled to ``sql``) can never be null."""
        if isinstance(node, ast.Literal):
            return node.value is not None
        if isinstance(node, ast.Param):
            return node.name in self.not_null_params
        if not isinstance(node, ast.Path) or not isinstance(sql, sa.Column) or sql.nullable:
            return False
        table = sql.table
        if not (isinstance(table, sa.Table) or (isinstance(table, sa.Alias) and isinstance(table.element, sa.Table))):
            return False
        steps, owner = node.steps, src
        if node.root is not None:
            if len(steps) == 1:
                return False  # a root value given by the caller
            owner, steps = self.roots[node.root], steps[1:]
        # a field of the row itself; a joined row (a source with a join path) may be missing
        return len(steps) == 1 and not getattr(owner, "path", ())

    def _equality(self, node: ast.Binary, src: SqlSource, where: bool) -> Any:
        left = self.emit(node.left, src)
        right = self.emit(node.right, src)
        eq = node.op == "=="
        for a, b in ((node.left, right), (node.right, left)):
            if isinstance(a, ast.Literal) and a.value is None:
                return b.is_(None) if eq else b.is_not(None)
        left_nn = self._not_null(node.left, left, src)
        right_nn = self._not_null(node.right, right, src)
        if left_nn and right_nn:
            return left == right if eq else left != right
        if eq and where and (left_nn or right_nn):
            return left == right
        if eq and where and (isinstance(right, BindParameter) or isinstance(left, BindParameter)):
            return NullSafeEq(right, left) if isinstance(left, BindParameter) else NullSafeEq(left, right)
        return left.is_not_distinct_from(right) if eq else left.is_distinct_from(right)

    # -- leaves
    def e_Literal(self, node: ast.Literal, src: SqlSource) -> Any:
        v = node.value
        if v is None:
            return sa.null()
        if v is True:
            return sa.true()
        if v is False:
            return sa.false()
        return sa.literal(v, sa_type(node.type))

    def e_ListLit(self, node: ast.ListLit, src: SqlSource) -> Any:
        raise AssertionError("list literals only appear on the right of 'in'")

    def e_Param(self, node: ast.Param, src: SqlSource) -> Any:
        t = node.type
        if t is not None and t.kind == "null":  # typed from a None value: it is always null
            return sa.null()
        if t is not None and t.kind == "list":
            item = t.arg if isinstance(t.arg, type(t)) else None
            return sa.bindparam(node.name, expanding=True, type_=sa_type(item))
        return sa.bindparam(node.name, type_=sa_type(t))

    def e_Path(self, node: ast.Path, src: SqlSource) -> Any:
        steps = node.steps
        if node.root is not None:
            root = self.roots[node.root]
            if len(steps) == 1:
                return root
            src, steps = root, steps[1:]
        for step in steps[:-1]:
            src = src.link(step.name, step.target or "")
        return src.column(steps[-1].name)

    def _source_of_table(self, node: ast.Path, src: SqlSource) -> tuple[SqlSource, str]:
        steps = node.steps
        if node.root is not None:
            src, steps = self.roots[node.root], steps[1:]
        for step in steps[:-1]:
            src = src.link(step.name, step.target or "")
        return src, steps[-1].name

    # -- operators
    def e_Unary(self, node: ast.Unary, src: SqlSource) -> Any:
        x = self.emit(node.operand, src)
        return sa.not_(x) if node.op == "not" else -x

    def e_Binary(self, node: ast.Binary, src: SqlSource) -> Any:
        op = node.op
        if op in ("in", "not in"):
            expr = self._in(node, src)
            return sa.not_(expr) if op == "not in" else expr
        if op == "+" and node.type is not None and node.type.kind == "string":
            return StrCat(*[self.emit(p, src) for p in ast.string_sum(node)], null_as_empty=False)
        if op in ("==", "!="):
            return self._equality(node, src, where=False)
        left = self.emit(node.left, src)
        right = self.emit(node.right, src)
        if op == "and":
            return sa.and_(left, right)
        if op == "or":
            return sa.or_(left, right)
        if op in ("<", "<=", ">", ">="):
            return left.operate(_CMP[op], right)
        lt, rt = node.left.type, node.right.type
        if op == "/":
            return SafeDiv(left, right)
        if op == "%":
            return SafeMod(left, right)
        if lt is not None and lt.kind in ("date", "datetime"):
            if rt is not None and rt.kind == lt.kind and op == "-":
                return DateDiff(left, right, whole_days=lt.kind == "date")
            return DateAdd(left, right if op == "+" else -right, is_datetime=lt.kind == "datetime")
        return left.operate(_ARITH[op], right)

    def _in(self, node: ast.Binary, src: SqlSource) -> Any:
        left = self.emit(node.left, src)
        right = node.right
        if isinstance(right, ast.ListLit):
            if not right.items:
                return sa.false()
            return left.in_([self.emit(i, src) for i in right.items])
        return left.in_(self.emit(right, src))

    # -- calls
    def e_Call(self, node: ast.Call, src: SqlSource) -> Any:
        if node.child_entity is not None:
            return self._aggregate(node, src)
        name = node.name
        if name == "if":  # CASE WHEN takes a null condition as false
            cond, then, else_ = (self.emit(a, src, where=i == 0) for i, a in enumerate(node.args))
            return sa.case((cond, then), else_=else_)
        args = [self.emit(a, src) for a in node.args]
        if name == "coalesce":
            return sa.func.coalesce(*args) if len(args) > 1 else args[0]
        if name == "is_null":
            return args[0].is_(None)
        if name == "is_blank":
            return sa.func.coalesce(args[0], "") == ""
        if name == "today":
            return sa.bindparam("today", callable_=lambda: self.clock().today(), type_=sa.Date(), unique=True)
        if name == "now":
            return sa.bindparam("now", callable_=lambda: self.clock().now(), type_=sa.DateTime(), unique=True)
        if name in ("min", "max"):
            return args[0] if len(args) == 1 else Extreme(name, *args, type_=sa_type(node.type))
        if name == "concat":
            return StrCat(*args, null_as_empty=True)
        if name == "replace":
            return sa.func.replace(*args) if not ast.grows(node) else StrReplace(*args)
        if name == "contains":
            return StrContains(*args)
        if name == "starts_with":
            return sa.func.substr(args[0], 1, sa.func.length(args[1])) == args[1]
        if name == "ends_with":
            s, p = args
            return sa.func.substr(s, sa.func.length(s) - sa.func.length(p) + 1) == p
        if name in ("year", "month", "day"):
            return DatePart(name, args[0])
        if name == "days_between":
            return DateDiff(args[1], args[0], whole_days=True)
        if name == "add_days":
            return DateAdd(args[0], args[1], is_datetime=False)
        if name == "date":
            return ToDate(args[0])
        if name == "decide":
            from .decide import sql_call

            return sql_call(node, src, self.roots, self.clock)
        if name == "changed":  # the checker allows it only where a write is checked, which runs in Python
            from ..errors import ExpressionError

            raise ExpressionError("changed() describes a write and cannot run in SQL")
        if name in ("floor", "ceil"):
            return Rounding(name, args[0])
        if name == "sqrt":
            return SqrtOrNull(args[0])
        if name == "distance":
            return Distance(*args)
        if name == "round":
            return RoundTo(args[0], args[1] if len(args) > 1 else sa.literal(0))
        if name == "substr":  # as Python slices: start before 1 counts from 1, a negative length is 0
            return sa.func.substr(args[0], *[ToInt32(a, low) for a, low in zip(args[1:], (1, 0), strict=False)])
        return getattr(sa.func, _SQL_NAMES[name])(*args)

    def _aggregate(self, node: ast.Call, src: SqlSource) -> Any:
        path = node.args[0]
        assert isinstance(path, ast.Path)
        owner, field = self._source_of_table(path, src)
        name = node.name
        if name == "count" and len(node.args) == 1 and hasattr(owner, "grouped_count"):
            grouped = owner.grouped_count(field, node.child_entity or "")  # a join to pre-grouped counts
            if grouped is not None:
                return grouped
        child, from_, cond = owner.children(field, node.child_entity or "")

        def rows(*columns: Any) -> Any:  # correlated to whatever encloses it, however deep
            return sa.select(*columns).select_from(from_).correlate_except(from_)

        if name == "count" and len(node.args) == 1:
            return rows(sa.func.count()).where(cond).scalar_subquery()
        # count/any/all take their row condition as a WHERE does (null: not counted)
        value = self.emit(node.args[1], child, where=name in ("count", "any", "all"))
        if name == "count":
            return rows(sa.func.count()).where(cond, value).scalar_subquery()
        if name == "any":
            return sa.exists(rows(sa.literal(1)).where(cond, value))
        if name == "all":
            bad = sa.not_(sa.func.coalesce(value, sa.false()))
            return sa.not_(sa.exists(rows(sa.literal(1)).where(cond, bad)))
        agg = getattr(sa.func, name)(value)
        sub = rows(agg).where(cond).scalar_subquery()
        if name == "sum":
            return sa.func.coalesce(sub, 0)
        return sub


_CMP = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_SQL_NAMES = {
    "len": "length",
    "lower": "lower",
    "upper": "upper",
    "trim": "trim",
    "abs": "abs",
}

SQL_FUNCTIONS = set(_SQL_NAMES) | {
    "if", "coalesce", "is_null", "is_blank", "today", "now", "min", "max", "concat", "contains",
    "starts_with", "ends_with", "year", "month", "day", "days_between", "add_days", "date", "floor",
    "ceil", "round", "substr", "distance", "sqrt", "changed", "replace", "decide",
}


def to_sql(
    node: ast.Node,
    source: SqlSource | None,
    roots: dict[str, Any] | None = None,
    clock: Callable[[], Clock] | None = None,
    *,
    where: bool = False,
    not_null_params: Collection[str] = (),
) -> Any:
    """Compile a checked tree to a SQLAlchemy expression over ``source``.

    ``where``: the expression is a condition where null counts as false (WHERE, a CASE condition),
    which lets equality against a non-null value be a plain ``=`` that an index serves.
    ``not_null_params``: parameters that the statement is always run with bound to a value (a
    statement compiled for given values), never null."""
    compiler = _Compiler(roots or {}, clock or Clock, not_null_params)
    return compiler.emit(node, source, where)  # type: ignore[arg-type]
