"""Writing the child rows of one table field (an order's lines) with the statements of its write plan.

Rows given with an ``id`` that are unchanged are not written; changed ones are updated with one
executemany; new ones inserted with one multi-row ``INSERT ... RETURNING``; missing ones deleted with one
statement. The rows as stored come back from the database (RETURNING) or from what was there, so the
record is never read again after a write (only when rows were updated in place: one SELECT of them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import lean
from .compiled import CompiledField
from .write_plan import ChildPlan

Record = dict[str, Any]


def write(conn: sa.Connection, plan: ChildPlan, cf: CompiledField, parent_id: int, old: list[Record],
          new: list[Record]) -> list[Record]:
    """Make the rows of ``parent_id`` ``new`` (``old``: the rows stored now); return them as stored, in order."""
    assert cf.child is not None
    keep = {r["id"] for r in new if r.get("id") is not None}
    gone = [r["id"] for r in old if r["id"] not in keep]
    if gone:
        conn.execute(plan.delete_ids, {"ids": gone})
    columns = [f.name for f in cf.child.stored_fields]
    before = {r["id"]: r for r in old}
    inserts: list[Record] = []
    updates: list[Record] = []
    result: list[Record] = []
    for idx, row in enumerate(new, start=1):
        values = {c: row.get(c) for c in columns}
        values["idx"] = idx
        rid = row.get("id")
        if rid is None:
            inserts.append({**values, "parent_id": parent_id})
            continue
        prior = before[rid]
        if any(prior.get(c) != v for c, v in values.items()):
            updates.append({**values, "_id": rid})
        else:
            result.append(prior)
    if updates:
        lean.execute(conn, plan.update, updates)
    if inserts:
        for stored in lean.execute(conn, plan.insert, inserts):  # several rows: SQLAlchemy's insertmanyvalues
            result.append(_row(stored))
    if updates:  # values as the database keeps them (decimal scale ...): read the updated rows once
        result = [r for r in result if r.get("id") not in {u["_id"] for u in updates}]
        result += [_row(r) for r in conn.execute(plan.by_ids, {"ids": [u["_id"] for u in updates]})]
    result.sort(key=lambda r: r["idx"])
    return result


def _row(stored: Any) -> Record:
    row = dict(stored._mapping)
    row.pop("parent_id", None)
    return row
