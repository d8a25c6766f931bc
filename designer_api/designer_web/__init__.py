"""The designer's web pages (``/designer/...``): business users change flows, forms, rules and reports in
the browser on the app's draft, simulate, and publish versions. Only users with the ``designer``
privilege reach them (``base.require``).

Modules: ``base`` (privilege, rendering, JSON answers), ``drafts`` (the draft as pages use it, over the
definition store), ``home`` (definitions, changes, publish, versions, rollback), ``editor`` (the YAML tab,
live validation, expression checks), ``flow_page`` + ``node_form`` (flow designer), ``simulate_page``,
``form_page`` (form designer), ``preview`` (report and allocation previews), ``clone`` (a template into a
new customer app). Named ``designer_web`` (not ``designer``) so that it never shadows the designer REST
API module ``designer_api/designer.py``.
"""

from __future__ import annotations

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import clone, editor, flow_page, form_page, home, preview, simulate_page
from .base import HERE


def routes() -> list:
    return [*home.routes(), *editor.routes(), *flow_page.routes(), *simulate_page.routes(), *form_page.routes(),
            *preview.routes(), *clone.routes(),
            Mount("/static/designer", app=StaticFiles(directory=str(HERE / "static")), name="designer_static")]
