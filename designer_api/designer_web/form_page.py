"""The form designer: a form's sections and fields in order with a live preview of the draft's form
(``forms/render.py``, the same renderer as the record pages).

``GET /designer/form/{name}``; ``POST /designer/form/{name}/edit`` with ``action``:

* ``move_field`` (``section``, ``index``, ``to_section``, ``to_index``): within or between sections;
* ``move_section`` (``section``, ``to``); ``section_title`` (``section``, ``title_en``, ``title_zh``);
* ``field`` (``field``, ``label_en``, ``label_zh``, ``required_if``, ``visible_if``, ``read_only_if``): the
  entity's field (labels and conditions live on the entity, so every form of it shows them);
* ``add_field`` (``field``, ``type``, ``options``, ``label_en``, ``label_zh``, ``section``): a new field of
  the entity, placed at the end of a section.

Each is a ``dsl/form_edit`` edit of the form's or the entity's file (only the affected lines change).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from starlette.responses import Response

from ordo.dsl import form_edit
from ordo.dsl.base import label_text
from ordo.dsl.errors import DefinitionError, OrdoError
from ordo.dsl.yaml_edit import apply_edits

from ..errors import ApiError
from ..web.base import Page, redirect
from . import drafts
from .base import designer_page, flash, is_number, lines_of, render
from .editor import digest

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TYPES = ("string", "text", "integer", "decimal", "money", "boolean", "date", "datetime", "enum", "email", "phone")
CONDITIONS = ("required_if", "visible_if", "read_only_if")


def _form(pg: Page) -> tuple[drafts.Draft, Any, str]:
    name = pg.path["name"]
    d = drafts.draft(pg)
    if d.definition is None:
        raise ApiError(409, "conflict", "the draft has errors: correct them in the YAML tab first")
    form = d.definition.get("form", name)
    file = drafts.file_of(d.definition, "form", name)
    if form is None or file is None:
        raise ApiError(404, "not_found", f"no form {name!r} in the draft")
    return d, form, file


def _label(value: Any, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value if lang == "en" else ""
    return (value.get(lang) if isinstance(value, dict) else getattr(value, lang, None)) or ""


def form_page(pg: Page) -> Response:
    from ordo.forms.render import render_form

    d, form, file = _form(pg)
    entity = d.definition.entities[form.entity]
    sections = []
    for i, s in enumerate(form.sections):
        fields = []
        for name in s.fields:
            f = entity.fields.get(name)
            fields.append({"name": name, "label": label_text(f.label, pg.lang, name) if f else name,
                           "label_en": _label(f.label, "en") if f else "", "label_zh": _label(f.label, "zh") if f else "",
                           **{c: (getattr(f, c, None) or "") if f else "" for c in CONDITIONS}})
        sections.append({"index": i, "title": label_text(s.title, pg.lang, "") if s.title else "",
                         "title_en": _label(s.title, "en"), "title_zh": _label(s.title, "zh"), "fields": fields})
    try:
        preview = render_form(d.definition, form.name, lang=pg.lang)
    except (OrdoError, KeyError) as e:  # a form the renderer refuses still gets its designer
        preview = f'<p class="alert warn">{escape(str(e))}</p>'
    return render(pg, "designer/form.html", name=form.name, entity=form.entity, file=file,
                  entity_file=drafts.file_of(d.definition, "entity", form.entity), sections=sections,
                  preview=preview, errors=lines_of(d.errors), done=flash(pg), types=TYPES,
                  selected=pg.params.get("field") or "")


def _int(pg: Page, name: str, upper: int) -> int:
    raw = (pg.form.get(name) or "").strip()
    if not is_number(raw.lstrip("-")) or not 0 <= int(raw) < upper:
        raise ApiError(400, "bad_request", f"{name}: a position from 0 to {upper - 1}, not {raw!r}", field=name)
    return int(raw)


def _lab(pg: Page, prefix: str) -> dict[str, str] | None:
    en, zh = (pg.form.get(f"{prefix}_en") or "").strip(), (pg.form.get(f"{prefix}_zh") or "").strip()
    return {k: v for k, v in (("en", en), ("zh", zh)) if v} or None


def _form_change(pg: Page, form: Any, text: str, file: str) -> str:
    """The form file's text with the posted layout change (``dsl/form_edit``)."""
    action = pg.form.get("action")
    n = len(form.sections)
    if action == "move_field":
        i = _int(pg, "section", n)
        field = form.sections[i].fields[_int(pg, "index", len(form.sections[i].fields))]
        k = _int(pg, "to_section", n)
        if k != i and len(form.sections[i].fields) == 1:
            raise ApiError(400, "bad_request", "a section keeps at least one field: move another in first",
                           field="index")
        to = _int(pg, "to_index", len(form.sections[k].fields) + (k != i))
        return form_edit.move_field(text, form.name, field, section=k, index=to, file=file)
    if action == "move_section":
        return form_edit.move_section(text, form.name, _int(pg, "section", n), _int(pg, "to", n), file=file)
    if action == "section_title":
        i = _int(pg, "section", n)
        title = _lab(pg, "title")
        if title is None and form.sections[i].title is None:
            return text
        return form_edit.set_section(text, form.name, i, {"title": title}, file=file)
    raise ApiError(400, "bad_request", "action must be move_field, move_section, section_title, field or add_field",
                   field="action")


