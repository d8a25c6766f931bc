"""Records as people see them: ``ordo get``, ``ordo query``, ``ordo audit``, forms and scenarios.

* A link shows the linked record's title (its entity's ``title_field`` value, else its name) in
  tables and CSV, and its name (what input accepts) in JSON, so that get -> edit -> update
  round-trips. Child rows' links too.
* A linked record the reader may not read (``tx.row_filter``) shows a neutral placeholder,
  never its name or title; one that no longer exists (audit history) shows "(deleted)".
* Enum values show their option label in the chosen language in tables and CSV (JSON keeps the
  value); booleans show yes/no in the language.
* Decimals and money are exact Decimals at their scale (computed ones at the scale their expression
  gives, see :mod:`scales`), never binary floats.
* Columns may follow links (``customer.level``, ``customer.region.name``) under the same rule; an
  unknown column is an error naming it and the entity.

Links are resolved in rounds: a round reads all the records it needs of one entity in one query
(never one per row), then the records their title fields or dotted columns link to.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ordo.dsl.base import label_text

from .errors import UsageError
from .i18n import DEFAULT_LANG, system_label, word
from .link_loader import LinkLoader, Marker
from .scales import at_scale, field_scale, scaler

if TYPE_CHECKING:
    from .compiled import CompiledEntity, CompiledField
    from .records import Transaction

SYSTEM_FIELDS = ("id", "name", "created_at", "created_by", "updated_at", "updated_by", "version")
TITLE_DEPTH = 3  # a title field that is a link is followed at most this far


def link_target(cf: CompiledField) -> str | None:
    """The entity a link field (or a computed field giving a record) points to."""
    if cf.defn.type == "link":
        return cf.defn.entity
    if cf.defn.type == "computed" and cf.type.kind == "record" and isinstance(cf.type.arg, str):
        return cf.type.arg
    return None


_RAW, _SCALE, _TEXT, _OTHER = "raw", "scale", "text", "other"  # how a field's values are shown (Presenter._plan)
# id(compiled entity) -> (a weak reference to it, field -> how its values are shown): the same for every reader
_PLANS: dict[int, tuple[weakref.ref, dict[str, tuple]]] = {}


def _plans(ce: CompiledEntity) -> dict[str, tuple]:
    """The display plans of ``ce``'s fields (see ``Presenter._plan``), kept while ``ce`` lives."""
    key = id(ce)
    found = _PLANS.get(key)
    if found is not None and found[0]() is ce:
        return found[1]

    def gone(ref: weakref.ref, key: int = key) -> None:
        if _PLANS.get(key, (None,))[0] is ref:
            _PLANS.pop(key, None)

    plans: dict[str, tuple] = {}
    _PLANS[key] = (weakref.ref(ce, gone), plans)
    return plans


class _Cell:
    """One value still to be found through links: where it goes, and the step it is at."""

    __slots__ = ("out", "key", "entity", "rid", "rest", "mode", "depth", "fallback")

    def __init__(self, out: dict, key: Any, entity: str, rid: int, mode: str, rest: tuple[str, ...] = ()) -> None:
        self.out, self.key, self.entity, self.rid, self.mode, self.rest = out, key, entity, rid, mode, rest
        self.depth = 0
        self.fallback: str | None = None


