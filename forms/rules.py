"""The live rules of one form as a JavaScript bundle for the browser.

``form_script(app, form)`` compiles, once, every condition and computed field a form shows: the
``visible_if`` of its sections, the ``visible_if`` / ``required_if`` / ``read_only_if`` of its fields and
of its child tables' fields, and the computed fields of the entity and of its child rows (in dependency
order), with the field types ``forms/static/ordo-form.js`` needs to read input values. The result is
one script, ``OrdoForm.register("<form>", {...});``, served from the application's own origin (no eval,
no inline script). Expressions go through :mod:`ordo.dsl.expr.to_js`, the same checked trees the
server evaluates in Python and SQL, so the page and the server agree.

With ``user`` and ``permissions``, fields hidden from the user are left out, and so is every rule that
reads one (the browser would compute it without the value; the server still applies it on save).
What only the server can compute (aggregates over related records) is left out of the live rules too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ordo.dsl.app import AppDefinition
from ordo.dsl.entity import EntityDef
from ordo.dsl.expr import CompiledExpression, Scope, ast, compile_expression
from ordo.dsl.expr.to_js import BrowserUnsupported, js_string, to_js
from ordo.dsl.field import FORM_CONDITIONS, FieldDef

from .scale import expr_scale


class Js(str):
    """JavaScript source compiled from a checked expression (emitted as code, not as a string)."""


_READABLE = {"integer", "decimal", "boolean", "date", "datetime", "string", "json"}
_KINDS = {"visible_if": "visible", "required_if": "required", "read_only_if": "readonly"}


@dataclass
class Layout:
    """What a form shows: its entity, and its sections as (index, field names, visible_if)."""

    name: str
    entity: EntityDef
    sections: list[tuple[int, list[str], str | None]]

    @property
    def fields(self) -> list[str]:
        return [n for _, names, _ in self.sections for n in names if n in self.entity.fields]


def layout(app: AppDefinition, form: str) -> Layout:
    """The form named ``form``, or the default layout of the entity named ``form``; KeyError if neither."""
    fdef = app.get("form", form)
    if fdef is not None:
        entity = app.get("entity", fdef.entity)
        return Layout(form, entity, [(i, list(s.fields), s.visible_if) for i, s in enumerate(fdef.sections)])
    entity = app.get("entity", form)
    if entity is None or entity.child:
        raise KeyError(f"no form or entity named {form!r}")
    return Layout(form, entity, [(0, [n for n, f in entity.fields.items() if f.type != "related"], None)])


def field_type(f: FieldDef) -> dict[str, Any]:
    """How the browser reads a field's input (``t``: the value type; links and tables name their entity)."""
    out: dict[str, Any] = {"t": "string" if f.type in ("string", "text") else f.type}
    if f.type in ("decimal", "money"):
        out["scale"] = f.decimal_shape()[1]
    if f.type in ("link", "table"):
        out["entity"] = f.entity
    return out


@dataclass
class _Bundle:
    app: AppDefinition
    hidden: dict[str, frozenset[str]]
    links: set[str] = field(default_factory=set)  # entities whose records the rules read through links
    server_only: set[tuple[str, str]] = field(default_factory=set)  # computed fields not computed live

    def compile(self, entity: str, text: str) -> tuple[CompiledExpression, Js] | None:
        """``text`` compiled for the browser; None when it reads a hidden field or runs only on the server."""
        compiled = compile_expression(text, Scope(self.app.schema, entity))
        paths = [n for n in ast.walk(compiled.tree) if isinstance(n, ast.Path)]
        for path in paths:
            for step in path.steps:
                if step.entity is not None and step.name in self.hidden.get(step.entity, ()):
                    return None
            first = path.steps[0] if path.steps else None
            if first is not None and (first.entity, first.name) in self.server_only:
                return None  # reads a computed value the browser does not have
        try:
            js = Js(to_js(compiled.tree, text=text))
        except BrowserUnsupported:
            return None
        for path in paths:
            self.links.update(s.target for s in path.steps if s.kind == "link" and s.target)
        return compiled, js

    def rules(self, entity: EntityDef, names: Iterable[str]) -> dict[str, Any]:
        """Field types, conditions and computed fields of ``entity`` (the fields in ``names``)."""
        hidden = self.hidden.get(entity.name, frozenset())
        shown = [n for n in names if n in entity.fields and n not in hidden and entity.fields[n].type != "related"]
        out: dict[str, Any] = {"fields": {n: field_type(entity.fields[n]) for n in shown},
                               "visible": {}, "required": {}, "readonly": {}, "computed": []}
        for n in computed_order(self.app, entity):
            if n not in shown:
                continue
            got = self.compile(entity.name, entity.fields[n].expr or "")
            if got is None:
                self.server_only.add((entity.name, n))
                continue
            kind = got[0].type.kind
            out["fields"][n] = {"t": kind if kind in _READABLE else "string"}
            out["computed"].append({"field": n, "fn": got[1], "type": kind,
                                    "scale": expr_scale(self.app, got[0])})
        for n in shown:
            f = entity.fields[n]
            for attr in FORM_CONDITIONS:
                text = getattr(f, attr)
                if text:
                    got = self.compile(entity.name, text)
                    if got is not None:
                        out[_KINDS[attr]][n] = got[1]
        return out


