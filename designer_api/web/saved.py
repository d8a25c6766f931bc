"""Saved views of lists, per user and entity, kept in the database (``ordo_meta``: one entry per user and
entity, so they follow the user from browser to browser). A view is a list's query string (filter rows,
expression, sort, page size), checked again by the list page whenever it is opened."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa

from ordo.engine.schema_sync import meta_table

MAX_VIEWS = 50
MAX_NAME = 80
VIEW_PARAMS = ("f", "o", "v", "q", "sort", "size")


def _key(user: str, entity: str) -> str:
    digest = hashlib.sha256(f"{user}\0{entity}".encode()).hexdigest()[:40]
    return f"web.views:{digest}"


def saved_views(conn: sa.Connection, user: str, entity: str) -> list[dict[str, str]]:
    """The user's saved views of ``entity``: ``[{"name", "query"}]`` in the order they were saved."""
    raw = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == _key(user, entity))).scalar()
    if raw is None:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(data, dict) or data.get("user") != user or data.get("entity") != entity:
        return []
    return [v for v in data.get("views", []) if isinstance(v, dict) and isinstance(v.get("name"), str)
            and isinstance(v.get("query"), str)]


def store(conn: sa.Connection, user: str, entity: str, views: list[dict[str, str]]) -> None:
    key = _key(user, entity)
    value = json.dumps({"user": user, "entity": entity, "views": views}, ensure_ascii=False)
    conn.execute(sa.delete(meta_table).where(meta_table.c.key == key))
    if views:
        conn.execute(sa.insert(meta_table).values(key=key, value=value))


def clean_query(raw: str) -> str:
    """Only the list's own parameters of a query string (nothing else is kept in a view)."""
    pairs = parse_qsl(raw.lstrip("?")[:8000], keep_blank_values=True, max_num_fields=200)
    return urlencode([(k, v) for k, v in pairs if k in VIEW_PARAMS])
