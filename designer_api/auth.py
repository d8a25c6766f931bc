"""Who is calling: API tokens for programs, session cookies for browsers, sign-in and sign-out.

A program sends ``Authorization: Bearer ordo_...`` (``ordo token create USER``). A browser signs in with
a password and gets a signed, HttpOnly, SameSite=Lax session cookie; its writes must carry the session's
CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``). Sessions, tokens and failed-attempt
counters live in the database, so every worker agrees and sign-out or revocation applies at once.
The acting user of a call is always the authenticated one: no request can name another user.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from ordo.engine.actor import User
from ordo.engine.credentials import Credentials
from ordo.engine.db import advisory_lock, write_connection
from ordo.engine.errors import NotFound
from ordo.engine.schema_sync import meta_table
from ordo.engine.users import Directory

from .context import UNSAFE, Ctx, json_response, route
from .errors import ApiError, bad_request, unauthenticated

COOKIE = "ordo_session"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Identity:
    user: str
    via: str  # "token" or "session"
    csrf: str | None = None
    actor: User | None = None  # the user with their current roles, read with the credentials
    token_use: int | None = None  # the API token whose use is still to be recorded (``authenticate(record=False)``)


def secret_key(app: Any, configured: str | None) -> str:
    """The key that signs cookies: ORDO_SECRET_KEY, else one generated once and kept in the database
    (so every worker and process of this database signs alike)."""
    if configured:
        return configured
    with write_connection(app.engine) as conn:
        advisory_lock(conn, "ordo-secret-key")
        m = meta_table
        key = conn.execute(sa.select(m.c.value).where(m.c.key == "secret_key")).scalar()
        if key is None:
            key = secrets.token_urlsafe(48)
            conn.execute(sa.insert(m).values(key="secret_key", value=key))
    return str(key)


def _signer(request: Request) -> TimestampSigner:
    return request.app.state.signer


def _active(conn: sa.Connection, name: str) -> bool:
    return _actor(conn, name) is not None


def _actor(conn: sa.Connection, name: str) -> User | None:
    """The active user ``name`` with their roles, or None (unknown or disabled)."""
    info = Directory(conn).get(name)
    return info.as_actor() if info is not None and info.active else None


def record_token_use(app: Any, token_id: int, now: Any) -> None:
    """Write an API token's last use (at most once a minute per token, see ``token_use_stale``)."""
    with write_connection(app.engine) as conn:
        Credentials(conn).touch_token(token_id, now)


@contextlib.contextmanager
def _reading(app: Any, conn: sa.Connection | None) -> Iterator[sa.Connection]:
    if conn is not None:
        yield conn
        return
    with app.engine.connect() as c, c.begin():
        yield c


def authenticate(request: Request, csrf: str | None = None, conn: sa.Connection | None = None,
                 record: bool = True) -> Identity:
    """The caller, from a bearer token or the session cookie; refuse anonymous calls, disabled users,
    and unsafe session requests without the CSRF token (the header, or ``csrf``: the form field a page
    posted). ``conn``: read the credentials in that connection's open transaction (else in one of their own).
    ``record=False``: a token's use is not written here but left in ``Identity.token_use`` for
    :func:`record_token_use` (a caller that must not wait for the database's writer)."""
    app, now = request.app.state.ordo, request.app.state.ordo.clock.now()
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise unauthenticated("Authorization must be 'Bearer <token>'")
        with _reading(app, conn) as c:
            found = Directory(c).token_holder(secret.strip(), now)  # the user with their roles: one statement
        if found is None or not found[0].active:
            raise unauthenticated("the API token is unknown, revoked, or its user is disabled")
        if found[1] is not None and record:  # last use recorded at most once a minute
            record_token_use(app, found[1], now)
        return Identity(found[0].name, "token", actor=found[0].as_actor(), token_use=None if record else found[1])
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise unauthenticated()
    try:
        sid = _signer(request).unsign(cookie, max_age=int(request.app.state.settings.session_lifetime
                                                          .total_seconds())).decode()
    except (BadSignature, UnicodeDecodeError):
        raise unauthenticated("the session has expired or is invalid; sign in again") from None
    with _reading(app, conn) as c:
        found = Credentials(c).session(sid, now)
        actor = _actor(c, found[0]) if found is not None else None
        if found is None or actor is None:
            raise unauthenticated("the session has ended; sign in again")
    identity = Identity(found[0], "session", found[1], actor)
    if request.method in UNSAFE:
        sent = csrf if csrf is not None else request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), found[1].encode()):
            raise ApiError(403, "csrf_failed", "missing or wrong CSRF token (send the X-CSRF-Token header)")
    return identity


