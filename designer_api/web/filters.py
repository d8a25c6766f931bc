"""The list page's filter: builder rows (field / operator / value) and a free expression, turned into one
expression of the language with typed parameters, checked by the engine as the user's own filter.

A value is read by its field's type (a number, a date, an option, a linked record's name or title); a
wrong one is an error at its row, a wrong expression an error at the expression box, never a 500.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ordo.dsl.base import humanize, label_text
from ordo.engine.errors import UsageError
from ordo.engine.present import link_target

from ..access import field_access

if TYPE_CHECKING:
    from ordo.engine.records import Transaction

OPS = ("eq", "ne", "lt", "le", "gt", "ge", "contains", "starts", "empty", "not_empty")
_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
MAX_ROWS = 20
MAX_TEXT = 2000
_TEXT_KINDS = ("string", "text", "enum", "email", "url", "phone")


@dataclass
class Condition:
    field: str
    op: str
    value: str
    error: str | None = None


@dataclass
class Filter:
    rows: list[Condition]
    expression: str
    expression_error: str | None = None
    where: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.expression_error is None and not any(r.error for r in self.rows)

    def query(self) -> list[tuple[str, str]]:
        """The filter as query parameters (for links to other pages, sorting and exports)."""
        out: list[tuple[str, str]] = []
        for r in self.rows:
            out += [("f", r.field), ("o", r.op), ("v", r.value)]
        if self.expression:
            out.append(("q", self.expression))
        return out

    def encoded(self, **extra: Any) -> str:
        return urlencode(self.query() + [(k, str(v)) for k, v in extra.items() if v not in (None, "")])


def filterable(tx: Transaction, entity: str, lang: str) -> list[dict[str, Any]]:
    """The fields a user may filter on: stored, not hidden, not child tables; with their options."""
    ce = tx.app.compiled.entity(entity)
    hidden = tx.app.permissions.hidden(tx.user, entity)
    out = [{"name": "name", "label": _system_label("name", lang), "kind": "string", "options": None}]
    for name, cf in ce.fields.items():
        if name in hidden or not cf.stored or cf.child is not None or cf.defn.type in ("json",):
            continue
        options = None
        if cf.defn.type == "enum":
            options = [(o, o) if isinstance(o, str) else (o.value, label_text(o.label, lang, o.value))
                       for o in cf.defn.options or []]
        out.append({"name": name, "label": label_text(cf.defn.label, lang, humanize(name)), "kind": cf.kind,
                    "type": cf.defn.type, "options": options})
    return out


def _system_label(name: str, lang: str) -> str:
    from ordo.engine.i18n import system_label

    return system_label(name, lang) or name


def parse(tx: Transaction, entity: str, query: Any, lang: str) -> Filter:
    """The filter of the request's ``f``/``o``/``v`` rows and ``q`` expression, checked against what the
    user may read; errors are kept on the filter (``ok`` is False) for the page to show."""
    fields = {f["name"]: f for f in filterable(tx, entity, lang)}
    names, ops, values = query.getlist("f"), query.getlist("o"), query.getlist("v")
    rows = [Condition(f[:100], o[:20], v[:MAX_TEXT]) for f, o, v in zip(names, ops, values, strict=False)
            if f][:MAX_ROWS]
    expression = (query.get("q") or "").strip()[:MAX_TEXT]
    flt = Filter(rows, expression)
    parts: list[str] = []
    ce = tx.app.compiled.entity(entity)
    for i, row in enumerate(rows):
        info = fields.get(row.field)
        if info is None:
            row.error = f"unknown field '{row.field}'"
            continue
        if row.op not in OPS:
            row.error = f"unknown operator '{row.op}'"
            continue
        try:
            part = _condition(tx, ce, info, row, f"w{i}", flt.params)
        except ValueError as e:
            row.error = str(e)
            continue
        parts.append(part)
    if expression:
        parts.append(f"({expression})" if parts else expression)
    if not flt.ok:
        return flt
    where = " and ".join(parts) or None
    if where is not None:
        try:
            tx.where_clause(entity, where, flt.params)
        except UsageError as e:
            if expression:
                flt.expression_error = _first_line(str(e))
            else:
                rows[0].error = _first_line(str(e))
            return flt
    flt.where = where
    return flt


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:500] if text.strip() else text


def _condition(tx: Transaction, ce: Any, info: dict[str, Any], row: Condition, param: str,
               params: dict[str, Any]) -> str:
    name, op, kind = row.field, row.op, info["kind"]
    if op == "empty":
        return f"is_null({name})" if kind not in _TEXT_KINDS and name != "name" else f"is_blank({name})"
    if op == "not_empty":
        return f"not is_null({name})" if kind not in _TEXT_KINDS and name != "name" else f"not is_blank({name})"
    cf = ce.fields.get(name)
    target = link_target(cf) if cf is not None else None
    if target is not None:  # a link: its record's name or title
        params[param] = row.value.strip()
        tf = tx.app.compiled.entities[target].defn.title_field
        title = f"{name}.{tf}" if tf else f"{name}.name"
        if op in ("contains", "starts"):
            fn = "contains" if op == "contains" else "starts_with"
            return f"({fn}({name}.name, :{param}) or {fn}({title}, :{param}))"
        if op in ("eq", "ne"):
            cond = f"({name}.name == :{param} or {title} == :{param})"
            return cond if op == "eq" else f"not coalesce({cond}, false)"
        raise ValueError(f"'{info['label']}' is a link: use is, is not, contains or starts with")
    if op in ("contains", "starts"):
        if kind not in _TEXT_KINDS and name != "name":
            raise ValueError(f"'{info['label']}' is not text: use a comparison")
        params[param] = row.value
        return f"{'contains' if op == 'contains' else 'starts_with'}({name}, :{param})"
    params[param] = typed(info, row.value)
    return f"{name} {_CMP[op]} :{param}"


def typed(info: dict[str, Any], raw: str) -> Any:
    """``raw`` as a value of the field's type; ValueError naming the field when it is not one."""
    kind, label, text = info["kind"], info["label"], raw.strip()
    try:
        if kind == "integer":
            return int(text)
        if kind in ("decimal", "money"):
            value = Decimal(text)
            if not value.is_finite():
                raise ValueError
            return value
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "datetime":
            return dt.datetime.fromisoformat(text)
        if kind == "boolean":
            if text.lower() in ("true", "yes", "1", "是"):
                return True
            if text.lower() in ("false", "no", "0", "否"):
                return False
            raise ValueError
    except (ValueError, InvalidOperation):
        expected = {"integer": "a whole number", "decimal": "a number", "money": "an amount",
                    "date": "a date (YYYY-MM-DD)", "datetime": "a date and time", "boolean": "yes or no"}[kind]
        raise ValueError(f"'{label}' needs {expected}, got {text[:40]!r}") from None
    if info.get("options") and text not in {v for v, _ in info["options"]}:
        shown = {lbl: v for v, lbl in info["options"]}
        if text in shown:
            return shown[text]
    return raw


def bulk_fields(tx: Any, entity: str, lang: str) -> list[dict[str, Any]]:
    """The fields a user may set on many records at once: plain stored fields they may change."""
    access = field_access(tx, entity)
    ce = tx.app.compiled.entity(entity)
    return [f for f in filterable(tx, entity, lang) if f["name"] in ce.fields and f["name"] not in access.read_only
            and ce.fields[f["name"]].defn.type not in ("table", "related", "computed")]
