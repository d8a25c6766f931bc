"""The server's re-check of a form's live rules when it is saved.

The browser applies ``visible_if`` / ``required_if`` / ``read_only_if`` (ordo-form.js) but a client can
post anything, so the page's save calls :func:`check_posted` before ``tx.create`` / ``tx.update``:

* a value posted for a field hidden by its ``visible_if`` (or by its section's) is refused;
* a changed value posted for a field that ``read_only_if`` makes read-only is refused;
* a field whose ``required_if`` holds (and that is shown) must have a value.

Conditions are evaluated in Python (the same checked expressions the browser runs as JavaScript) on
the record as it would be after the save: ``record_before`` with the posted ``data`` over it, so a
field shown by a choice made in the same post is accepted. Child-table fields are checked row by row
(``lines[1].discount``). Values are compared after the field's coercion, so ``"12.5"`` posted for a
stored ``12.50`` is no change. Links are compared by record name: give ``record_before`` as input takes
it (``Presenter.data``); ``link(entity, name)`` may supply linked records for conditions that read them
(without it such paths read as null).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ordo.dsl.app import AppDefinition
from ordo.dsl.entity import EntityDef
from ordo.dsl.expr import Env, Scope, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.field import FieldDef
from ordo.engine.coerce import CoercionError, coerce
from ordo.engine.errors import FieldError

from .rules import layout

Record = dict[str, Any]

_MESSAGES = {  # the page shows them next to the field's label, in the user's language
    "hidden": {"en": "is hidden ({why}) and cannot be set", "zh": "当前不显示（{why}），不能填写"},
    "section": {"en": "its section is hidden", "zh": "所在分区不显示"},
    "read_only": {"en": "is read-only (read_only_if: {rule}) and cannot be changed",
                  "zh": "当前只读（read_only_if: {rule}），不能修改"},
    "required": {"en": "is required", "zh": "必填"},
}


def _say(key: str, lang: str, **values: str) -> str:
    texts = _MESSAGES[key]
    return (texts.get(lang) or texts["en"]).format(**values)


def check_posted(app: AppDefinition, form: str, record_before: Mapping[str, Any] | None,
                 data: Mapping[str, Any], *, link: Callable[[str, Any], Record | None] | None = None,
                 env: Env | None = None, lang: str = "en", tx: Any = None) -> list[FieldError]:
    """Errors (by field path, messages in ``lang``: en or zh) for ``data`` posted through ``form`` over
    ``record_before`` (None: a new record); an empty list when the post respects the form's rules. See
    the module doc."""
    lay = layout(app, form)
    entity = lay.entity
    env = env or (tx.env if tx is not None else Env())
    if link is not None:
        env = Env(link=lambda e, key: link(e, key.get("name") if isinstance(key, dict) else key),
                  params=env.params, clock=env.clock)
    before = _typed(app, entity, record_before or {}, None)
    posted = _typed(app, entity, data, tx)
    after = {**before, **posted}
    sections = {}
    for _, names, text in lay.sections:
        if text:
            shown = _holds(app, entity.name, text, after, env)
            for n in names:
                sections[n] = sections.get(n, True) and shown
    errors: list[FieldError] = []
    for name, f in entity.fields.items():
        _check_field(app, entity, name, f, "", before, posted, after, env, errors, sections.get(name, True), lang)
        if f.type == "table" and isinstance(posted.get(name), list) and sections.get(name, True) \
                and _shown(app, entity.name, f, after, env):
            child = app.get("entity", f.entity)
            old = {row.get("id"): row for row in before.get(name) or [] if isinstance(row, dict)}
            for i, row in enumerate(posted[name]):
                if not isinstance(row, dict):
                    continue
                row_before = old.get(row.get("id"), {}) if row.get("id") is not None else {}
                row_after = {**row_before, **row}
                for sub, cf in child.fields.items():
                    _check_field(app, child, sub, cf, f"{name}[{i}].", row_before, row, row_after, env, errors,
                                 True, lang)
    return errors


def _check_field(app: AppDefinition, entity: EntityDef, name: str, f: FieldDef, prefix: str, before: Record,
                 posted: Record, after: Record, env: Env, errors: list[FieldError], section_shown: bool,
                 lang: str) -> None:
    if f.type in ("computed", "related") or (not (f.visible_if or f.read_only_if or f.required_if)
                                             and section_shown):
        return  # computed values are never taken from a post (the store refuses them)
    shown = section_shown and _shown(app, entity.name, f, after, env)
    path = prefix + name
    changed = name in posted and _differs(before.get(name), posted[name])
    if changed and not shown:
        why = f"visible_if: {f.visible_if}" if f.visible_if and section_shown else _say("section", lang)
        errors.append(FieldError(path, _say("hidden", lang, why=why)))
        return
    if changed and f.read_only_if and _holds(app, entity.name, f.read_only_if, after, env):
        errors.append(FieldError(path, _say("read_only", lang, rule=f.read_only_if)))
        return
    if shown and f.required_if and _empty(after.get(name)) and _holds(app, entity.name, f.required_if, after, env):
        errors.append(FieldError(path, _say("required", lang)))


def _shown(app: AppDefinition, entity: str, f: FieldDef, rec: Record, env: Env) -> bool:
    return f.visible_if is None or _holds(app, entity, f.visible_if, rec, env)


def _holds(app: AppDefinition, entity: str, text: str, rec: Record, env: Env) -> bool:
    compiled = compile_expression(text, Scope(app.schema, entity), T.BOOLEAN)  # memoized per app schema
    return compiled(rec, env) is True


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _differs(old: Any, new: Any) -> bool:
    if _empty(old) and _empty(new):
        return False
    if isinstance(old, list) or isinstance(new, list):
        return _rows(old) != _rows(new)
    return _key(old) != _key(new)


def _rows(rows: Any) -> list:
    return [{k: _key(v) for k, v in row.items() if k not in ("id", "idx", "parent_id")}
            for row in rows or [] if isinstance(row, dict)]


def _key(value: Any) -> Any:
    """A link given as a nested record compares by its name; anything else as it is."""
    return value.get("name") if isinstance(value, dict) else value


def _link(tx: Any, target: str, value: Any) -> Any:
    if value == "" or value is None:
        return None
    if tx is None or isinstance(value, Mapping):
        return value
    try:
        row = tx.link_target(target, value)
    except (LookupError, TypeError, ValueError):
        row = None
    return value if row is None else row.id  # a name that names nothing: the store reports it


def _typed(app: AppDefinition, entity: EntityDef, data: Mapping[str, Any], tx: Any) -> Record:
    """``data`` with each known field coerced to its type (an unreadable value reads as null here: the
    store reports it on save); links as ids when ``tx`` resolves them, else as given; child rows are
    coerced row by row."""
    out: Record = {}
    for key, value in data.items():
        f = entity.fields.get(key)
        if f is None or f.type in ("computed", "related"):
            out[key] = value
        elif f.type == "table":
            child = app.get("entity", f.entity)
            out[key] = [_typed(app, child, row, tx) if isinstance(row, Mapping) else row
                        for row in value or []] if isinstance(value, list) else value
        elif f.type == "link":
            out[key] = _link(tx, f.entity or "", value)
        else:
            try:
                out[key] = coerce(f, value)
            except (CoercionError, KeyError, TypeError):
                out[key] = None
    return out
