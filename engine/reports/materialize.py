"""Materialize a report: write its result rows into records of an entity.

The report runs as usual (one SQL statement: every figure is aggregated by the
database); each result row then becomes one record of the ``into`` entity,
matched by the ``key`` columns among the records the report owns (those meeting
``where``): new keys are created, changed rows updated (unchanged ones are left
alone, so versions and the audit log only move when a figure moved), and with
``stale: delete`` owned records whose key disappeared are deleted. Every write
goes through the record pipeline (validation, naming, computed fields, audit,
write listeners such as flow triggers) in the caller's transaction: a refused
row refuses the whole refresh.

Refreshes also run on a schedule (``every``/``at``): one pending job per report
(unique key ``report-materialize:NAME``), like alerts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..actor import SYSTEM
from ..errors import FieldError, UsageError, ValidationFailed
from ..jobs import ensure_scheduled
from ..records import Transaction
from .alerts import next_run
from .run import run

if TYPE_CHECKING:
    from . import Reports

log = logging.getLogger("ordo.reports")
JOB_KIND = "report-materialize"
KEY_PREFIX = "report-materialize:"


@dataclass
class MaterializeResult:
    report: str
    entity: str
    rows: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"report {self.report} -> {self.entity}: {self.rows} row(s); {len(self.created)} created, "
                f"{len(self.updated)} updated, {self.unchanged} unchanged, {len(self.deleted)} deleted")

    def to_dict(self) -> dict[str, Any]:
        return {"report": self.report, "entity": self.entity, "rows": self.rows, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted}


def _normalize(f: Any, v: Any) -> Any:
    """A result value in the stored form of target field ``f`` (decimals at the field's scale)."""
    if v is None:
        return None
    t = f.type
    if t in ("decimal", "money") and isinstance(v, (Decimal, int, float)):
        scale = f.scale if f.scale is not None else (2 if t == "money" else 10)
        return Decimal(str(v)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if t == "integer" and isinstance(v, Decimal) and v == v.to_integral_value():
        return int(v)
    if t == "date" and isinstance(v, dt.datetime):
        return v.date()
    return v


def _resolve_links(tx: Transaction, target: Any, mapping: Mapping[str, str], rows: list[dict[str, Any]]) -> None:
    """Link fields receive names from the report (a link dimension shows the name): turn them into ids,
    one query per linked entity."""
    for fname, col in mapping.items():
        f = target.fields[fname]
        if f.type != "link":
            continue
        names = {r[col] for r in rows if isinstance(r.get(col), str)}
        if not names:
            continue
        table = tx.app.compiled.entity(f.entity).table
        found: dict[str, int] = {}
        ordered = sorted(names)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i:i + 500]
            found.update({n: i_ for i_, n in tx.conn.execute(
                sa.select(table.c.id, table.c.name).where(table.c.name.in_(chunk)))})
        missing = sorted(names - set(found))
        if missing:
            raise UsageError(f"cannot write '{fname}': no {f.entity} named '{missing[0]}'")
        for r in rows:
            if isinstance(r.get(col), str):
                r[col] = found[r[col]]


def materialize(reports: Reports, tx: Transaction, name: str,
                params: Mapping[str, Any] | None = None) -> MaterializeResult:
    """Run report ``name`` and upsert its rows into its ``materialize.into`` entity (as ``tx.user``)."""
    r = reports.get(name)
    m = r.defn.materialize
    if m is None:
        raise UsageError(f"report {name} has no 'materialize' section (nothing to write into)")
    result = run(r, tx, params)
    target = tx.app.definition.get("entity", m.into)
    mapping = m.mapping([c.name for c in result.columns], target.fields)
    rows = [dict(row) for row in result.rows]
    _resolve_links(tx, target, mapping, rows)
    key_fields = [next(f for f, c in mapping.items() if c == k) for k in m.key]
    out = MaterializeResult(name, m.into, rows=len(rows))

    def key_of(values: Mapping[str, Any]) -> tuple:
        return tuple(_normalize(target.fields[f], values.get(f)) for f in key_fields)

    owned: dict[tuple, dict[str, Any]] = {}
    for rec in tx.query(m.into, m.where, limit=None):
        owned.setdefault(key_of(rec), rec)
    seen: set[tuple] = set()
    for row in rows:
        values = {f: _normalize(target.fields[f], row.get(c)) for f, c in mapping.items()}
        key = key_of(values)
        if key in seen:
            raise UsageError(f"report {name}: two result rows have the key {_show(m.key, key)}; the key columns "
                             f"must identify a row ({', '.join(m.key)})")
        seen.add(key)
        current = owned.get(key)
        try:
            if current is None:
                out.created.append(tx.create(m.into, values)["name"])
                continue
            changes = {f: v for f, v in values.items() if _normalize(target.fields[f], current.get(f)) != v}
            if changes:
                out.updated.append(tx.update(m.into, current["id"], changes)["name"])
            else:
                out.unchanged += 1
        except ValidationFailed as e:
            raise ValidationFailed(m.into, [FieldError(f"{_show(m.key, key)}.{err.field}".rstrip("."), err.message)
                                            for err in e.errors]) from None
    if m.stale == "delete":
        for key, rec in owned.items():
            if key not in seen:
                tx.delete(m.into, rec["id"])
                out.deleted.append(rec["name"])
    return out


def _show(names: list[str], key: tuple) -> str:
    return "(" + ", ".join(f"{n}={v}" for n, v in zip(names, key, strict=True)) + ")"


def ensure_schedules(reports: Reports) -> None:
    """Create the missing refresh jobs; cancel those of reports whose schedule was removed (idempotent)."""
    with reports.app.transaction(SYSTEM) as tx:
        ensure_scheduled(tx, KEY_PREFIX, {
            f"{KEY_PREFIX}{n}": (JOB_KIND, {"report": n}, next_run(r.defn.materialize, tx.now))
            for n, r in reports.compiled.items()
            if r.defn.materialize is not None and r.defn.materialize.every is not None})


def handle(reports: Reports, tx: Transaction, payload: dict[str, Any]) -> None:
    """The job: refresh the materialization, then schedule the next refresh."""
    name = payload.get("report", "")
    r = reports.compiled.get(name)
    m = r.defn.materialize if r is not None else None
    if m is None or m.every is None:
        log.info("materialized report %s is no longer scheduled", name)
        return
    runner = Transaction(tx.app, tx.conn, tx.users.actor(m.run_as)) if m.run_as else tx
    result = materialize(reports, runner, name, m.params)
    log.info("%s", result.summary())
    tx.enqueue(JOB_KIND, {"report": name}, next_run(m, tx.now), unique_key=f"{KEY_PREFIX}{name}")