class Presenter:
    """Presents records of one entity to the reader of ``tx``, in ``lang``.

    ``columns``: the keys to show (dotted paths follow links); None: every field of the records.
    ``text(records)`` gives what tables and CSV show, ``data(records)`` what JSON carries."""

    def __init__(self, tx: Transaction, entity: str, columns: Sequence[str] | None = None,
                 lang: str = DEFAULT_LANG) -> None:
        self.tx = tx
        self.app = tx.app.compiled
        self.ce = self.app.entities.get(entity) or tx.app.compiled.entity(entity)
        self.lang = lang
        self.columns = [self._check(c) for c in columns] if columns else None
        self._scales: dict[int, int | None] = {}  # id(field) -> its scale, worked out once per presenter

    def hidden(self, entity: str) -> frozenset[str]:
        """The fields of ``entity`` hidden from the reader: never shown, named like unknown ones."""
        return self.tx.app.permissions.hidden(self.tx.user, entity)

    # -- columns
    def _check(self, key: str) -> tuple[str, ...]:
        parts = tuple(p.strip() for p in key.split("."))
        ce = self.ce
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            hidden = self.hidden(ce.name)
            cf = ce.fields.get(part) if part not in hidden else None
            if cf is None:
                if part in SYSTEM_FIELDS and last:
                    break
                known = ", ".join([*SYSTEM_FIELDS, *(n for n, f in ce.fields.items() if f.stored and n not in hidden)])
                raise UsageError(f"unknown column '{key}': {ce.name} has no field '{part}' (fields: {known})")
            if last:
                if cf.related_where is not None or (cf.child is not None and i > 0):
                    raise UsageError(f"column '{key}': '{part}' of {ce.name} is a {cf.defn.type} field and "
                                     "cannot be a column")
                break
            target = link_target(cf)
            if target is None:
                raise UsageError(f"column '{key}': '{part}' of {ce.name} is not a link, so '.{parts[i + 1]}' "
                                 "cannot follow it")
            ce = self.app.entities[target]
        return parts

    @property
    def keys(self) -> list[str] | None:
        """The column keys asked for (None: every field)."""
        return [".".join(c) for c in self.columns] if self.columns is not None else None

    def default_keys(self) -> list[str]:
        """Every stored column of the entity, in table order (what a query row holds)."""
        assert self.ce.table is not None
        hidden = self.hidden(self.ce.name)
        return [k for k in self.ce.table.c.keys() if k not in hidden]

    def headers(self, keys: Sequence[str] | None = None) -> list[str]:
        """Column headings in the reader's language (field labels; dotted paths joined by ' / ')."""
        return [self.label(k) for k in (keys or self.keys or self.default_keys())]

    def label(self, key: str) -> str:
        ce, out = self.ce, []
        for part in key.split("."):
            cf = ce.fields.get(part) if ce is not None else None
            if cf is None:
                out.append(system_label(part, self.lang) or part)
                ce = None
                continue
            out.append(label_text(cf.defn.label, self.lang, cf.label))
            target = link_target(cf)
            ce = self.app.entities.get(target) if target else None
        return " / ".join(out)

    @property
    def needs_children(self) -> bool:
        """Whether the asked columns include child tables (query them with their rows)."""
        return any(len(c) == 1 and c[0] in self.ce.fields and self.ce.fields[c[0]].child is not None
                   for c in self.columns or [])

    # -- values
    def text(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Rows for tables and CSV: link titles, option labels, yes/no, exact decimals."""
        return self._present(records, text=True)

    def data(self, records: Iterable[Mapping[str, Any]], decimals_as_text: bool = False) -> list[dict[str, Any]]:
        """Rows for JSON: links as record names (what input accepts), exact decimals
        (``decimals_as_text``: the stored fields' decimals as their exact text, ``"120.00"``)."""
        return self._present(records, text=False, decimals_as_text=decimals_as_text)

    def _present(self, records: Iterable[Mapping[str, Any]], text: bool,
                 decimals_as_text: bool = False) -> list[dict[str, Any]]:
        if self.columns is None:
            records = records if isinstance(records, list) else list(records)
            if records and all(r.keys() == records[0].keys() for r in records):
                return self._by_column(records, text, decimals_as_text)
        cells: list[_Cell] = []
        out = []
        hidden = self.hidden(self.ce.name)
        plans = _plans(self.ce)
        for rec in records:
            row: dict[str, Any] = {}
            if self.columns is None:
                for key, value in rec.items():
                    if key in hidden:
                        continue
                    plan = plans.get(key) or self._plan(self.ce, key)
                    if value is None or plan[0] is _RAW or (plan[0] is _TEXT and not text):
                        row[key] = value
                    elif plan[0] is _SCALE:
                        row[key] = plan[1](value)
                    else:
                        self._value(self.ce, key, value, row, cells, text)
            else:
                for parts in self.columns:
                    self._column_value(rec, parts, row, cells, text)
            out.append(row)
        self._resolve(cells, text)
        return out

    def _by_column(self, records: list[Mapping[str, Any]], text: bool, decimals_as_text: bool) -> list[dict]:
        """Records with the same fields (a query's rows), one column at a time: each column's way of
        showing its values is chosen once (decimals converted by one function for the column), and only
        links, child rows and labelled values go value by value."""
        ce, hidden, plans = self.ce, self.hidden(self.ce.name), _plans(self.ce)
        keys = [k for k in records[0] if k not in hidden]
        if not keys:
            return [{} for _ in records]
        columns, by_value = [], []
        for key in keys:
            plan = plans.get(key) or self._plan(ce, key)
            values = [r[key] for r in records]
            if plan[0] is _SCALE:
                convert = plan[2] if decimals_as_text else plan[1]
                values = [None if v is None else convert(v) for v in values]
            elif plan[0] is _OTHER or (plan[0] is _TEXT and text):
                by_value.append(key)
            columns.append(values)
        out = [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
        cells: list[_Cell] = []
        for key in by_value:
            for row in out:
                if row[key] is not None:
                    self._value(ce, key, row[key], row, cells, text)
        self._resolve(cells, text)
        return out

    def _column_value(self, rec: Mapping[str, Any], parts: tuple[str, ...], row: dict, cells: list[_Cell],
                      text: bool) -> None:
        key = ".".join(parts)
        if len(parts) == 1:
            self._value(self.ce, parts[0], rec.get(parts[0]), row, cells, text, key)
            return
        value = rec.get(parts[0])
        target = link_target(self.ce.fields[parts[0]])
        if value is None or target is None or not isinstance(value, int):
            row[key] = value
            return
        row[key] = None
        cells.append(_Cell(row, key, target, value, "path", parts[1:]))

    def _plan(self, ce: CompiledEntity, name: str) -> tuple:
        """How values of ``name`` of ``ce`` are shown, worked out once per field (see :func:`_plans`): as
        they are (``_RAW``), at a decimal scale (``_SCALE``, with the column's converter and its variant
        giving text), as they are in data but labelled in text (``_TEXT``: options, yes/no, JSON), or by
        :meth:`_value` (links, child rows)."""
        cf = ce.fields.get(name)
        if cf is None:
            plan: tuple = (_RAW,)
        elif cf.child is not None or link_target(cf) is not None:
            plan = (_OTHER,)
        elif cf.kind in ("decimal", "money", "integer"):
            scale = self._scale(cf)
            plan = (_SCALE, scaler(scale), scaler(scale, text=True))
        elif cf.kind in ("enum", "boolean", "json"):
            plan = (_TEXT,)
        else:
            plan = (_RAW,)
        _plans(ce)[name] = plan
        return plan

    def _scale(self, cf: CompiledField) -> int | None:
        key = id(cf)
        if key not in self._scales:
            self._scales[key] = field_scale(self.app, cf)
        return self._scales[key]

    def _value(self, ce: CompiledEntity, name: str, value: Any, row: dict, cells: list[_Cell], text: bool,
               key: str | None = None) -> None:
        key = key or name
        cf = ce.fields.get(name)
        if cf is None or value is None:
            row[key] = value
            return
        if cf.child is not None:
            child_rows = []
            for child in value if isinstance(value, list) else []:
                crow: dict[str, Any] = {}
                for k, v in child.items():
                    self._value(cf.child, k, v, crow, cells, text)
                child_rows.append(crow)
            row[key] = child_rows
            return
        target = link_target(cf)
        if target is not None and isinstance(value, int) and not isinstance(value, bool):
            row[key] = None
            cells.append(_Cell(row, key, target, value, "title" if text else "name"))
            return
        row[key] = self.scalar(cf, value, text)

    def scalar(self, cf: CompiledField, value: Any, text: bool) -> Any:
        """One non-link value of ``cf`` as shown (``text``) or exported."""
        if value is None:
            return None
        kind = cf.kind
        if kind in ("decimal", "money", "integer"):
            return at_scale(value, self._scale(cf))
        if text and kind == "enum":
            for o in cf.defn.options or ():
                if not isinstance(o, str) and o.value == value:
                    return label_text(o.label, self.lang, o.value)
            return value
        if text and kind == "boolean" and isinstance(value, bool):
            return word("yes" if value else "no", self.lang)
        if text and kind == "json":
            return json.dumps(value, ensure_ascii=False, default=str)
        return value

    def _resolve(self, cells: list[_Cell], text: bool) -> None:
        loader = LinkLoader(self.tx)
        pending = cells
        while pending:
            for c in pending:
                loader.want(c.entity, c.rid)
            loader.load()
            pending = [c for c in pending if not self._advance(c, loader, text)]

    def _finish(self, c: _Cell, value: Any, text: bool) -> bool:
        if isinstance(value, Marker):
            value = word(str(value), self.lang if text else DEFAULT_LANG)
        c.out[c.key] = value
        return True

    def _advance(self, c: _Cell, loader: LinkLoader, text: bool) -> bool:
        """Move ``c`` one step on the loaded records; True when its value is known."""
        row = loader.get(c.entity, c.rid)
        if isinstance(row, str):
            return self._finish(c, c.fallback if c.fallback is not None else Marker(row), text)
        ce = self.app.entities[c.entity]
        if c.mode == "name":
            return self._finish(c, row["name"], text)
        if c.mode == "title":
            tf = ce.defn.title_field
            value = row.get(tf) if tf and tf not in self.hidden(ce.name) else None
            if value is None or tf not in ce.fields:
                return self._finish(c, row["name"], text)
            target = link_target(ce.fields[tf])
            if target is None:
                shown = self.scalar(ce.fields[tf], value, True)
                return self._finish(c, shown if isinstance(shown, str) else str(shown), text)
            if c.depth >= TITLE_DEPTH or not isinstance(value, int):
                return self._finish(c, row["name"], text)
            c.fallback, c.entity, c.rid, c.depth = row["name"], target, value, c.depth + 1
            return False
        part, rest = c.rest[0], c.rest[1:]
        value = row.get(part)
        cf = ce.fields.get(part)
        if value is None or cf is None:
            return self._finish(c, value, text)
        target = link_target(cf)
        if not rest:
            if target is None:
                return self._finish(c, self.scalar(cf, value, text), text)
            c.mode = "title" if text else "name"
        assert target is not None
        c.entity, c.rid, c.rest = target, value, rest
        return False


def present(tx: Transaction, entity: str, records: Iterable[Mapping[str, Any]], *,
            columns: Sequence[str] | None = None, lang: str = DEFAULT_LANG, text: bool = True) -> list[dict]:
    """Records of ``entity`` as the reader of ``tx`` sees them (see :class:`Presenter`)."""
    p = Presenter(tx, entity, columns, lang)
    return p.text(records) if text else p.data(records)


def audit_changes(tx: Transaction, entries: Sequence[Any], *, lang: str = DEFAULT_LANG,
                  text: bool = True) -> list[dict[str, list]]:
    """The ``changes`` (field -> [before, after]) of audit entries as the reader of ``tx`` sees them:
    links as titles (``text``) or record names, option labels, exact decimals; one presenter call per
    entity, so links are read in batches."""
    out: list[dict[str, list]] = [dict(e.changes) for e in entries]
    by_entity: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        if e.entity in tx.app.compiled.entities:
            by_entity.setdefault(e.entity, []).append(i)
    for entity, idxs in by_entity.items():
        flat = []
        for i in idxs:
            pairs = {f: v for f, v in entries[i].changes.items() if isinstance(v, list) and len(v) == 2}
            flat += [{f: v[0] for f, v in pairs.items()}, {f: v[1] for f, v in pairs.items()}]
        p = Presenter(tx, entity, lang=lang)
        shown = p.text(flat) if text else p.data(flat)
        for n, i in enumerate(idxs):
            before, after = shown[2 * n], shown[2 * n + 1]
            out[i] = {f: [before.get(f), after.get(f)] if f in before else v for f, v in entries[i].changes.items()}
    return out
