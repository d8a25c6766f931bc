"""What an ``action`` node does to records other than its own.

* ``create`` with ``for_each``: one record per row (or per group of rows) of a
  table or related field of the flow's record, with child rows built from the
  rows of the group;
* ``update``: change the records of an entity found by a filter (run in SQL),
  with expressions over each record and the flow's record (``record``);
* ``allocate`` in mode ``allocate``, ``release`` or ``consume`` (optionally only
  the allocation records matching a filter).

Everything runs on the caller's transaction with the flow's authority (``Run.authority``), so it
commits with the step. The statements reading rows (a filter's matches, a related field's rows) are built
once per filter / related field and run with :mod:`ordo.engine.lean`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ordo.dsl.expr import ast

from .. import lean
from ..coerce import to_jsonable
from ..query import RecordSource, TableSource
from .people import FlowFailed

if TYPE_CHECKING:
    from .compile import CNode
    from .runner import Run


def _rows(run: Run, name: str) -> list[dict[str, Any]]:
    """The rows of table or related field ``name`` of the flow's record, oldest first."""
    app = run.tx.app
    cf = app.compiled.entity(run.inst.entity).fields[name]
    if cf.related_where is None:
        return [dict(r) for r in run.record.get(name) or []]
    target = app.compiled.entity(cf.defn.entity)
    stmt, used, link = _rows_statement(run, name, cf)
    rows = None
    if link is not None and not target.table_fields:  # rows a writer of this transaction told (the allocation)
        rows = run.tx.uow.known_rows((target.name, link, run.record.get("id")))
    if rows is None:
        params = {f"owner_{field}": run.record.get(field) for field in used}
        rows = [dict(r._mapping) for r in lean.execute(run.conn, stmt, params)]
        run.tx._attach_children(target, rows)
    return rows


def _rows_statement(run: Run, name: str, cf: Any) -> tuple[Any, list[str], str | None]:
    """``SELECT * WHERE <related where> ORDER BY id`` of a related field, the flow record's fields
    (``owner_<field>``) as parameters: built once per related field, run for any instance; and the link
    field of a related field that is exactly the records linking here (``<link> == parent.id``)."""
    key = (run.inst.entity, name)
    found = run.rt.related_rows.get(key)
    if found is not None and found[0] is cf:
        return found[1], found[2], found[3]
    app = run.tx.app
    target = app.compiled.entity(cf.defn.entity)
    assert target.table is not None
    alias = target.table.alias()
    source = RecordSource(app.compiled, run.inst.entity)
    cond = cf.related_where.to_sql(TableSource(app.compiled, target.name, alias), roots={"parent": source})
    stmt = sa.select(alias).where(cond).order_by(alias.c.id)
    used = sorted(source.used)
    link = _linking(cf.related_where.tree)
    run.rt.related_rows[key] = (cf, stmt, used, link)
    return stmt, used, link


def _equal_paths(tree: ast.Node) -> list[tuple[str | None, list[str]]] | None:
    """The two sides of a filter that is exactly ``<path> == <path>``, as (root, field names), else None."""
    if not isinstance(tree, ast.Binary) or tree.op != "==":
        return None
    if not isinstance(tree.left, ast.Path) or not isinstance(tree.right, ast.Path):
        return None
    return [(side.root, [s.name for s in side.steps if s.kind != "root"]) for side in (tree.left, tree.right)]


def _linking(tree: ast.Node) -> str | None:
    """The field of a related field's filter that is exactly ``<field> == parent.id`` (either way round)."""
    sides = _equal_paths(tree)
    if sides is None or any(len(fields) != 1 for _, fields in sides):
        return None
    other = [(root, fields[0]) for root, fields in sides if (root, fields) != ("parent", ["id"])]
    return other[0][1] if len(other) == 1 and other[0][0] is None else None


def _key(value: Any) -> Any:
    return repr(to_jsonable(value))


def create_each(run: Run, node: CNode, i: int) -> list[dict[str, Any]]:
    """``create`` with ``for_each``: one record per group of rows."""
    spec = node.defn.create[i]
    env, who = run.tx.env, run.inst.started_by
    ex = node.exprs
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in _rows(run, spec.for_each):
        if spec.where and ex[f"create.{i}.where"](run.record, env, who, row) is not True:
            continue
        key = _key(ex[f"create.{i}.group_by"](run.record, env, who, row)) if spec.group_by else len(groups)
        groups.setdefault(key, []).append(row)
    created = []
    for rows in groups.values():
        first = rows[0]
        values = {f: ex[f"create.{i}.{f}"](run.record, env, who, first) for f in spec.values}
        if spec.rows is not None:
            values[spec.rows.field] = [
                {f: ex[f"create.{i}.rows.{f}"](run.record, env, who, row) for f in spec.rows.values}
                for row in rows]
        with run.authority() as w:
            created.append(w.create(spec.entity, values))
    return created


def _matching(run: Run, entity: str, cond: Any) -> list[int]:
    if entity == run.inst.entity and _is_own_record(cond.tree):
        return [run.inst.record_id]  # ``id == record.id``: the flow's record (the caller skips a missing one)
    stmt, used = _matching_statement(run, entity, cond)
    record = run.record
    params = {f"owner_{name}": record.get(name) for name in used}
    params["flow_initiator"] = run.inst.started_by
    return [r[0] for r in lean.execute(run.conn, stmt, params)]


