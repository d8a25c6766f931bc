"""``GET /api/v1/meta``: what a client needs to build its screens, in the user's language.

Entities with their fields (type, label, help, required, read-only, options with labels, link target,
child table), forms, flows, reports, intakes, and what the user may do on each entity. Only what the user
may use is listed: entities they may not read, fields hidden from them, reports they may not run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ordo.dsl.base import humanize, label_text
from ordo.engine.present import SYSTEM_FIELDS
from ordo.engine.scales import field_scale

from .access import (
    entity_actions,
    field_access,
    may_run_report,
    may_see_flow,
    may_use_intake,
    readable_entities,
)
from .body import check_known
from .context import Ctx, route
from .reports import report_info

if TYPE_CHECKING:
    from ordo.engine.compiled import CompiledEntity, CompiledField
    from ordo.engine.records import Transaction


def field_info(tx: Transaction, cf: CompiledField, read_only: bool, lang: str) -> dict[str, Any]:
    d = cf.defn
    info: dict[str, Any] = {"name": cf.name, "type": d.type, "label": label_text(d.label, lang, cf.label),
                            "help": label_text(d.help, lang) or None, "required": d.required,
                            "read_only": read_only, "unique": d.unique}
    if d.type == "computed":
        info["value_type"] = cf.kind
    if cf.kind in ("decimal", "money") or (d.type == "computed" and cf.kind == "decimal"):
        info["scale"] = field_scale(tx.app.compiled, cf)
    if d.type == "enum":
        info["options"] = [{"value": o if isinstance(o, str) else o.value,
                            "label": o if isinstance(o, str) else label_text(o.label, lang, o.value)}
                           for o in d.options or []]
    if d.type == "link":
        info["link"] = d.entity
    if d.type == "table":
        info["table"] = d.entity
    if d.type == "related":
        info["related"] = d.entity
    if d.max_length:
        info["max_length"] = d.max_length
    return info


def entity_info(tx: Transaction, ce: CompiledEntity, lang: str) -> dict[str, Any]:
    access = field_access(tx, ce.name)
    fields = [field_info(tx, cf, cf.name in access.read_only, lang) for cf in ce.fields.values()
              if cf.name not in access.hidden]
    out = {"name": ce.name, "label": label_text(ce.defn.label, lang, ce.label), "child": ce.defn.child,
           "title_field": ce.defn.title_field if ce.defn.title_field not in access.hidden else None,
           "system_fields": list(SYSTEM_FIELDS) if not ce.defn.child else ["id"], "fields": fields}
    if not ce.defn.child:
        out["actions"] = entity_actions(tx, ce.name)
    return out


def child_entities(tx: Transaction, names: list[str]) -> list[str]:
    """The child entities whose rows the listed entities hold (nested tables too)."""
    out: list[str] = []
    todo = list(names)
    while todo:
        ce = tx.app.compiled.entities[todo.pop()]
        for cf in ce.table_fields:
            if cf.child is not None and cf.child.name not in out:
                out.append(cf.child.name)
                todo.append(cf.child.name)
    return out


def app_meta(tx: Transaction, lang: str) -> dict[str, Any]:
    """Everything the user may use, described in ``lang``."""
    app = tx.app
    entities = readable_entities(tx)
    shown = set(entities)
    listed = entities + [c for c in child_entities(tx, entities) if c not in shown]
    forms = [{"name": f.name, "entity": f.entity, "title": label_text(f.title, lang, humanize(f.name)),
              "sections": [{"title": label_text(s.title, lang) or None, "columns": s.columns,
                            "fields": [n for n in s.fields if n not in field_access(tx, f.entity).hidden],
                            "visible_if": s.visible_if} for s in f.sections]}
             for f in app.definition.all("form") if f.entity in shown]
    flows = app.features["flows"]
    reports = app.features["reports"]
    intakes = app.features["intake"]
    return {
        "app": {"name": app.name, "version": app.definition.version, "lang": lang},
        "user": {"name": tx.user.name, "roles": sorted(tx.user.roles), "admin": tx.user.is_admin},
        "entities": [entity_info(tx, app.compiled.entities[n], lang) for n in listed],
        "forms": forms,
        "flows": [{"name": f.name, "entity": f.entity, "label": label_text(f.defn.label, lang, humanize(f.name)),
                   "steps": [{"name": n.name, "type": n.type, "label": label_text(n.defn.label, lang, n.label)}
                             for n in f.nodes.values()]}
                  for f in flows.flows.values() if may_see_flow(tx, f.name)],
        "reports": [report_info(reports.get(n), lang) for n in reports.names() if may_run_report(tx, n)],
        "intakes": [{"name": i.name, "entity": i.entity.name,
                     "label": label_text(i.defn.label, lang, humanize(i.name)), "shapes": list(i.shapes),
                     "channel": i.defn.channel.entity if i.defn.channel else None}
                    for i in intakes.intakes.values() if may_use_intake(tx, i.name)],
    }


def meta(ctx: Ctx) -> dict[str, Any]:
    check_known(ctx.request, ())
    with ctx.app.reader(ctx.actor) as tx:
        return app_meta(tx, ctx.lang)


def routes() -> list:
    return [route("/api/v1/meta", meta)]
