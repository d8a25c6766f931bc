"""Sign-in and sign-out pages: the same password check, throttling and sessions as ``/api/v1/auth``."""

from __future__ import annotations

from starlette.responses import Response

from ordo.engine.credentials import Credentials
from ordo.engine.db import write_connection

from ..auth import COOKIE, _active, _signer, cookie_path, set_session_cookie
from .base import Page, local, page, redirect
from .lang import remembered, set_lang_cookie


def signin_form(pg: Page) -> Response:
    return pg.render("signin.html", next=local(pg.params.get("next")), error=None, name="")


def signin(pg: Page) -> Response:
    name = (pg.form.get("user") or "").strip()[:140]
    password = pg.form.get("password") or ""
    target = local(pg.form.get("next"))
    address = pg.request.client.host if pg.request.client else "unknown"
    settings, now = pg.settings, pg.app.clock.now()
    sid = chosen = None
    with write_connection(pg.app.engine) as conn:
        creds = Credentials(conn)
        if creds.throttled(name, address, now, settings.throttle):
            return pg.render("signin.html", 429, next=target, error=pg.t("too_many"), name=name)
        ok = bool(name and password) and creds.verify_password(name, password) and _active(conn, name)
        if not ok:
            creds.record_failure(name, address, now, settings.throttle)
        else:
            creds.clear_failures(name)
            sid, _ = creds.start_session(name, now, settings.session_lifetime)
            chosen = remembered(conn, name)
    if sid is None:
        return pg.render("signin.html", 401, next=target, error=pg.t("wrong_password"), name=name)
    response = redirect(target)
    set_session_cookie(pg, response, sid)  # type: ignore[arg-type]  # needs .request and .settings only
    if chosen is not None:
        set_lang_cookie(response, chosen)
    return response


def signout(pg: Page) -> Response:
    if pg.identity is not None and pg.identity.via == "session":
        sid = _signer(pg.request).unsign(pg.request.cookies[COOKIE]).decode()
        with write_connection(pg.app.engine) as conn:
            Credentials(conn).end_session(sid)
    response = redirect("/signin")
    response.delete_cookie(COOKIE, path=cookie_path(pg.request))
    return response


def routes() -> list:
    return [page("/signin", signin_form, auth=False), page("/signin", signin, ["POST"], auth=False),
            page("/signout", signout, ["POST"])]
