"""The rows a statement run by :mod:`ordo.engine.lean` returns: light tuples (by position, by attribute, as a
mapping) in a :class:`Result`, fetched whole, with the part of SQLAlchemy's result API callers use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa


class Row(tuple):
    """A result row: by position, by attribute (``row.id``) and as a mapping (``row._mapping``)."""

    __slots__ = ()
    _index: dict[str, int] = {}
    _fields: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=False))


class Result:
    """The rows (fetched whole) and row count of a statement run by :func:`execute`."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    fetchall = all

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            if not self._rows:
                raise sa.exc.NoResultFound("No row was found when one was required")
            raise sa.exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> Result:
        return Result([r[0] for r in self._rows], self.rowcount)

    def mappings(self) -> Result:
        return Result([r._mapping for r in self._rows], self.rowcount)
