"""HTML rendering of forms (jinja2, autoescaped): sections, typed inputs, child tables, errors.

A :class:`FormRenderer` is built once per app (``visible_if`` expressions are
compiled then) and renders a form for a new or existing record, in any of the
app's languages. An entity without a form definition gets one section with all
of its fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jinja2

from ordo.dsl.app import AppDefinition
from ordo.dsl.base import humanize, label_text
from ordo.dsl.entity import EntityDef, FieldDef
from ordo.dsl.expr import CompiledExpression, Env, Scope, compile_expression
from ordo.dsl.expr import types as T

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("ordo.forms", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.ChainableUndefined,
                          trim_blocks=True, lstrip_blocks=True)
_INPUT = {"integer": "number", "decimal": "number", "money": "number", "date": "date", "datetime": "datetime-local"}
_SAVE = {"en": "Save", "zh": "保存"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class FormRenderer:
    def __init__(self, app: AppDefinition) -> None:
        self.app = app
        self._visible: dict[tuple[str, int], CompiledExpression] = {}
        for form in app.all("form"):
            for i, section in enumerate(form.sections):
                if section.visible_if:
                    self._visible[(form.name, i)] = compile_expression(
                        section.visible_if, Scope(app.schema, form.entity), T.BOOLEAN)

    def render(self, form: str, record: Mapping[str, Any] | None = None, errors: Iterable[Any] = (),
               lang: str = "en", env: Env | None = None, titles: Mapping[str, Any] | None = None, *,
               user: Any = None, permissions: Any = None) -> str:
        """HTML of ``form`` (a form name, or an entity name for the default layout).

        ``record`` holds values as input takes them (links as record names, see
        :class:`ordo.engine.present.Presenter.data`); ``titles`` optionally the same record as people
        read it (``Presenter.text``): a link field then also shows the linked record's title. With
        ``user`` and ``permissions`` (the app's), fields hidden from the user are left out and those
        they may not change are read-only."""
        fdef = self.app.get("form", form)
        if fdef is not None:
            entity = self.app.get("entity", fdef.entity)
            title = label_text(fdef.title, lang, label_text(entity.label, lang, humanize(entity.name)))
            sections = [(label_text(s.title, lang) if s.title else None, s.columns, s.fields,
                         (form, i)) for i, s in enumerate(fdef.sections)]
        else:
            entity = self.app.get("entity", form)
            if entity is None or entity.child:
                raise KeyError(f"no form or entity named {form!r}")
            title = label_text(entity.label, lang, humanize(entity.name))
            sections = [(None, 1, [n for n, f in entity.fields.items() if f.type != "related"], None)]
        rec = dict(record or {})
        hidden: frozenset[str] = frozenset()
        read_only: frozenset[str] = frozenset()
        if user is not None and permissions is not None:
            hidden, read_only = permissions.fields(user, entity.name)
        errs = list(errors)
        by_field = {getattr(e, "field", ""): getattr(e, "message", str(e)) for e in errs}
        ctx_sections = []
        for stitle, columns, names, key in sections:
            folded = False
            if key in self._visible:
                folded = self._visible[key](rec, env or Env()) is not True
            fields = [self._field(entity, n, rec, by_field, lang, titles or {}) for n in names
                      if n in entity.fields and n not in hidden]
            for f in fields:
                f["readonly"] = f["readonly"] or f["name"] in read_only
            ctx_sections.append({"title": stitle, "columns": columns, "fields": fields, "hidden": folded})
        shown_errors = [{"field": getattr(e, "field", ""), "message": getattr(e, "message", str(e)),
                         "label": self._label(entity, getattr(e, "field", ""), lang)} for e in errs]
        return _ENV.get_template("form.html").render(
            entity=entity.name, title=title, record=record, sections=ctx_sections, errors=shown_errors,
            save_label=_SAVE.get(lang, "Save"))

    def _label(self, entity: EntityDef, path: str, lang: str) -> str:
        name = path.split("[")[0].split(".")[0]
        f = entity.fields.get(name)
        return label_text(f.label, lang, humanize(name)) if f else path

    def _field(self, entity: EntityDef, name: str, rec: Mapping[str, Any], errors: Mapping[str, str],
               lang: str, titles: Mapping[str, Any]) -> dict[str, Any]:
        f: FieldDef = entity.fields[name]
        out: dict[str, Any] = {
            "name": name, "kind": f.type, "label": label_text(f.label, lang, humanize(name)),
            "help": label_text(f.help, lang) if f.help else "", "required": f.required,
            "readonly": f.read_only or f.type == "computed", "error": errors.get(name, ""),
            "value": _text(rec.get(name, None if f.default_is_expr else f.default)),
            "input_type": _INPUT.get(f.type, "text"), "min": f.min, "max": f.max,
            "pattern": f.pattern, "maxlength": f.max_length,
        }
        if f.type == "link" and titles.get(name) not in (None, rec.get(name)):
            out["title"] = _text(titles.get(name))
        if f.type in ("decimal", "money"):
            out["step"] = str(1 / 10 ** f.decimal_shape()[1]) if f.decimal_shape()[1] else "1"
        if f.type == "enum":
            out["options"] = [(o, o) if isinstance(o, str) else (o.value, label_text(o.label, lang, o.value))
                              for o in f.options or []]
        if f.type == "table":
            child = self.app.get("entity", f.entity)
            out["columns"] = [{"name": n, "label": label_text(c.label, lang, humanize(n)),
                               "readonly": c.type == "computed"} for n, c in child.fields.items()]
            out["rows"] = [{k: _text(v) for k, v in row.items()} for row in rec.get(name) or []]
        return out


def render_form(app: AppDefinition, form: str, record: Mapping[str, Any] | None = None,
                errors: Iterable[Any] = (), lang: str = "en") -> str:
    """Render once (builds a renderer; keep a :class:`FormRenderer` to render many times)."""
    return FormRenderer(app).render(form, record, errors, lang)
