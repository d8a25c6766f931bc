"""Writing the child rows of one table field (an order's lines) with the statements of its write plan.

Rows given with an ``id`` that are unchanged are not written; changed ones are updated with one
executemany of the columns they change; new ones inserted with one multi-row ``INSERT ... RETURNING`` (a statement per number of
rows); missing ones deleted with one ``IN (...)`` statement (a statement per list size), all run lean. The
rows as stored come back from the database (RETURNING) or from what was there, so the record is never read
again after a write (only when rows were updated in place with a value the database may give back otherwise,
see ``stored_as_given``: one SELECT of them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import held_inserts, lean, unit_of_work
from .compiled import CompiledField
from .stored_as_given import kept
from .write_plan import IN_LIST_MAX, ChildPlan, differs, in_params, in_size

Record = dict[str, Any]


def write(conn: sa.Connection, plan: ChildPlan, cf: CompiledField, parent_id: int, old: list[Record],
          new: list[Record]) -> list[Record]:
    """Make the rows of ``parent_id`` ``new`` (``old``: the rows stored now); return them as stored, in order."""
    assert cf.child is not None
    keep = {r["id"] for r in new if r.get("id") is not None}
    gone = [r["id"] for r in old if r["id"] not in keep]
    for start in range(0, len(gone), IN_LIST_MAX):
        chunk = gone[start:start + IN_LIST_MAX]
        lean.execute(conn, plan.delete_ids(in_size(len(chunk))), in_params(chunk))
    columns = cf.child.stored_names
    before = {r["id"]: r for r in old}
    inserts: list[tuple[Any, ...]] = []  # in plan.columns order
    updates: list[Record] = []
    result: list[Record] = []
    for idx, row in enumerate(new, start=1):
        rid = row.get("id")
        if rid is None:
            inserts.append((parent_id, idx, *[row.get(c) for c in columns]))
            continue
        values = {c: row.get(c) for c in columns}
        values["idx"] = idx
        prior = before[rid]
        if any(prior.get(c) != v for c, v in values.items()):
            updates.append({**values, "_id": rid})
        else:
            result.append(prior)
    if updates:
        lean.execute(conn, plan.update, _changed_columns(plan, before, updates))
    per = plan.rows_per_insert
    for start in range(0, len(inserts), per):
        chunk = inserts[start:start + per]
        stmt, names = plan.insert(len(chunk))
        params: dict[str, Any] = {}
        for keys, values in zip(names, chunk, strict=True):
            params.update(zip(keys, values, strict=True))
        result.extend(_row(stored) for stored in lean.execute(conn, stmt, params))
    if inserts and (uow := unit_of_work.current(conn)) is not None:  # the next row's id (see held_inserts)
        held_inserts.learn(uow, plan.table, max(r["id"] for r in result))
    if updates:
        updates = _given_back(conn, plan, updates, result)
    if updates:  # values as the database keeps them (decimal scale ...): read the updated rows once
        updated = [u["_id"] for u in updates]
        done = set(updated)
        result = [r for r in result if r.get("id") not in done]
        for start in range(0, len(updated), IN_LIST_MAX):
            chunk = updated[start:start + IN_LIST_MAX]
            result.extend(_row(r) for r in lean.execute(conn, plan.by_ids(in_size(len(chunk))), in_params(chunk)))
    result.sort(key=lambda r: r["idx"])
    return result


def _changed_columns(plan: ChildPlan, before: dict[Any, Record], updates: list[Record]) -> list[Record]:
    """The updates' values of only the columns one of them changes (one executemany binds one set: a row
    sets the others to what it holds), or whole (see ``ChildPlan.update_shape``)."""
    changed: set[str] = set()
    for u in updates:
        prior = before[u["_id"]]
        changed.update(c for c, v in u.items() if c != "_id" and differs(prior.get(c), v))
    shape = plan.update_shape(tuple(sorted(changed)))
    if shape is None:
        return updates
    return [{**{c: u[c] for c in shape}, "_id": u["_id"]} for u in updates]


def _given_back(conn: sa.Connection, plan: ChildPlan, updates: list[Record], result: list[Record]) -> list[Record]:
    """The updated rows whose every value the database gives back as it was bound (``stored_as_given``) go
    in ``result`` as written, not read again; the others are returned (to be read)."""
    tests = kept(plan.table, conn.dialect.name)
    names = [c for c in tests if c != "parent_id"]
    rest = []
    for u in updates:
        if all(tests[c](u[c]) for c in names if c != "id"):
            result.append({c: u["_id"] if c == "id" else u[c] for c in names})
        else:
            rest.append(u)
    return rest


def _row(stored: Any) -> Record:
    row = dict(stored._mapping)
    row.pop("parent_id", None)
    return row
