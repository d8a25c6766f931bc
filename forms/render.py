"""HTML rendering of forms (jinja2, autoescaped): sections, typed inputs, link pickers, child-table grids,
errors at their fields.

A :class:`FormRenderer` is built once per app (``visible_if`` expressions of sections are compiled then)
and renders a form for a new or existing record, in any of the app's languages. An entity without a form
definition gets one section with all of its fields. The HTML follows the DOM contract of the browser rules
(``docs/web.md``): ``form[data-ordo-form]``, field containers ``[data-ordo-field]``, sections
``[data-ordo-section]``, computed inputs ``[data-ordo-computed]``, link pickers (a search box plus a hidden
input holding the linked record's name), child tables ``[data-ordo-child]`` with rows ``[data-ordo-row]``
whose inputs are named ``FIELD.N.SUB`` and a ``<template data-ordo-row-template>`` to add rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2

from ordo.dsl.app import AppDefinition
from ordo.dsl.base import humanize, label_text
from ordo.dsl.entity import EntityDef
from ordo.dsl.expr import CompiledExpression, Env, Scope, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.field import FieldDef

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("ordo.forms", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.ChainableUndefined,
                          trim_blocks=True, lstrip_blocks=True)
_INPUT = {"integer": "number", "decimal": "number", "money": "number", "date": "date", "datetime": "datetime-local"}
_WORDS = {"save": {"en": "Save", "zh": "保存"}, "add_row": {"en": "Add row", "zh": "添加行"},
          "remove_row": {"en": "Remove", "zh": "删除"}, "search": {"en": "Search…", "zh": "搜索…"}}
_PATH = re.compile(r"\[(\d+)\]")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:16] if "T" in text else text  # datetime-local inputs take minutes
    return str(value)


def field_path(path: str) -> str:
    """An error's field path in the form's input naming: ``lines[0].qty`` -> ``lines.0.qty``."""
    return _PATH.sub(r".\1", path or "")


class FormRenderer:
    def __init__(self, app: AppDefinition) -> None:
        self.app = app
        self._visible: dict[tuple[str, int], CompiledExpression] = {}
        for form in app.all("form"):
            for i, section in enumerate(form.sections):
                if section.visible_if:
                    self._visible[(form.name, i)] = compile_expression(
                        section.visible_if, Scope(app.schema, form.entity), T.BOOLEAN)

    def entity_of(self, form: str) -> EntityDef:
        """The entity form ``form`` (a form name, or an entity name for the default layout) shows."""
        fdef = self.app.get("form", form)
        entity = self.app.get("entity", fdef.entity if fdef is not None else form)
        if entity is None or entity.child:
            raise KeyError(f"no form or entity named {form!r}")
        return entity

    def render(self, form: str, record: Mapping[str, Any] | None = None, errors: Iterable[Any] = (),
               lang: str = "en", env: Env | None = None, titles: Mapping[str, Any] | None = None, *,
               user: Any = None, permissions: Any = None, action: str | None = None,
               hidden_inputs: Mapping[str, Any] | None = None, new: bool | None = None) -> str:
        """HTML of ``form`` (a form name, or an entity name for the default layout).

        ``record`` holds values as input takes them (links as record names, see
        :class:`ordo.engine.present.Presenter.data`); ``titles`` optionally the same record as people
        read it (``Presenter.text``): link fields then show the linked record's title. With ``user`` and
        ``permissions`` (the app's), fields hidden from the user are left out and those they may not
        change are read-only. ``action`` is where the form posts, ``hidden_inputs`` extra fields it carries
        (the CSRF token, the record's version)."""
        fdef = self.app.get("form", form)
        entity = self.entity_of(form)
        if fdef is not None:
            title = label_text(fdef.title, lang, label_text(entity.label, lang, humanize(entity.name)))
            sections = [(label_text(s.title, lang) if s.title else None, s.columns, s.fields,
                         (form, i)) for i, s in enumerate(fdef.sections)]
            tabs = [s.tab for s in fdef.sections]
        else:
            title = label_text(entity.label, lang, humanize(entity.name))
            sections = [(None, 1, [n for n, f in entity.fields.items() if f.type != "related"], None)]
            tabs = [None]
        rec = dict(record or {})
        hidden: frozenset[str] = frozenset()
        read_only: frozenset[str] = frozenset()
        if user is not None and permissions is not None:
            hidden, read_only = permissions.fields(user, entity.name)
        errs = list(errors)
        by_field = {field_path(getattr(e, "field", "") or ""): getattr(e, "message", str(e)) for e in errs}
        ctx_sections = []
        basis = {n: f.default for n, f in entity.fields.items() if f.default is not None and not f.default_is_expr}
        basis.update({k: v for k, v in rec.items() if v not in (None, "")})
        for i, (stitle, columns, names, key) in enumerate(sections):
            folded = False
            if key in self._visible:
                try:
                    folded = self._visible[key](basis, env or Env()) is not True
                except Exception:  # values as a form holds them (text): the browser rules decide then
                    folded = False
            fields = [self._field(entity, n, rec, by_field, lang, titles or {}, user, permissions)
                      for n in names if n in entity.fields and n not in hidden]
            for f in fields:
                f["readonly"] = f["readonly"] or f["name"] in read_only
            ctx_sections.append({"index": i, "title": stitle, "columns": columns, "fields": fields,
                                 "hidden": folded, "invalid": any(f["error"] or _row_errors(f) for f in fields)})
        shown_errors = [{"field": field_path(getattr(e, "field", "") or ""), "message": getattr(e, "message", str(e)),
                         "label": self._label(entity, getattr(e, "field", "") or "", lang)} for e in errs]
        is_new = new if new is not None else not rec.get("name")
        return _ENV.get_template("form.html").render(
            form=form, entity=entity.name, title=title, record=record, name=None if is_new else rec.get("name"),
            sections=ctx_sections, blocks=_blocks(ctx_sections, tabs, lang), errors=shown_errors, action=action, hidden_inputs=dict(hidden_inputs or {}),
            words={k: v.get(lang, v["en"]) for k, v in _WORDS.items()}, save_label=_WORDS["save"].get(lang, "Save"))

    def _label(self, entity: EntityDef, path: str, lang: str) -> str:
        parts = field_path(path).split(".")
        f = entity.fields.get(parts[0])
        if f is None:
            return path
        label = label_text(f.label, lang, humanize(parts[0]))
        if f.type == "table" and len(parts) >= 3:
            child = self.app.get("entity", f.entity)
            sub = child.fields.get(parts[2]) if child is not None else None
            sub_label = label_text(sub.label, lang, humanize(parts[2])) if sub is not None else parts[2]
            return f"{label} #{int(parts[1]) + 1} · {sub_label}" if parts[1].isdigit() else label
        return label

    def _input(self, f: FieldDef, name: str, lang: str) -> dict[str, Any]:
        """What an input of field ``f`` needs: kind, type, limits, options, link target."""
        out: dict[str, Any] = {
            "kind": f.type, "label": label_text(f.label, lang, humanize(name)),
            "help": label_text(f.help, lang) if f.help else "", "required": f.required,
            "readonly": f.read_only or f.type in ("computed", "related"), "computed": f.type == "computed",
            "input_type": _INPUT.get(f.type, "text"), "min": f.min, "max": f.max,
            "pattern": f.pattern, "maxlength": f.max_length, "step": None, "options": None, "target": None,
        }
        if f.type in ("decimal", "money"):
            scale = f.decimal_shape()[1]
            out["step"] = "0." + "0" * (scale - 1) + "1" if scale else "1"
        if f.type == "enum":
            out["options"] = [(o, o) if isinstance(o, str) else (o.value, label_text(o.label, lang, o.value))
                              for o in f.options or []]
        if f.type == "link":
            out["target"] = f.entity
        return out

    def _field(self, entity: EntityDef, name: str, rec: Mapping[str, Any], errors: Mapping[str, str],
               lang: str, titles: Mapping[str, Any], user: Any, permissions: Any) -> dict[str, Any]:
        f: FieldDef = entity.fields[name]
        out = {"name": name, **self._input(f, name, lang), "error": errors.get(name, ""),
               "value": _text(rec.get(name, None if f.default_is_expr else f.default)), "checked": False}
        if f.type == "boolean":
            out["checked"] = rec.get(name, None if f.default_is_expr else f.default) in (True, "true", "on", "1")
        if f.type == "link":
            shown = titles.get(name)
            out["title"] = _text(shown) if shown not in (None, "") else out["value"]
        if f.type == "table":
            child = self.app.get("entity", f.entity)
            child_hidden: frozenset[str] = frozenset()
            child_ro: frozenset[str] = frozenset()
            if user is not None and permissions is not None:
                child_hidden, child_ro = permissions.fields(user, child.name)
            columns = []
            for n, c in child.fields.items():
                if n in child_hidden or c.type in ("related", "table"):
                    continue
                col = {"name": n, **self._input(c, n, lang),
                       "default": _text(None if c.default_is_expr else c.default)}
                col["readonly"] = col["readonly"] or n in child_ro
                columns.append(col)
            out["columns"] = columns
            title_rows = titles.get(name) if isinstance(titles.get(name), list) else []
            rows = []
            for i, row in enumerate(rec.get(name) or []):
                shown = title_rows[i] if i < len(title_rows) and isinstance(title_rows[i], Mapping) else {}
                cells = {}
                for col in columns:
                    value = row.get(col["name"]) if isinstance(row, Mapping) else None
                    cell = {"value": _text(value), "error": errors.get(f"{name}.{i}.{col['name']}", ""),
                            "checked": value in (True, "true", "on", "1")}
                    if col["kind"] == "link":
                        t = shown.get(col["name"])
                        cell["title"] = _text(t) if t not in (None, "") else cell["value"]
                    cells[col["name"]] = cell
                row_id = row.get("id") if isinstance(row, Mapping) else None
                cells["_id"] = row_id if isinstance(row_id, int) or (isinstance(row_id, str) and row_id.isdigit()) \
                    else None
                rows.append(cells)
            out["rows"] = rows
        return out


def _row_errors(field: Mapping[str, Any]) -> bool:
    return any(isinstance(c, Mapping) and c.get("error") for row in field.get("rows") or [] for c in row.values())


def _blocks(sections: list[dict[str, Any]], tabs: list[Any], lang: str) -> list[dict[str, Any]]:
    """Sections as the page lays them out: a section without a tab on its own; consecutive tabbed sections
    as one tab set, sections with the same tab on one panel. The first tab holding an error is selected
    (else the first shown), and every tab holding one is marked."""
    blocks: list[dict[str, Any]] = []
    for section, tab in zip(sections, tabs, strict=True):
        if tab is None:
            blocks.append({"section": section})
            continue
        if not blocks or "tabs" not in blocks[-1]:
            blocks.append({"tabs": [], "index": len(blocks)})
        tabset = blocks[-1]["tabs"]
        if not tabset or tabset[-1]["key"] != tab:
            tabset.append({"key": tab, "title": label_text(tab, lang), "sections": [], "invalid": False,
                           "id": f"tab-{blocks[-1]['index']}-{len(tabset)}"})
        tabset[-1]["sections"].append(section)
        tabset[-1]["invalid"] = tabset[-1]["invalid"] or section["invalid"]
    for block in blocks:
        if "tabs" in block:
            for t in block["tabs"]:  # a tab whose every section is folded away (visible_if) is hidden too
                t["hidden"] = all(sec["hidden"] for sec in t["sections"])
            shown = [t for t in block["tabs"] if not t["hidden"]] or block["tabs"]
            chosen = next((t for t in shown if t["invalid"]), shown[0])
            for t in block["tabs"]:
                t["selected"] = t is chosen
    return blocks


def render_form(app: AppDefinition, form: str, record: Mapping[str, Any] | None = None,
                errors: Iterable[Any] = (), lang: str = "en") -> str:
    """Render once (builds a renderer; keep a :class:`FormRenderer` to render many times)."""
    return FormRenderer(app).render(form, record, errors, lang)