# -- routes


def sign_in(ctx: Ctx) -> Response:
    name, password = ctx.body.get("user"), ctx.body.get("password")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("'user' is required", "user")
    if not isinstance(password, str) or not password:
        raise bad_request("'password' is required", "password")
    name = name.strip()[:140]
    address = ctx.request.client.host if ctx.request.client else "unknown"
    app, settings, now = ctx.app, ctx.settings, ctx.app.clock.now()
    with write_connection(app.engine) as conn:
        creds = Credentials(conn)
        if creds.throttled(name, address, now, settings.throttle):
            raise ApiError(429, "too_many_attempts", "too many failed sign-ins; wait a few minutes and retry",
                           headers={"Retry-After": str(int(settings.throttle.window.total_seconds()))})
        ok = creds.verify_password(name, password) and _active(conn, name)
        if not ok:
            creds.record_failure(name, address, now, settings.throttle)
        else:
            creds.clear_failures(name)
            sid, csrf = creds.start_session(name, now, settings.session_lifetime)
    if not ok:  # the failure is counted (committed) before answering
        raise unauthenticated("wrong user name or password")
    response = json_response({"user": name, "csrf_token": csrf})
    set_session_cookie(ctx, response, sid)
    return response


def cookie_path(request: Request) -> str:
    """The session cookie's path: the app's prefix when several apps share a server (designer_api/site.py)."""
    return request.scope.get("root_path") or "/"


def set_session_cookie(ctx: Ctx, response: Response, sid: str) -> None:
    response.set_cookie(COOKIE, _signer(ctx.request).sign(sid).decode(), httponly=True, samesite="lax",
                        secure=ctx.settings.secure_cookies or ctx.request.url.scheme == "https",
                        max_age=int(ctx.settings.session_lifetime.total_seconds()), path=cookie_path(ctx.request))


def sign_out(ctx: Ctx) -> Response:
    if ctx.identity is not None and ctx.identity.via == "session":
        sid = _signer(ctx.request).unsign(ctx.request.cookies[COOKIE]).decode()
        with write_connection(ctx.app.engine) as conn:
            Credentials(conn).end_session(sid)
    response = json_response({"signed_out": True})
    response.delete_cookie(COOKIE, path=cookie_path(ctx.request))
    return response


def me(ctx: Ctx) -> dict[str, Any]:
    with ctx.app.reader(ctx.user) as tx:
        info = tx.users.get(ctx.user)
    assert info is not None
    return {"user": info.name, "display_name": info.display_name, "email": info.email, "roles": sorted(info.roles),
            "groups": sorted(info.groups), "csrf_token": ctx.identity.csrf if ctx.identity else None}


def list_tokens(ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.app.engine.connect() as conn:
        return [{"id": t.id, "label": t.label, "created_at": t.created_at, "last_used_at": t.last_used_at,
                 "revoked": t.revoked_at is not None} for t in Credentials(conn).tokens(ctx.user)]


def create_token(ctx: Ctx) -> Response:
    label = ctx.body.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        raise bad_request("'label' must be text of at most 200 characters", "label")
    with write_connection(ctx.app.engine) as conn:
        token_id, secret = Credentials(conn).create_token(ctx.user, ctx.app.clock.now(), label)
    return json_response({"id": token_id, "token": secret, "label": label}, status=201)


def revoke_token(ctx: Ctx) -> Response:
    token_id = _path_id(ctx)
    with write_connection(ctx.app.engine) as conn:
        try:
            Credentials(conn).revoke_token(token_id, ctx.app.clock.now(), user=ctx.user)
        except NotFound:
            raise NotFound(f"no live token {token_id}") from None
    return Response(status_code=204)


def _path_id(ctx: Ctx) -> int:
    raw = str(ctx.path.get("id", ""))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise bad_request(f"token id must be a whole number, got {raw[:40]!r}", "id")
    return int(raw)


def routes() -> list:
    return [
        route("/api/v1/auth/signin", sign_in, ["POST"], auth=False, body=True),
        route("/api/v1/auth/signout", sign_out, ["POST"]),
        route("/api/v1/me", me),
        route("/api/v1/auth/tokens", list_tokens),
        route("/api/v1/auth/tokens", create_token, ["POST"], body=True, name="create_token"),
        route("/api/v1/auth/tokens/{id}", revoke_token, ["DELETE"]),
    ]
