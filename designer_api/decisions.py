"""``/api/v1/decisions``: the decision tables a user may use, and deciding with one.

``POST /api/v1/decisions/{name}`` with ``{"inputs": {...}}`` (the named inputs, or the fields of a
record of the table's entity) or ``{"record": id-or-name}`` (a stored record, read under the
user's row rules), and ``"explain": true`` for every rule's outcome. A table is open to users a
role grants ``{decision: NAME, actions: [run]}`` (admins always; everyone in an app without
roles); deciding on a stored record also needs read on that record. A table the user may not run
is not found, like a missing one.
"""

from __future__ import annotations

from typing import Any

from ordo.dsl.base import label_text
from ordo.engine.errors import NotFound

from .body import check_known
from .context import Ctx, route
from .errors import bad_request


def may_use(tx: Any, name: str) -> bool:
    """Whether the user may run decision table ``name`` (the roles' decision permissions)."""
    return tx.app.permissions.may_decide(tx.user, name)


def _info(ctx: Ctx, table: Any) -> dict[str, Any]:
    d = ctx.app.definition.get("decision", table.name)
    return {"name": table.name, "label": label_text(d.label, ctx.lang, table.name), "entity": table.entity,
            "hit_policy": table.policy_text(),
            "inputs": [{"name": i.name, "type": i.type.kind, "values": list(i.type.options or []) or None}
                       for i in table.inputs],
            "outputs": [{"name": o.name, "type": o.type.kind, "values": list(o.values) if o.values else None,
                         "default": o.default} for o in table.outputs]}


def list_decisions(ctx: Ctx) -> list[dict[str, Any]]:
    check_known(ctx.request, ())
    service = ctx.app.features["decisions"]
    with ctx.app.reader(ctx.actor) as tx:
        return [_info(ctx, t) for t in (service.table(n) for n in service.names()) if may_use(tx, t.name)]


def decide(ctx: Ctx) -> dict[str, Any]:
    check_known(ctx.request, ())
    name = str(ctx.path.get("name", ""))
    service = ctx.app.features["decisions"]
    body = ctx.body
    unknown = sorted(set(body) - {"inputs", "record", "explain"})
    if unknown:
        raise bad_request(f"unknown key '{unknown[0]}' (give inputs or record, and explain)", unknown[0])
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        raise bad_request("explain must be true or false", "explain")
    if ("inputs" in body) == ("record" in body):
        raise bad_request("give either inputs (an object) or record (an id or name)")
    with ctx.app.reader(ctx.actor) as tx:
        table = service.table(name) if name in service.names() else None
        if table is None or not may_use(tx, name):
            raise NotFound(f"no decision '{name[:60]}'")
        if "record" in body:
            key = body["record"]
            if isinstance(key, bool) or not isinstance(key, (int, str)):
                raise bad_request("record must be an id or a name", "record")
            result = service.decide_record(tx, name, key, explain=explain)
        else:
            if not isinstance(body["inputs"], dict):
                raise bad_request("inputs must be an object", "inputs")
            hidden = tx.app.permissions.hidden(tx.user, table.entity) if table.entity else frozenset()
            result = service.decide(name, body["inputs"], explain=explain, hidden=hidden)
    return {"decision": name, **({"explain": result, "result": result.get("result")} if explain
                                 else {"result": result})}


def routes() -> list:
    return [
        route("/api/v1/decisions", list_decisions),
        route("/api/v1/decisions/{name}", decide, ("POST",), body=True),
    ]