def _field_change(pg: Page, entity: Any, text: str, file: str) -> str:
    """The entity file's text with the posted field change: a new field, or a field's labels and conditions."""
    name = (pg.form.get("field") or "").strip()
    if pg.form.get("action") == "add_field":
        if not NAME.match(name) or name in entity.fields:
            raise ApiError(400, "bad_request", f"the new field's name {name!r} must be new to {entity.name} and "
                           "made of lowercase letters, digits and _", field="field")
        kind = pg.form.get("type")
        if kind not in TYPES:
            raise ApiError(400, "bad_request", f"type must be one of {', '.join(TYPES)}", field="type")
        options = [o.strip() for o in (pg.form.get("options") or "").split(",") if o.strip()]
        if kind == "enum" and not options:
            raise ApiError(400, "bad_request", "an enum field needs its options", field="options")
        return form_edit.add_field(text, entity.name, name, kind, options=options if kind == "enum" else None,
                                   label=_lab(pg, "label"), file=file)
    if name not in entity.fields:
        raise ApiError(400, "bad_request", f"no field {name!r} in {entity.name}", field="field")
    f = entity.fields[name]
    for lang in ("en", "zh"):
        value = (pg.form.get(f"label_{lang}") or "").strip()
        if value and value != _label(f.label, lang):
            text = form_edit.set_field_label(text, entity.name, name, lang, value, file=file)
    for c in CONDITIONS:
        value = (pg.form.get(c) or "").strip()
        if value != (getattr(f, c, None) or ""):
            text = form_edit.set_field_rule(text, entity.name, name, c, value or None, file=file)
    return text


def edit(pg: Page) -> Response:
    d, form, file = _form(pg)
    action = pg.form.get("action")
    entity = d.definition.entities[form.entity]
    target = drafts.file_of(d.definition, "entity", form.entity) if action in ("field", "add_field") else file
    if target is None or target not in d.files:
        raise ApiError(409, "conflict", f"{form.entity} comes from the app's base: change it in an overlay file")
    placed = None
    try:
        if action in ("field", "add_field"):
            text = _field_change(pg, entity, d.files[target], target)
        else:
            text = _form_change(pg, form, d.files[target], target)
        if action == "add_field" and pg.form.get("section"):  # the new field shown in a section of the form
            i = _int(pg, "section", len(form.sections))
            placed = apply_edits(text if target == file else d.files[file],
                                 [{"definition": {"kind": "form", "name": form.name}, "op": "insert",
                                   "path": ["sections", i, "fields"], "value": pg.form.get("field")}], file=file)
            if target == file:
                text, placed = placed, None
    except DefinitionError as e:
        raise ApiError(400, "bad_request", str(e)) from None
    st = drafts.store(pg)  # each save refused (409) when someone saved the file since it was read
    if text != d.files[target]:
        st.save_file(target, text, pg.user, expected=digest(d.files[target]), action="edit_file")
    if placed is not None:
        st.save_file(file, placed, pg.user, expected=digest(d.files[file]), action="edit_file")
    field = pg.form.get("field") or ""
    return redirect(f"/designer/form/{form.name}?done={'field_added' if action == 'add_field' else 'saved'}"
                    + (f"&field={field}" if field else ""))


def routes() -> list:
    return [designer_page("/designer/form/{name}", form_page),
            designer_page("/designer/form/{name}/edit", edit, ("POST",))]
