"""Simulate before publishing: the path the DRAFT of a flow would take for an existing record or sample
values, and who would get each task, on the live database (``engine/flows/simulate.py``: the same record
preparation as a write, computed fields included; nothing is written).

``GET /designer/flow/{name}/simulate`` shows the form; ``POST`` the same path runs it: ``record`` (an
existing record's name or id, read as the signed-in user may see it, hidden fields left out: the API's
``designer_edit.seen_record``), ``sample`` (JSON object of field values: a new record, or changes to the
picked one), ``decide`` (``NODE=reject`` lines; approvals are assumed approved otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ordo.engine.errors import OrdoError

from ..designer_edit import seen_record
from ..errors import ApiError
from ..web.base import Page
from . import drafts
from .base import designer_page, is_number, render

MAX_SAMPLE = 200_000


def _sample(pg: Page) -> dict[str, Any]:
    raw = (pg.form.get("sample") or "").strip()
    if not raw:
        return {}
    if len(raw) > MAX_SAMPLE:
        raise ApiError(413, "too_large", f"the sample is longer than {MAX_SAMPLE} characters", field="sample")
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ApiError(400, "bad_request", f"sample values: not JSON ({e})", field="sample") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "sample values: give a JSON object of field values", field="sample")
    return data


def _decisions(pg: Page) -> dict[str, str]:
    out = {}
    for line in (pg.form.get("decide") or "").splitlines():
        if line.strip():
            node, _, decision = line.partition("=")
            out[node.strip()] = decision.strip()
    return out


def simulate_page(pg: Page) -> Response:
    name = pg.path["name"]
    d = drafts.draft(pg)
    flow = d.definition.get("flow", name) if d.definition is not None else None
    if d.definition is not None and flow is None:
        raise ApiError(404, "not_found", f"no flow {name!r} in the draft")
    steps, error = None, None
    record, sample, decide = "", pg.form.get("sample") or "", pg.form.get("decide") or ""
    if pg.request.method == "POST":
        record = (pg.form.get("record") or "").strip()
        from ordo.engine.flows.simulate import simulate

        app = drafts.draft_app(pg)
        try:
            before = seen_record(pg.app, pg.actor, flow.entity, int(record) if is_number(record) else record) \
                if record else None
            steps = simulate(app, name, _sample(pg), initiator=pg.user, decisions=_decisions(pg), before=before,
                             lang=pg.lang, user=pg.actor)
        except ApiError:
            raise
        except OrdoError as e:
            error = e.message
    code = 200 if error is None else 400
    return render(pg, "designer/simulate.html", code, name=name, flow=flow, steps=steps, error=error,
                  record=record, sample=sample, decide=decide,
                  entity=flow.entity if flow is not None else "")


def routes() -> list:
    return [designer_page("/designer/flow/{name}/simulate", simulate_page, ("GET", "POST"))]
