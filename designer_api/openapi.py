"""``/openapi.json``: the API described from the app's definitions (OpenAPI 3.0.3), and ``/api/docs``.

The description is per user: signed in (session or token), it lists the entities, reports, intakes and
decision tables the user may use, each record operation they may attempt, with their fields only; anonymous, it lists
the routes every Ordo app has (sign-in, tokens, meta, tasks). ``/api/docs`` is the interactive page
(Swagger UI, served from the installed ``swagger-ui-bundle`` package: nothing from a CDN).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ordo.dsl.base import label_text

from . import openapi_decisions as decisions
from . import openapi_paths as paths
from .access import entity_actions, may_run_report, may_use_intake, readable_entities
from .auth import COOKIE, authenticate
from .body import check_known
from .context import Ctx, json_response, route
from .errors import ApiError
from .openapi_designer import designer as designer_paths
from .openapi_schemas import ERROR, LINK, entity_schemas

if TYPE_CHECKING:
    from ordo.engine.records import Transaction

OPENAPI = "3.0.3"


def build(ctx: Ctx, tx: Transaction | None) -> dict[str, Any]:
    """The OpenAPI document for the user of ``tx`` (None: anonymous)."""
    app, lang = ctx.app, ctx.lang
    manifest = app.definition.manifest
    spec: dict[str, Any] = {
        "openapi": OPENAPI,
        "info": {"title": label_text(manifest.label, lang, app.name), "version": str(manifest.version),
                 "description": (manifest.description or "") + paths.INTRO},
        "servers": [{"url": (ctx.request.scope.get("root_path") or "") + "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "tags": [],
        "paths": {},
        "components": {
            "schemas": {"Error": ERROR, "Link": LINK, **paths.SCHEMAS, **decisions.SCHEMAS},
            "responses": paths.RESPONSES,
            "parameters": paths.PARAMETERS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API token (`ordo token create APP USER`)"},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                            "description": "the session cookie set by sign-in; writes need the X-CSRF-Token header"},
            },
        },
    }
    paths.common(spec)
    decisions.listing(spec)
    if tx is None:
        return spec
    flows = app.features["flows"]
    with_flows = {f.entity for f in flows.flows.values()}
    for entity in readable_entities(tx):
        spec["components"]["schemas"].update(entity_schemas(tx, entity, lang))
        paths.records(spec, entity, entity_actions(tx, entity), app.compiled.entity(entity), lang,
                      entity in with_flows)
    reports = app.features["reports"]
    for name in reports.names():
        if may_run_report(tx, name):
            paths.report(spec, reports.get(name), lang)
    for name, intake in app.features["intake"].intakes.items():
        if may_use_intake(tx, name):
            paths.intake(spec, intake, lang)
    service = app.features["decisions"]
    for name in service.names():
        if app.permissions.may_decide(tx.user, name):
            decisions.decision(spec, tx, service.table(name), lang)
    if app.permissions.may(tx.user, "designer"):
        designer_paths(spec)
    return spec


def openapi_json(ctx: Ctx) -> Response:
    check_known(ctx.request, ())
    if "authorization" in ctx.request.headers:  # a program: a bad token is refused
        ctx.identity = authenticate(ctx.request)
    elif COOKIE in ctx.request.cookies:  # a browser: an ended session reads the public description
        try:
            ctx.identity = authenticate(ctx.request)
        except ApiError as e:
            if e.status != 401:
                raise
    if ctx.identity is None:
        return json_response(build(ctx, None))
    with ctx.app.reader(ctx.actor) as tx:
        return json_response(build(ctx, tx))


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} API</title>
  <link rel="stylesheet" href="{root}/api/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{root}/api/docs/assets/swagger-ui-bundle.js"></script>
  <script src="{root}/api/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="{root}/api/docs/init.js"></script>
</body>
</html>
"""

# The page asks for the spec with the browser's session (so it shows what the signed-in user may use) and
# sends the session's CSRF token with every call it makes.
INIT = """window.addEventListener("load", function () {
  var csrf = null;
  fetch(ROOT + "/api/v1/me", {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (me) { csrf = me && me.csrf_token; });
  window.ui = SwaggerUIBundle({
    url: ROOT + "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    requestInterceptor: function (req) {
      if (csrf) { req.headers["X-CSRF-Token"] = csrf; }
      return req;
    }
  });
});
"""


def docs_page(ctx: Ctx) -> Response:
    from html import escape

    root = escape(ctx.request.scope.get("root_path") or "")
    return HTMLResponse(PAGE.format(title=escape(ctx.app.name), root=root))


def docs_init(ctx: Ctx) -> Response:
    root = json.dumps(ctx.request.scope.get("root_path") or "")  # the app's prefix on a site
    return Response(f"var ROOT = {root};\n" + INIT, media_type="text/javascript")


def routes() -> list:
    from swagger_ui_bundle import swagger_ui_path

    return [
        route("/openapi.json", openapi_json, auth=False),
        route("/api/docs", docs_page, auth=False),
        route("/api/docs/init.js", docs_init, auth=False),
        Mount("/api/docs/assets", app=StaticFiles(directory=str(swagger_ui_path)), name="swagger_ui"),
    ]
