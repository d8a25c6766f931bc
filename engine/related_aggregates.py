"""Related aggregates the definition's expressions read (``count(customer_history)``, ``max(policy, x)``):
evaluated in SQL, each statement built once, their values kept by the unit of work.

* One statement per aggregate node, built at first use and kept by the app (``app.related_statements``);
  the owner's fields it reads are parameters (``owner_<field>``).
* The aggregates over the related fields of one owner entity that bind owner values form a *group*, those
  binding none (``max(policy, x)`` over the active policy: the same for every owner) another: when one of
  them is needed for an owner, every aggregate of its group seen so far is computed in the same ``SELECT``
  (``SELECT (agg1), (agg2), ...``) and kept for that owner: an order's risk rules reading the customer's
  earlier orders, the same phone's and the blacklist read them in one statement, the five thresholds of the
  active policy in another (once per transaction). A group has one statement,
  built again only when an aggregate joins or leaves the group (not one per subset of its aggregates not
  known yet, which could be 2^n statements). When some of the group are still kept for the owner (the
  others' tables were written since, or they joined since), only the others are computed: a statement per
  such subset, up to ``MAX_SUBSETS`` per group (past them, the whole group again); an order whose shipments
  were just created counts its shipments, not its customer's earlier orders again.
* A value is kept by the unit of work until a row of a table it reads is written. A related field that
  leaves its owner out (``id != parent.id`` in its ``where``, over the owner's own entity) does not change
  when the owner itself is written: such a value survives the writes of its owner (see
  ``UnitOfWork.changed``).
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ordo.dsl.expr import ast
from ordo.dsl.expr.sql_nullsafe import nullsafe_bound
from ordo.dsl.expr.sqltypes import sa_type
from ordo.dsl.expr.to_sql import to_sql

from . import lean
from .query import RecordSource, conjuncts

Record = dict[str, Any]
_SERIALS = itertools.count(1)  # an aggregate's identity in caches (an id() of a freed node is reused)


@dataclass(eq=False)
class Aggregate:
    """One aggregate node compiled: its scalar SQL, the owner fields it binds, the tables it reads."""

    expr: Any  # a scalar SQL expression (a correlated-free subquery over the related rows)
    used: list[str]  # owner fields bound as owner_<field>
    read: frozenset[str]
    group: Group
    owner_entity: str  # the entity the related field belongs to
    excludes_owner: bool  # the related rows never include the owner itself
    boolean: bool
    serial: int = field(default_factory=lambda: next(_SERIALS))


@dataclass(eq=False)
class Group:
    """The aggregates over the related fields of one entity seen so far (those binding owner values, or those
    binding none), and the one statement computing them all."""

    members: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    built: tuple[Any, list[Aggregate]] | None = None  # (statement, the aggregates of its columns in order)
    size: int = 0
    builds: int = 0  # statements built so far (a test's probe of the bound)
    # serials of some of the members -> (their statement, their aggregates), built with ``built``
    subsets: dict[tuple[int, ...], tuple[Any, list[Aggregate]]] = field(default_factory=dict)

    def add(self, node: Any) -> None:
        self.members.add(node)
        self.built = None

    def statement(self, aggregates: Any) -> tuple[Any, list[Aggregate]]:
        """(the ``SELECT`` of every member, the members' aggregates in its column order)."""
        if self.built is None or len(self.members) != self.size:  # a member joined or was collected
            aggs = sorted((aggregates[n] for n in list(self.members)), key=lambda a: a.serial)
            stmt = sa.select(*[a.expr.label(f"a{i}") for i, a in enumerate(aggs)])
            self.built, self.size = (stmt, aggs), len(aggs)
            self.subsets = {}
            self.builds += 1
        return self.built

    def subset(self, aggs: list[Aggregate]) -> tuple[Any, list[Aggregate]] | None:
        """The ``SELECT`` of some members only (``aggs``, in the group's order; call :meth:`statement` first),
        or None past ``MAX_SUBSETS`` statements."""
        key = tuple([a.serial for a in aggs])
        found = self.subsets.get(key)
        if found is None:
            if len(self.subsets) >= MAX_SUBSETS:
                return None
            found = self.subsets[key] = (sa.select(*[a.expr.label(f"a{i}") for i, a in enumerate(aggs)]), aggs)
        return found


MAX_SUBSETS = 8  # statements of a group's members only (those not kept for the owner), per group


class RelatedAggregates:
    """The app's compiled related aggregates (weak by node: flows compile old versions on demand)."""

    def __init__(self, compiled: Any, clock: Any) -> None:
        self.compiled = compiled
        self.clock = clock
        self.nodes: weakref.WeakKeyDictionary[Any, Aggregate] = weakref.WeakKeyDictionary()
        self.groups: dict[tuple[str, bool], Group] = {}  # (owner entity, binds owner values) -> its aggregates
        self._by_id: dict[int, tuple[Any, Aggregate]] = {}  # id(node) -> (weak reference to it, its aggregate)

    def get(self, node: Any) -> Aggregate:
        hit = self._by_id.get(id(node))
        if hit is not None and hit[0]() is node:  # the common case: a plain dict lookup, no weak key made
            return hit[1]
        agg = self.nodes.get(node)
        if agg is None:
            agg = self._compile(node)
            self.nodes[node] = agg
            agg.group.add(node)
        self._by_id[id(node)] = (weakref.ref(node, self._forget), agg)
        return agg

    def _forget(self, ref: Any) -> None:
        """A node was collected: its entry by id goes (unless the id is already another node's)."""
        for key, (r, _) in list(self._by_id.items()):
            if r is ref:
                del self._by_id[key]

    def _compile(self, node: Any) -> Aggregate:
        path = node.args[0]
        last = path.steps[-1]
        local = ast.Path(path.line, path.column, [last.name])
        local.steps = [last]
        call = ast.Call(node.line, node.column, node.name, [local, *node.args[1:]])
        call.child_entity, call.type = node.child_entity, node.type
        source = RecordSource(self.compiled, last.entity)
        expr = sa.type_coerce(to_sql(call, source, clock=self.clock), sa_type(node.type))
        parts = list(sa.sql.visitors.iterate(sa.select(expr)))
        read = frozenset(t.name for t in parts if isinstance(t, sa.Table))
        # the owner's fields the statement really binds (an aggregate over a whole table binds none: its
        # value is then the same for every owner, and computed once per transaction)
        bound = {b.key for b in parts if isinstance(b, sa.sql.elements.BindParameter)}
        used = sorted(n for n in source.used if f"owner_{n}" in bound)
        group = self.groups.setdefault((last.entity, bool(used)), Group())
        boolean = node.type is not None and node.type.kind == "boolean"
        return Aggregate(expr, used, read, group, last.entity, self._excludes_owner(last), boolean)

    def _excludes_owner(self, step: Any) -> bool:
        """Whether the related field's ``where`` has ``id != parent.id`` as one of its conditions (and ranges
        over the owner's own entity): the owner is never one of its rows."""
        ce = self.compiled.entities.get(step.entity)
        cf = ce.fields.get(step.name) if ce is not None else None
        if cf is None or cf.related_where is None or step.target != step.entity:
            return False
        for part in conjuncts(cf.related_where.tree):
            if isinstance(part, ast.Binary) and part.op == "!=":
                sides = {_plain(part.left), _plain(part.right)}
                if sides == {(None, "id"), ("parent", "id")}:
                    return True
        return False


def evaluate(tx: Any, node: Any, owner: Record) -> Any:
    """The value of aggregate ``node`` for ``owner`` in ``tx``'s transaction (with the other aggregates of
    its group, in one statement)."""
    registry: RelatedAggregates = tx.app.related_statements
    hit = registry._by_id.get(id(node))  # (registry.get's common case, inline: most calls are a kept value)
    agg = hit[1] if hit is not None and hit[0]() is node else registry.get(node)
    uow = tx.uow
    used = agg.used
    key: Any = (agg.serial, tuple(map(owner.get, used)))
    try:
        value = uow.aggregates.get(key, _MISSING)
    except TypeError:  # an owner value that cannot be a key (as _memo_key decides): not kept
        key = None
    else:
        if value is not _MISSING:
            return value
    stmt, aggs = agg.group.statement(registry.nodes)
    if len(aggs) > 1:  # those still kept for the owner are not computed again
        known = uow.aggregates
        wanted = [a for a in aggs if a is agg or (k := _memo_key(a, owner)) is None or k not in known]
        if len(wanted) < len(aggs):
            found = agg.group.subset(wanted)
            if found is not None:
                stmt, aggs = found
    params: dict[str, Any] = {}
    for a in aggs:
        for name in a.used:
            params[f"owner_{name}"] = owner.get(name)
    if tx.conn.dialect.name == "postgresql":  # ``customer == parent.customer``: the variant an index serves
        stmt = nullsafe_bound(stmt, params)
    row = lean.execute(tx.conn, stmt, params).one()
    out = None
    for a, value in zip(aggs, row, strict=True):
        if a.boolean and value is not None:
            value = bool(value)
        if a is agg:
            out = value
        k = _memo_key(a, owner)
        if k is not None:
            excluded = (a.owner_entity, owner.get("id"), a.used.index("id")) if a.excludes_owner and "id" in a.used \
                else None
            uow.remember_aggregate(a.read, k, value, excluded)
    return out


_MISSING = object()


def _memo_key(agg: Aggregate, owner: Record) -> Any:
    used = agg.used
    if not used:
        return (agg.serial, ())
    key = (agg.serial, (owner.get(used[0]),) if len(used) == 1 else tuple([owner.get(name) for name in used]))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _plain(node: ast.Node) -> tuple[str | None, str] | None:
    """(root, field) of a plain one-field path (``id``, ``parent.id``), else None."""
    if not isinstance(node, ast.Path):
        return None
    fields = [s for s in node.steps if s.kind != "root"]
    if len(fields) != 1:
        return None
    return node.root, fields[0].name