def computed_order(app: AppDefinition, entity: EntityDef) -> list[str]:
    """Computed fields of ``entity``, each after the computed fields it reads (as the engine computes
    them; the definitions were checked, so there is no cycle)."""
    computed = [n for n, f in entity.fields.items() if f.type == "computed"]
    deps = {n: {p.parts[0] for p in compile_expression(entity.fields[n].expr or "", Scope(
        app.schema, entity.name)).paths() if p.root is None} & set(computed) for n in computed}
    order: list[str] = []
    seen: set[str] = set()

    def visit(n: str) -> None:
        if n not in seen:
            seen.add(n)
            for d in sorted(deps[n]):
                visit(d)
            order.append(n)

    for n in computed:
        visit(n)
    return order


def _hidden(app: AppDefinition, entities: Iterable[str], user: Any, permissions: Any) -> dict[str, frozenset[str]]:
    if user is None or permissions is None:
        return {}
    return {e: permissions.fields(user, e)[0] for e in entities}


def form_rules(app: AppDefinition, form: str, *, user: Any = None, permissions: Any = None) -> dict[str, Any]:
    """The rules bundle of ``form`` as data (functions as JavaScript source text)."""
    lay = layout(app, form)
    entity = lay.entity
    names = lay.fields
    bundle = _Bundle(app, _hidden(app, [e.name for e in app.all("entity")], user, permissions))
    computed = [n for n in computed_order(app, entity) if n not in names]
    main = bundle.rules(entity, [*names, *computed])
    main["entity"] = entity.name
    main["sections"] = {}
    for index, _, text in lay.sections:
        if text:
            compiled = bundle.compile(entity.name, text)
            if compiled is not None:
                main["sections"][str(index)] = compiled[1]
    main["children"] = {}
    for n in names:
        f = entity.fields[n]
        if f.type == "table" and n in main["fields"]:
            child = app.get("entity", f.entity)
            main["children"][n] = bundle.rules(child, list(child.fields))
    hidden = bundle.hidden
    main["links"] = {e: {n: field_type(f) for n, f in app.get("entity", e).fields.items()
                         if f.type not in ("table", "related") and n not in hidden.get(e, ())}
                     for e in sorted(bundle.links)}
    return main


def _js_value(value: Any) -> str:
    """Bundle data as JavaScript: dicts and lists as literals, :class:`Js` as the function source it is."""
    if isinstance(value, Js):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{js_string(k)}: {_js_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_js_value(v) for v in value) + "]"
    if isinstance(value, str):
        return js_string(value)
    return json.dumps(value)


def form_script(app: AppDefinition, form: str, *, user: Any = None, permissions: Any = None) -> str:
    """The JavaScript of ``form``'s rules: ``OrdoForm.register("<form>", function (E) {...})``, working
    whichever of ordo-expr.js, ordo-form.js and this script the page loads first (see module doc)."""
    data = form_rules(app, form, user=user, permissions=permissions)
    return ("/* Ordo form rules, generated from the definitions */\n"
            "(function (root) {\n\"use strict\";\n"
            "var OF = root.OrdoForm || (root.OrdoForm = {pending: [], register: function (n, r) "
            "{ this.pending.push([n, r]); }});\n"
            f"OF.register({js_string(form)}, function (E) {{ return {_js_value(data)}; }});\n"
            "})(typeof globalThis !== \"undefined\" ? globalThis : this);\n")


def script_etag(script: str) -> str:
    """A content hash for ``Cache-Control`` / ``ETag`` of a served rules script."""
    return hashlib.sha256(script.encode("utf-8")).hexdigest()[:32]


class FormScripts:
    """Rules scripts of one app, built once per form and set of hidden fields (keep one per app, as a
    :class:`~ordo.forms.render.FormRenderer`): ``get(form, user=, permissions=)`` -> (script, etag)."""

    MAX = 512  # scripts kept (forms x distinct field-rule profiles)

    def __init__(self, app: AppDefinition) -> None:
        self.app = app
        self._cache: dict[tuple, tuple[str, str]] = {}

    def get(self, form: str, *, user: Any = None, permissions: Any = None) -> tuple[str, str]:
        hidden = _hidden(self.app, [e.name for e in self.app.all("entity")], user, permissions)
        key = (form, tuple(sorted((e, tuple(sorted(h))) for e, h in hidden.items() if h)))
        hit = self._cache.get(key)
        if hit is None:
            script = form_script(self.app, form, user=user, permissions=permissions)
            hit = self._cache[key] = (script, script_etag(script))
            if len(self._cache) > self.MAX:
                self._cache.pop(next(iter(self._cache)))
        return hit
