"""The flow designer: the draft's diagram next to the published one, a step's properties as a form, steps
added / removed / reconnected, and the YAML tab of the same file.

Every structured edit is a ``flow_edit`` call on the draft file's text (only the affected lines change)
saved to the draft; the page then shows the new diagram, form and YAML, and the draft's errors at their
lines. ``GET /designer/flow/{name}`` (``?node=`` a step's form, ``?tab=yaml``); ``POST .../node``,
``.../insert``, ``.../remove``, ``.../reconnect``.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from starlette.responses import Response

from ordo.dsl import flow_edit
from ordo.dsl.errors import DefinitionError, OrdoError
from ordo.dsl.flow_nodes import successors

from ..errors import ApiError
from ..web.base import Page, redirect
from . import drafts, node_form
from .base import designer_page, flash, lines_of, render
from .editor import digest

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _flow_def(definition: Any, name: str) -> Any:
    return definition.get("flow", name) if definition is not None else None


def _source(pg: Page, name: str) -> tuple[drafts.Draft, Any, str]:
    """(draft, the flow's draft definition or None when the draft does not load, its file)."""
    d = drafts.draft(pg)
    flow = _flow_def(d.definition, name)
    known = d.definition or drafts.published_definition(pg) or pg.app.definition
    file = drafts.file_of(d.definition, "flow", name) or drafts.file_of(known, "flow", name)
    if file is None or file not in d.files:
        raise ApiError(404, "not_found", f"no flow {name!r} in the draft")
    return d, flow, file


def _svg(definition: Any, flowdef: Any, lang: str) -> str:
    from ordo.engine.flows.compile import compile_flow
    from ordo.engine.flows.diagram import svg

    try:
        return svg(compile_flow(definition, flowdef), lang)
    except OrdoError as e:  # a draft that does not compile still gets its page (and its YAML tab)
        return f'<p class="alert warn">{escape(e.message)}</p>'


def _raw_node(definition: Any, flow: str, node: str) -> dict[str, Any]:
    """The step as written in the file (for writing back only what the form changed)."""
    located = definition.located("flow", flow)
    data: Any = located.source.data if located is not None and located.source is not None else {}
    for part in (*located.base, "nodes", node) if located is not None else ():
        data = data[part] if isinstance(data, (dict, list)) else {}
    return dict(data) if isinstance(data, dict) else {}


def flow_page(pg: Page) -> Response:
    name = pg.path["name"]
    d, flow, file = _source(pg, name)
    nodes = list(flow.nodes) if flow is not None else []
    selected = pg.params.get("node") if pg.params.get("node") in nodes else None
    live = pg.app.definition.get("flow", name)
    published_svg = _svg(pg.app.definition, live, pg.lang) if live is not None else None
    edges = []
    if selected:
        edges = [".".join(str(p) for p in path) for path, _ in successors(flow.nodes[selected])]
    return render(pg, "designer/flow.html", name=name, flow=flow, file=file, text=d.files[file],
                  opened=digest(d.files[file]),
                  tab="yaml" if pg.params.get("tab") == "yaml" or flow is None else "diagram",
                  draft_svg=_svg(d.definition, flow, pg.lang) if flow is not None else None,
                  published_svg=published_svg, nodes=nodes, selected=selected,
                  node=node_form.fields(flow.nodes[selected]) if selected else None, edges=edges,
                  errors=lines_of(d.errors), file_errors=lines_of(d.errors, file), done=flash(pg),
                  roles=sorted(pg.app.definition.names("role")),
                  modes=node_form.MODES, approver_kinds=node_form.APPROVER_KINDS,
                  timeout_actions=node_form.TIMEOUT_ACTIONS)


def _edit(pg: Page, change: Any, done: str, node: str | None = None) -> Response:
    """Apply ``change(text, file)`` to the flow's file, save the draft, go back to the designer."""
    name = pg.path["name"]
    d, flow, file = _source(pg, name)
    if flow is None:
        raise ApiError(409, "conflict", "the draft has errors: correct them in the YAML tab first")
    try:
        text = change(d.files[file], file, flow)
    except DefinitionError as e:
        raise ApiError(400, "bad_request", str(e)) from None
    if text != d.files[file]:  # refused (409) when someone saved the file since it was read
        drafts.store(pg).save_file(file, text, pg.user, expected=digest(d.files[file]), action="edit_file")
    return redirect(f"/designer/flow/{name}?done={done}" + (f"&node={node}#props" if node else ""))


def _node_name(pg: Page, field: str, flow: Any) -> str:
    node = (pg.form.get(field) or "").strip()
    if node not in flow.nodes:
        raise ApiError(400, "bad_request", f"no step {node!r} in this flow", field=field)
    return node


def save_node(pg: Page) -> Response:
    def change(text: str, file: str, flow: Any) -> str:
        node = _node_name(pg, "node", flow)
        wanted = node_form.props(pg.form, flow.nodes[node], list(flow.nodes))
        raw = _raw_node(drafts.draft(pg).definition, flow.name, node)
        props = {k: v for k, v in wanted.items() if raw.get(k) != v}
        return flow_edit.set_node(text, flow.name, node, props, file=file) if props else text

    return _edit(pg, change, "node_saved", pg.form.get("node"))


def insert(pg: Page) -> Response:
    """A new approval step before/after another; with a condition, only records meeting it go through it
    (a condition step in front of it sends the others on as before)."""
    new = (pg.form.get("new_name") or "").strip()
    cond = (pg.form.get("when") or "").strip()

    def change(text: str, file: str, flow: Any) -> str:
        anchor = _node_name(pg, "anchor", flow)
        where = pg.form.get("position")
        if where not in ("before", "after"):
            raise ApiError(400, "bad_request", "position must be before or after", field="position")
        if not NAME.match(new) or new in flow.nodes:
            raise ApiError(400, "bad_request", f"the new step's name {new!r} must be new to the flow and "
                           "made of lowercase letters, digits and _", field="new_name")
        step: dict[str, Any] = {}
        label = node_form._label_value(pg.form)
        if label:
            step["label"] = label
        step.update(type="approval", approvers=node_form.approvers(pg.form))
        mode = pg.form.get("mode") or "any"
        if mode not in ("any", "all", "sequential"):
            raise ApiError(400, "bad_request", "mode must be any, all or sequential", field="mode")
        step["mode"] = mode
        text = flow_edit.insert_node(text, flow.name, new, step, file=file,
                                     **{"before" if where == "before" else "after": anchor})
        if not cond:
            return text
        gate = f"{new}_check"
        if gate in flow.nodes:
            raise ApiError(400, "bad_request", f"the flow already has a step {gate!r}", field="new_name")
        after_new = anchor if where == "before" else (flow.nodes[anchor].next or None)
        check = {"type": "condition", "branches": [{"when": cond, "to": new}], "default": after_new}
        return flow_edit.insert_node(text, flow.name, gate, check, before=new, file=file)

    return _edit(pg, change, "node_added", new)


def remove(pg: Page) -> Response:
    def change(text: str, file: str, flow: Any) -> str:
        return flow_edit.remove_node(text, flow.name, _node_name(pg, "node", flow), file=file)

    return _edit(pg, change, "node_removed")


def reconnect(pg: Page) -> Response:
    def change(text: str, file: str, flow: Any) -> str:
        node = _node_name(pg, "node", flow)
        target = _node_name(pg, "target", flow)
        edge = (pg.form.get("edge") or "").strip()
        path = tuple(edge.split("."))
        known = {tuple(str(p) for p in p_): p_ for p_, _ in successors(flow.nodes[node])}
        if path not in known:
            raise ApiError(400, "bad_request", f"step {node!r} has no edge {edge!r}", field="edge")
        real = known[path]
        spec = (f"branch:{real[1]}" if real[0] == "branches" else f"to:{real[1]}" if real[0] == "to"
                else "timeout" if real[0] == "timeout" and real[1] == "to"
                else f"timeout:{real[1]}" if real[0] == "timeout" else str(real[0]))
        return flow_edit.reconnect(text, flow.name, node, spec, target, file=file)

    return _edit(pg, change, "reconnected", pg.form.get("node"))


def routes() -> list:
    return [designer_page("/designer/flow/{name}", flow_page),
            designer_page("/designer/flow/{name}/node", save_node, ("POST",)),
            designer_page("/designer/flow/{name}/insert", insert, ("POST",)),
            designer_page("/designer/flow/{name}/remove", remove, ("POST",)),
            designer_page("/designer/flow/{name}/reconnect", reconnect, ("POST",))]