def _matching_statement(run: Run, entity: str, cond: Any) -> tuple[Any, list[str]]:
    """``SELECT id WHERE <cond> ORDER BY id`` with the flow record's fields (``owner_<field>``) and the
    initiator (``flow_initiator``) as parameters: built once per filter, run for any instance. Kept by
    the filter's id while the filter lives: the statement goes with the flow version it belongs to."""
    key = id(cond)
    cache = run.rt.matching
    found = cache.get(key)
    if found is not None and found[0]() is cond:
        return found[1], found[2]
    app = run.tx.app
    t = app.compiled.entity(entity).table
    assert t is not None
    source = RecordSource(app.compiled, run.inst.entity)
    roots = {"initiator": sa.bindparam("flow_initiator", type_=sa.String()), "record": source}
    clause = cond.to_sql(TableSource(app.compiled, entity, t), roots=roots, clock=lambda: app.clock)
    stmt = sa.select(t.c.id).where(clause).order_by(t.c.id)
    used = sorted(source.used)
    def gone(ref: weakref.ref, key: int = key) -> None:
        if cache.get(key, (None,))[0] is ref:
            del cache[key]

    cache[key] = (weakref.ref(cond, gone), stmt, used)
    return stmt, used


def _is_own_record(tree: ast.Node) -> bool:
    """Whether a filter is exactly ``id == record.id`` (either way round)."""
    sides = _equal_paths(tree)
    return sides is not None and sorted(sides, key=repr) == sorted([(None, ["id"]), ("record", ["id"])], key=repr)


def updates_own_record_first(run: Run, node: CNode) -> bool:
    """Whether the first ``update`` of an action is ``id == record.id`` on the flow's own entity: what the
    run set on its record (:mod:`.pending`) is then written by that update, in the same record update,
    instead of by an update of its own just before (nothing else reads the record in between)."""
    if not node.defn.update:
        return False
    found = run.rt.own_first.get(id(node))
    if found is None or found[0] is not node:
        spec = node.defn.update[0]
        own = spec.entity == run.inst.entity and _is_own_record(node.exprs["update.0.where"].tree)
        found = run.rt.own_first[id(node)] = (node, own)
    return found[1]


def update_matching(run: Run, node: CNode, i: int, carry: bool = False) -> list[str]:
    """``update``: change every record of the entity matching the filter; return their names. ``carry``
    (the filter is the flow's own record, see :func:`updates_own_record_first`): the fields the run set on
    its record and has not written yet go in this update (its expressions see the record as set)."""
    spec = node.defn.update[i]
    env, who = run.tx.env, run.inst.started_by
    names = []
    for rid in _matching(run, spec.entity, node.exprs[f"update.{i}.where"]):
        rec = run.tx._fetch(spec.entity, rid, for_update=True)
        if rec is None:
            continue
        kept: dict[str, Any] = {}
        if carry and rid == run.inst.record_id and run._pending:
            kept, run._pending = run._pending, {}  # written below, with the effect's changes
            rec = {**rec, **kept}
        values = {f: node.exprs[f"update.{i}.{f}"](rec, env, who, run.record) for f in spec.set}
        changed = {**kept, **{k: v for k, v in values.items() if rec.get(k) != v}}
        if spec.rows is not None:
            rows = _changed_rows(run, node, i, rec.get(spec.rows.table) or [])
            if rows is not None:
                changed[spec.rows.table] = rows
        if changed:
            with run.authority() as w:
                names.append(w.update(spec.entity, rid, changed)["name"])
        else:  # nothing to write, but flows waiting on it may depend on records that changed
            with run.rt._busy(run.tx):
                run.rt.wake(run.tx, spec.entity, rid)
    return names


def _changed_rows(run: Run, node: CNode, i: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The table rows with ``rows.set`` applied to those matching ``rows.where``; None when nothing changes."""
    spec = node.defn.update[i].rows
    env, who, ex = run.tx.env, run.inst.started_by, node.exprs
    out: list[dict[str, Any]] = []
    changed = False
    for row in rows:
        change: dict[str, Any] = {"id": row["id"]}
        if not spec.where or ex[f"update.{i}.rows.where"](row, env, who, run.record) is True:
            for f in spec.set:
                value = ex[f"update.{i}.rows.{f}"](row, env, who, run.record)
                if row.get(f) != value:
                    change[f], changed = value, True
        out.append(change)  # only the id and what changed: the store keeps the rest of each row
    return out if changed else None


def allocation(run: Run, node: CNode) -> Any:
    """``allocate``: reserve, release or consume through the allocation feature."""
    spec = node.defn.allocation()
    feature = run.tx.app.features.get("allocation")
    if feature is None:
        raise FlowFailed(f"allocation rule '{spec.rule}' cannot run: the allocation feature is not installed")
    demand: Any = run.inst.record_id
    if spec.demand:
        value = run.eval(node, "allocate.demand")
        demand = value.get("id") if isinstance(value, dict) else value
        if demand is None:
            raise FlowFailed(f"flow {run.flow.name}, node {node.name}: the demand of allocation '{spec.rule}' is "
                             "empty")
    with run.authority() as w:
        if spec.mode == "allocate":
            return feature.allocate(w, spec.rule, demand)
        if spec.mode == "release":
            return feature.release(w, spec.rule, demand)
        records = None
        if spec.where:
            entity = feature.rule(spec.rule).defn.result.entity
            reserved = {r["id"] for r in feature.records(w, spec.rule, demand) if r.get(
                feature.rule(spec.rule).defn.result.status) == "reserved"}
            records = [rid for rid in _matching(run, entity, node.exprs["allocate.where"]) if rid in reserved]
        return feature.consume(w, spec.rule, demand, records=records)
