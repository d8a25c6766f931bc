"""Form designer edits on a definition file's text: move fields and sections, labels, field conditions, new
fields. Built on :mod:`ordo.dsl.yaml_edit`, so each edit changes only the affected lines.

Forms (``kind: form``):

* ``move_field(text, form, field, section=S, index=i)`` — move a field within its section or to another
  section (``S``: a section's index or title, in any language); ``index`` omitted: at the end.
* ``move_section(text, form, src, dst)`` and ``set_section(text, form, S, props)`` (title, columns,
  visible_if, tab; ``None`` removes a property).

Entities (``kind: entity``):

* ``set_field_label(text, entity, field, lang, label)`` — a label text in one language (``{en, zh}``;
  a plain label becomes its English text).
* ``set_field_rule(text, entity, field, rule, expression)`` — ``required_if`` / ``visible_if`` /
  ``read_only_if`` / ``editable_if`` (``None`` removes it).
* ``add_field(text, entity, name, type, options=..., label=..., required=..., after=...)`` and
  ``set_field(text, entity, field, props)``.

Errors are DefinitionErrors naming the file, the line (of the definition, section or field) and what is
wrong; the designer validates the whole app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .edit_target import Target

FILE = "<text>"
RULES = ("required_if", "visible_if", "read_only_if", "editable_if")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _sections(t: Target) -> list[Any]:
    sections = t.data.get("sections")
    if not isinstance(sections, list) or not sections:
        raise t.error("the form has no sections", t.data, "sections")
    return sections


def _section_index(t: Target, sections: list[Any], section: int | str) -> int:
    if isinstance(section, int) and not isinstance(section, bool):
        if 0 <= section < len(sections):
            return section
        raise t.error(f"no section {section} (the form has {len(sections)})", t.data, "sections")
    for i, s in enumerate(sections):
        title = s.get("title") if isinstance(s, Mapping) else None
        texts = [str(v) for v in title.values()] if isinstance(title, Mapping) else [str(title)] if title else []
        if str(section) in texts:
            return i
    raise t.error(f"no section titled '{section}'", t.data, "sections")


def move_field(text: str, form: str, field: str, *, section: int | str, index: int = -1, file: str = FILE) -> str:
    """Move ``field`` to position ``index`` (-1: the end) of ``section`` (its index or a title)."""
    t = Target.find(text, "form", form, file)
    sections = _sections(t)
    dst = _section_index(t, sections, section)
    src = next((i for i, s in enumerate(sections) if isinstance(s, Mapping) and field in (s.get("fields") or [])), None)
    if src is None:
        raise t.error(f"field '{field}' is in none of its sections", t.data, "sections")
    at = list(sections[src]["fields"]).index(field)
    size = len(sections[dst].get("fields") or []) - (1 if src == dst else 0)
    if index == -1:
        index = size
    if not 0 <= index <= size:
        raise t.error(f"position {index} is outside section {dst} (0..{size})", sections[dst])
    if src == dst:
        edits = [t.edit("move", ["sections", src, "fields"], **{"from": at, "to": index})]
    else:
        edits = [t.edit("delete", ["sections", src, "fields", at]),
                 t.edit("insert", ["sections", dst, "fields"], index=index, value=field)]
    return t.apply(edits)


def move_section(text: str, form: str, src: int | str, dst: int, *, file: str = FILE) -> str:
    """Move a section (its index or title) to position ``dst``."""
    t = Target.find(text, "form", form, file)
    sections = _sections(t)
    i = _section_index(t, sections, src)
    j = _section_index(t, sections, dst)
    return t.apply([t.edit("move", ["sections"], **{"from": i, "to": j})])


def set_section(text: str, form: str, section: int | str, props: Mapping[str, Any], *, file: str = FILE) -> str:
    """Set properties of a section (title, columns, visible_if, tab); a value of None removes one."""
    t = Target.find(text, "form", form, file)
    sections = _sections(t)
    i = _section_index(t, sections, section)
    return t.props(["sections", i], sections[i], props)


# -- entity fields ----------------------------------------------------------------------------------------

def _field(text: str, entity: str, field: str, file: str) -> tuple[Target, Any]:
    t = Target.find(text, "entity", entity, file)
    fields = t.data.get("fields")
    if not isinstance(fields, Mapping) or field not in fields:
        raise t.error(f"no field '{field}'", t.data, "fields")
    return t, fields[field]


def set_field_label(text: str, entity: str, field: str, lang: str, label: str, *, file: str = FILE) -> str:
    """Set the label of ``field`` in language ``lang`` (keeping the other languages)."""
    t, body = _field(text, entity, field, file)
    if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2}(_[a-z]{2})?", lang):
        raise t.error(f"'{lang}' is not a language code (en, zh ...)", t.data["fields"], field)
    path = ["fields", field, "label"]
    old = body.get("label") if isinstance(body, Mapping) else None
    if isinstance(old, Mapping):
        edit = t.edit("set", [*path, lang], value=label)
    elif isinstance(old, str) and lang != "en":
        edit = t.edit("set", path, value={"en": old, lang: label})
    elif old is not None and lang == "en":
        edit = t.edit("set", path, value=label)
    else:
        edit = t.edit("set", path, value={lang: label})
    return t.apply([edit])


def set_field_rule(text: str, entity: str, field: str, rule: str, expression: str | None, *,
                   file: str = FILE) -> str:
    """Set (or with None remove) a field's ``required_if`` / ``visible_if`` / ``read_only_if`` /
    ``editable_if`` expression."""
    t, body = _field(text, entity, field, file)
    if rule not in RULES:
        raise t.error(f"unknown rule '{rule}' (one of: {', '.join(RULES)})", t.data["fields"], field)
    return t.props(["fields", field], body, {rule: expression})


def set_field(text: str, entity: str, field: str, props: Mapping[str, Any], *, file: str = FILE) -> str:
    """Set properties of a field (type, required, default, options ...); a value of None removes one."""
    t, body = _field(text, entity, field, file)
    return t.props(["fields", field], body, props)


def add_field(text: str, entity: str, name: str, type: str, *, options: Sequence[Any] | None = None,
              label: Any = None, required: bool = False, after: str | None = None,
              props: Mapping[str, Any] | None = None, file: str = FILE) -> str:
    """Add a field to an entity (after ``after`` or at the end): its type, enum options (values or
    ``{value, label}``), label (a text or ``{en, zh}``), required, and any other properties."""
    t = Target.find(text, "entity", entity, file)
    fields = t.data.get("fields")
    if not isinstance(fields, Mapping):
        raise t.error("the entity has no fields mapping", t.data, "fields")
    if not isinstance(name, str) or not _NAME.match(name):
        raise t.error(f"field name '{name}' must be lower case letters, digits and _", fields)
    if name in fields:
        raise t.error(f"a field '{name}' already exists", fields, name)
    if type == "enum" and not options:
        raise t.error("an enum field needs options", fields)
    if after is not None and after not in fields:
        raise t.error(f"no field '{after}' to add after", fields)
    body: dict[str, Any] = {"type": type}
    if options:
        body["options"] = list(options)
    if required:
        body["required"] = True
    body.update(dict(props or {}))
    if label is not None:
        body["label"] = label
    extra = {"after": after} if after is not None else {}
    return t.apply([t.edit("set", ["fields", name], value=body, **extra)])
