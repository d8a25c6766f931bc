"""Null-safe equality with a bound value (``customer == parent.customer`` in a related field's ``where``) and
the statement variants that let an index serve it on PostgreSQL (:func:`nullsafe_bound`)."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import visitors

from .sql_constructs import _Fn


class NullSafeEq(_Fn):
    """``a == b`` (null equals null) standing where null counts as false (a WHERE condition), ``b`` a bound
    value that may be null: ``a IS NOT DISTINCT FROM b`` (SQLite: ``a IS b``, which its indexes serve).
    PostgreSQL answers ``IS NOT DISTINCT FROM`` by reading every row, and a prepared statement's generic
    plan cannot fold the value in: there :func:`nullsafe_bound` gives the statement for the values at hand
    (``a = :b`` for a value, ``a IS NULL`` for null), which an index on ``a`` serves."""

    name = "ordo_nullsafe_eq"
    inherit_cache = True
    type = sa.Boolean()
    _is_implicitly_boolean = True  # a comparison: no ``= 1`` added where SQLite wants a condition


@compiles(NullSafeEq)
def _nullsafe_eq(el, compiler, **kw):
    a, b = list(el.clauses)
    return compiler.process(a.is_not_distinct_from(b), **kw)


# statement -> (keys of the values its NullSafeEq compare with, {which of them are null: the statement})
_BOUND: weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...], dict[tuple[bool, ...], Any]]] = \
    weakref.WeakKeyDictionary()


def nullsafe_bound(stmt: Any, params: Mapping[str, Any]) -> Any:
    """``stmt`` with each :class:`NullSafeEq` as ``a = :b`` (its value in ``params`` given) or ``a IS NULL``
    (null): the same rows, where an index serves. Built once per statement and pattern of nulls."""
    entry = _BOUND.get(stmt)
    if entry is None:
        keys = tuple(sorted({list(el.clauses)[1].key for el in visitors.iterate(stmt) if isinstance(el, NullSafeEq)}))
        entry = _BOUND[stmt] = (keys, {})
    keys, variants = entry
    if not keys:
        return stmt
    nulls = tuple(params.get(k) is None for k in keys)
    found = variants.get(nulls)
    if found is None:
        null_keys = {k for k, null in zip(keys, nulls, strict=True) if null}

        def swap(el: Any) -> Any:
            if isinstance(el, NullSafeEq):
                a, b = list(el.clauses)
                return a.is_(None) if b.key in null_keys else a == b
            return None

        found = variants[nulls] = visitors.replacement_traverse(stmt, {}, swap)
    return found
