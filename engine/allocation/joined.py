"""Supply fields reached through links, read by one LEFT JOIN per link instead of a subquery per use.

The candidate statement names a supply link's fields many times (``site.region``,
``site.latitude`` twice in a distance, ``site.active`` in the filter...).
Compiled over a plain :class:`~ordo.engine.query.TableSource` each use is a
correlated scalar subquery, run per supply row. Over :class:`JoinedSource` every
link of the supply table is one ``LEFT OUTER JOIN target AS alias ON alias.id =
supply.<link>``: the id is the target's primary key, so the join adds no row and a
null or dangling link reads as null, as the subquery did; the link's own id still
reads as the supply column. Links further on (``site.region.manager``) stay
subqueries, correlated to the joined alias.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement, FromClause

from ..query import TableSource


class _JoinedLink(TableSource):
    """The fields of the record a supply link points at, from its joined alias."""

    def __init__(self, source: TableSource, entity: str, alias: FromClause, id_expr: ColumnElement[Any]) -> None:
        super().__init__(source.app, entity, alias)
        self.id_expr = id_expr

    def column(self, name: str) -> ColumnElement[Any]:
        return self.id_expr if name == "id" else self.table.c[name]


class JoinedSource(TableSource):
    """The supply table with its links joined on first use (unguarded: the rule's authority)."""

    def __init__(self, source: TableSource) -> None:
        super().__init__(source.app, source.entity, source.table)
        self.links: dict[str, _JoinedLink] = {}

    def link(self, name: str, target: str) -> Any:
        found = self.links.get(name)
        if found is None:
            table = self.app.entities[target].table
            assert table is not None
            found = self.links[name] = _JoinedLink(self, target, table.alias(), self.column(name))
        return found

    def from_clause(self) -> FromClause:
        """The supply table outer-joined to every link the compiled expressions used."""
        out: FromClause = self.table
        for link in self.links.values():
            out = out.outerjoin(link.table, link.table.c.id == link.id_expr)
        return out

    def select(self, *columns: Any) -> sa.Select:
        return sa.select(*columns).select_from(self.from_clause())
