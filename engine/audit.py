"""The audit log: who changed what, when, with each field's before and after value."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from . import unit_of_work
from .coerce import to_jsonable
from .query import TableSource
from .tables import SYSTEM_METADATA, id_column

if TYPE_CHECKING:
    from .records import Transaction

audit_table = sa.Table(
    "ordo_audit",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("user_name", sa.String(140), nullable=False),
    sa.Column("entity", sa.String(140), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("record_name", sa.String(140)),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Index("ix_ordo_audit_record", "entity", "record_id"),
    sa.Index("ix_ordo_audit_at", "at"),
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    user: str
    entity: str
    record_id: int
    record_name: str | None
    action: str
    changes: dict[str, Any]  # field -> [before, after]


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None, fields: list[str]) -> dict[str, list]:
    """Field -> [before, after] for every field whose value differs."""
    out: dict[str, list] = {}
    if before is None and after is not None:  # a create: every value given (no conversion of a plain one)
        for f, y in zip(fields, map(after.get, fields), strict=True):
            if y is not None:
                out[f] = [None, y if type(y) in _AS_IS else to_jsonable(y)]
        return out
    before, after = before or {}, after or {}
    for f in fields:
        x, y = before.get(f), after.get(f)
        if x is y:
            continue
        kind = type(x)
        if kind is type(y):
            if kind in _PLAIN and x == y:  # unchanged (no conversion needed)
                continue
            if kind is Decimal:  # its JSON form is its text (1.0 and 1.00 differ)
                a, b = str(x), str(y)
                if a != b:
                    out[f] = [a, b]
                continue
        a, b = to_jsonable(x), to_jsonable(y)
        if a != b:
            out[f] = [a, b]
    return out


_PLAIN = frozenset({str, int, float, bool, dt.date, dt.datetime})  # equal values have equal JSON forms
_AS_IS = frozenset({str, int, float, bool})  # their own JSON form (coerce.to_jsonable returns them as they are)


DEFINITIONS = "ordo_definitions"  # the entity of the entries of publishes and rollbacks (record_id: version)
INSERT = sa.insert(audit_table)  # built once; rows are written in one executemany (see unit_of_work)


def write(conn: sa.Connection, *, at: dt.datetime, user: str, entity: str, record_id: int, record_name: str | None,
          action: str, changes: dict[str, Any]) -> None:
    """Log a change: buffered in the transaction's unit of work, written with the others before it commits."""
    unit_of_work.buffer(conn, INSERT, dict(
        at=at, user_name=user, entity=entity, record_id=record_id, record_name=record_name, action=action,
        changes=dumps(changes),
    ))


# what json.dumps(sort_keys=True, default=str) makes of it (dates and datetimes by str too), compact; C speed
_ORJSON = (orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
           | orjson.OPT_PASSTHROUGH_DATACLASS)


def dumps(changes: dict[str, Any]) -> str:
    """The JSON text of an entry's changes (keys sorted). orjson; what it refuses (a key that is not text, an
    integer past 64 bits, a lone surrogate) goes through ``json`` as before."""
    try:
        return orjson.dumps(changes, default=str, option=_ORJSON).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(changes, ensure_ascii=False, sort_keys=True, default=str)


def visible_to(tx: Transaction) -> Any:
    """The audit entries ``tx.user`` may see, as a SQL condition (None: all of them).

    Entries of entities the user may read entirely are shown; an entry of an entity they may read
    only in part is shown while its record passes their read filter now (entries of its deleted
    records are hidden from them); entries of entities they may not read, or that no longer exist,
    are hidden."""
    perms = tx.app.permissions
    restricted = perms.restricted(tx.user)
    t = audit_table
    if not restricted:  # publishes of the app's definitions (engine/definitions) only for designers
        return None if perms.may(tx.user, "designer") else t.c.entity != DEFINITIONS
    full = [e for e in tx.app.compiled.entities if e not in restricted]
    shown = [t.c.entity.in_(full)] if full else []
    for entity in restricted:
        ce = tx.app.compiled.entities.get(entity)
        if ce is None or ce.table is None or perms.rules(tx.user, entity, "read") == []:
            continue
        rows = ce.table.alias()
        allowed = tx.row_filter(entity, TableSource(tx.app.compiled, entity, rows))
        shown.append(sa.and_(t.c.entity == entity, t.c.record_id.in_(sa.select(rows.c.id).where(allowed))))
    if perms.may(tx.user, "designer"):
        shown.append(t.c.entity == DEFINITIONS)
    return sa.or_(*shown) if shown else sa.false()


def without_hidden(tx: Transaction, entries: list[AuditEntry]) -> list[AuditEntry]:
    """``entries`` without the changes of fields hidden from ``tx.user`` (see permissions)."""
    perms = tx.app.permissions
    out = []
    for e in entries:
        hidden = perms.hidden(tx.user, e.entity)
        out.append(dataclasses.replace(e, changes={f: v for f, v in e.changes.items() if f not in hidden})
                   if hidden and hidden & e.changes.keys() else e)
    return out


def read(conn: sa.Connection, *, entity: str | None = None, record_id: int | None = None, user: str | None = None,
         action: str | None = None, since: dt.datetime | None = None, limit: int = 100,
         offset: int = 0, visible: Any = None) -> list[AuditEntry]:
    """Entries newest first; ``visible`` (see :func:`visible_to`) restricts them before paging."""
    unit_of_work.flush(conn)  # the entries this transaction made so far are read too
    t = audit_table
    q = sa.select(t).order_by(t.c.id.desc()).limit(limit).offset(offset)
    if visible is not None:
        q = q.where(visible)
    for col, value in ((t.c.entity, entity), (t.c.record_id, record_id), (t.c.user_name, user), (t.c.action, action)):
        if value is not None:
            q = q.where(col == value)
    if since is not None:
        q = q.where(t.c.at >= since)
    return [AuditEntry(r.id, r.at, r.user_name, r.entity, r.record_id, r.record_name, r.action, json.loads(r.changes))
            for r in conn.execute(q)]
