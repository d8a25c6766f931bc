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

Errors are DefinitionErrors naming the file and what is wrong; the designer validates the whole app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import DefinitionError
from .yaml_edit import apply_edits, definition_location
from .yaml_roundtrip import Style, load

FILE = "<text>"
RULES = ("required_if", "visible_if", "read_only_if", "editable_if")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _definition(text: str, kind: str, name: str, file: str) -> tuple[dict[str, Any], Any]:
    """(edit target, the definition's data) of ``kind``/``name`` in ``text``."""
    document, path = definition_location(text, kind, name, file=file)
    data = load(text, file, Style.of(text))[document]
    for part in path:
        data = data[part]
    return {"definition": {"kind": kind, "name": name}}, data


def _error(kind: str, name: str, message: str, file: str) -> DefinitionError:
    return DefinitionError(f"{kind} {name}: {message}", file=file)


# -- forms ------------------------------------------------------------------------------------------------

def _sections(data: Any, form: str, file: str) -> list[Any]:
    sections = data.get("sections")
    if not isinstance(sections, list) or not sections:
        raise _error("form", form, "the form has no sections", file)
    return sections


def _section_index(sections: list[Any], section: int | str, form: str, file: str) -> int:
    if isinstance(section, int) and not isinstance(section, bool):
        if 0 <= section < len(sections):
            return section
        raise _error("form", form, f"no section {section} (the form has {len(sections)})", file)
    for i, s in enumerate(sections):
        title = s.get("title") if isinstance(s, Mapping) else None
        texts = [str(v) for v in title.values()] if isinstance(title, Mapping) else [str(title)] if title else []
        if str(section) in texts:
            return i
    raise _error("form", form, f"no section titled '{section}'", file)


def move_field(text: str, form: str, field: str, *, section: int | str, index: int = -1, file: str = FILE) -> str:
    """Move ``field`` to position ``index`` (-1: the end) of ``section`` (its index or a title)."""
    target, data = _definition(text, "form", form, file)
    sections = _sections(data, form, file)
    dst = _section_index(sections, section, form, file)
    src = next((i for i, s in enumerate(sections) if isinstance(s, Mapping) and field in (s.get("fields") or [])), None)
    if src is None:
        raise _error("form", form, f"field '{field}' is in none of its sections", file)
    at = list(sections[src]["fields"]).index(field)
    size = len(sections[dst].get("fields") or []) - (1 if src == dst else 0)
    if index == -1:
        index = size
    if not 0 <= index <= size:
        raise _error("form", form, f"position {index} is outside section {dst} (0..{size})", file)
    if src == dst:
        edits = [{**target, "op": "move", "path": ["sections", src, "fields"], "from": at, "to": index}]
    else:
        edits = [{**target, "op": "delete", "path": ["sections", src, "fields", at]},
                 {**target, "op": "insert", "path": ["sections", dst, "fields"], "index": index, "value": field}]
    return apply_edits(text, edits, file=file)


def move_section(text: str, form: str, src: int | str, dst: int, *, file: str = FILE) -> str:
    """Move a section (its index or title) to position ``dst``."""
    target, data = _definition(text, "form", form, file)
    sections = _sections(data, form, file)
    i = _section_index(sections, src, form, file)
    j = _section_index(sections, dst, form, file)
    return apply_edits(text, [{**target, "op": "move", "path": ["sections"], "from": i, "to": j}], file=file)


def set_section(text: str, form: str, section: int | str, props: Mapping[str, Any], *, file: str = FILE) -> str:
    """Set properties of a section (title, columns, visible_if, tab); a value of None removes one."""
    target, data = _definition(text, "form", form, file)
    sections = _sections(data, form, file)
    i = _section_index(sections, section, form, file)
    return _props(text, target, ["sections", i], sections[i], props, file)


# -- entity fields ----------------------------------------------------------------------------------------

