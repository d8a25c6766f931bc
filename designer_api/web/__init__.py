"""The web pages of ``ordo serve``: sign-in, home, lists, records, inbox, reports, in English and Chinese.

Each page module has ``routes()``; pages act through the same engine calls and access checks as the REST
API (``designer_api.access``, the engine's row and field rules). Assets ship in ``static/`` (no build
step, nothing fetched from elsewhere).
"""

from __future__ import annotations

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import home, inbox, lang, list_actions, lists, record, report_page, signin
from .base import HERE


def routes() -> list:
    return [*signin.routes(), *lang.routes(), *home.routes(), *lists.routes(), *list_actions.routes(), *record.routes(),
            *inbox.routes(), *report_page.routes(),
            Mount("/static/forms", app=StaticFiles(directory=str(record.FORMS_STATIC), check_dir=False),
                  name="form_static"),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static")]
