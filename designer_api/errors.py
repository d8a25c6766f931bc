"""Errors as JSON with one stable shape, for every failure a client can cause.

    {"code": "validation_failed", "message": "...", "field": "lines[0].qty",
     "errors": [{"field": "lines[0].qty", "message": "must be at least 1"}]}

Engine errors map to 4xx by type; anything unexpected is a 500 with no detail (logged on the server),
which the test suite treats as a bug.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ordo.engine.errors import (
    Conflict,
    DefinitionErrors,
    NotFound,
    OrdoError,
    PermissionDenied,
    SchemaChangeRefused,
    ValidationFailed,
)
from ordo.engine.flows import FlowFailed

log = logging.getLogger("ordo.server")


class ApiError(OrdoError):
    """An error raised by the HTTP layer itself, with its status and code."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.headers = headers or {}


def unauthenticated(message: str = "sign in or send an API token (Authorization: Bearer ...)") -> ApiError:
    return ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


def bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "bad_request", message, field=field)


_BY_TYPE: list[tuple[type, int, str]] = [
    (ValidationFailed, 422, "validation_failed"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (PermissionDenied, 403, "forbidden"),
    (FlowFailed, 409, "conflict"),  # the flow cannot go on (e.g. nobody to ask); nothing was changed
    (DefinitionErrors, 400, "invalid_definition"),
    (SchemaChangeRefused, 409, "schema_change_refused"),
]


def payload(code: str, message: str, field: str | None = None,
            errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field, "errors": errors or []}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(payload(code, message, field, errors), status_code=status, headers=headers)


def ordo_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrdoError)
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field, headers=exc.headers)
    if isinstance(exc, ValidationFailed):
        errors = [{"field": e.field or None, "message": e.message} for e in exc.errors]
        first = exc.errors[0].field or None if exc.errors else None
        message = f"{exc.entity} not saved: " + "; ".join(str(e) for e in exc.errors)
        return error_response(422, "validation_failed", message, first, errors)
    if isinstance(exc, DefinitionErrors):
        errors = [{"field": None, "message": str(e)} for e in exc.errors]
        return error_response(400, "invalid_definition", f"{len(exc.errors)} definition error(s)", None, errors)
    for kind, status, code in _BY_TYPE:
        if isinstance(exc, kind):
            return error_response(status, code, exc.message)
    return error_response(400, "bad_request", exc.message)


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "payload_too_large"}
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404:
        message = f"no such route: {request.method} {request.url.path}"
    return error_response(exc.status_code, codes.get(exc.status_code, "error"), message, headers=exc.headers)


def database_error(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", exc)
    return error_response(503, "unavailable", "the database is busy or unavailable; retry shortly",
                          headers={"Retry-After": "1"})


def data_error(request: Request, exc: Exception) -> Response:
    """The database could not compute a value the request asked for (e.g. whole-number arithmetic beyond
    64 bits in a filter on PostgreSQL): the request's fault, named as such."""
    assert isinstance(exc, sa_exc.DataError)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "value out of range"
    return error_response(400, "bad_request", f"the database could not compute a value of the request: {reason}")


def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "unexpected server error (logged)")


HANDLERS: dict[Any, Any] = {
    OrdoError: ordo_error,
    HTTPException: http_error,
    sa_exc.OperationalError: database_error,
    sa_exc.DataError: data_error,
    Exception: unexpected,
}