def _field(text: str, entity: str, field: str, file: str) -> tuple[dict[str, Any], Any]:
    target, data = _definition(text, "entity", entity, file)
    fields = data.get("fields")
    if not isinstance(fields, Mapping) or field not in fields:
        raise _error("entity", entity, f"no field '{field}'", file)
    return target, fields[field]


def set_field_label(text: str, entity: str, field: str, lang: str, label: str, *, file: str = FILE) -> str:
    """Set the label of ``field`` in language ``lang`` (keeping the other languages)."""
    target, body = _field(text, entity, field, file)
    if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2}(_[a-z]{2})?", lang):
        raise _error("entity", entity, f"'{lang}' is not a language code (en, zh ...)", file)
    path = ["fields", field, "label"]
    old = body.get("label") if isinstance(body, Mapping) else None
    if isinstance(old, Mapping):
        edit = {"op": "set", "path": [*path, lang], "value": label}
    elif isinstance(old, str) and lang != "en":
        edit = {"op": "set", "path": path, "value": {"en": old, lang: label}}
    elif old is not None and lang == "en":
        edit = {"op": "set", "path": path, "value": label}
    else:
        edit = {"op": "set", "path": path, "value": {lang: label}}
    return apply_edits(text, [{**target, **edit}], file=file)


def set_field_rule(text: str, entity: str, field: str, rule: str, expression: str | None, *,
                   file: str = FILE) -> str:
    """Set (or with None remove) a field's ``required_if`` / ``visible_if`` / ``read_only_if`` /
    ``editable_if`` expression."""
    if rule not in RULES:
        raise _error("entity", entity, f"unknown rule '{rule}' (one of: {', '.join(RULES)})", file)
    target, body = _field(text, entity, field, file)
    return _props(text, target, ["fields", field], body, {rule: expression}, file)


def set_field(text: str, entity: str, field: str, props: Mapping[str, Any], *, file: str = FILE) -> str:
    """Set properties of a field (type, required, default, options ...); a value of None removes one."""
    target, body = _field(text, entity, field, file)
    return _props(text, target, ["fields", field], body, props, file)


def add_field(text: str, entity: str, name: str, type: str, *, options: Sequence[Any] | None = None,
              label: Any = None, required: bool = False, after: str | None = None,
              props: Mapping[str, Any] | None = None, file: str = FILE) -> str:
    """Add a field to an entity (after ``after`` or at the end): its type, enum options (values or
    ``{value, label}``), label (a text or ``{en, zh}``), required, and any other properties."""
    target, data = _definition(text, "entity", entity, file)
    fields = data.get("fields")
    if not isinstance(fields, Mapping):
        raise _error("entity", entity, "the entity has no fields mapping", file)
    if not isinstance(name, str) or not _NAME.match(name):
        raise _error("entity", entity, f"field name '{name}' must be lower case letters, digits and _", file)
    if name in fields:
        raise _error("entity", entity, f"a field '{name}' already exists", file)
    if type == "enum" and not options:
        raise _error("entity", entity, "an enum field needs options", file)
    if after is not None and after not in fields:
        raise _error("entity", entity, f"no field '{after}' to add after", file)
    body: dict[str, Any] = {"type": type}
    if options:
        body["options"] = list(options)
    if required:
        body["required"] = True
    body.update(dict(props or {}))
    if label is not None:
        body["label"] = label
    edit: dict[str, Any] = {**target, "op": "set", "path": ["fields", name], "value": body}
    if after is not None:
        edit["after"] = after
    return apply_edits(text, [edit], file=file)


def _props(text: str, target: dict[str, Any], path: list[Any], body: Any, props: Mapping[str, Any],
           file: str) -> str:
    if not isinstance(props, Mapping):
        raise DefinitionError("props must be a mapping of property -> value", file=file)
    edits = []
    for key, value in props.items():
        if value is None:
            if isinstance(body, Mapping) and key in body:
                edits.append({**target, "op": "delete", "path": [*path, key]})
        else:
            edits.append({**target, "op": "set", "path": [*path, key], "value": value})
    return apply_edits(text, edits, file=file) if edits else text
