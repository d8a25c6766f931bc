"""Request bodies and query parameters, read within limits and refused with the parameter named."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from ordo.dsl.expr.limits import text_problem
from ordo.engine.coerce import CoercionError
from ordo.engine.coerce import parse_json as parse_values_json

from .errors import ApiError, bad_request

MAX_DEPTH = 64  # nesting of a JSON body: records with child rows need 4
MAX_LIST = 200  # items of a comma-separated query parameter
PARAM_PREFIX = "p."  # expression and report parameters: ?p.min=100


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body larger than {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused past ``limit`` bytes whether or not Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise bad_request("invalid Content-Length header")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """JSON text -> value; an error names what was wrong (encoding, syntax, nesting)."""
    if not raw.strip():
        raise bad_request(f"{what} is empty: send a JSON value")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request(f"{what} is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise bad_request(f"{what} is nested too deeply") from None
    except ValueError as e:
        raise bad_request(f"{what} is not valid JSON: {e}") from None
    if _depth(value) > MAX_DEPTH:
        raise bad_request(f"{what} is nested deeper than {MAX_DEPTH} levels")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


async def json_object(request: Request, limit: int, optional: bool = False) -> dict[str, Any]:
    """A JSON object body (the usual shape of a write); ``optional``: no body at all is ``{}``."""
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype:
        raise ApiError(415, "unsupported_media_type", f"send application/json, not {ctype.split(';')[0]}")
    raw = await read_body(request, limit)
    if optional and not raw.strip():
        return {}
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise bad_request("request body must be a JSON object")
    return value


def int_param(request: Request, name: str, default: int | None = None, *, minimum: int = 0,
              maximum: int = 2**63 - 1) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise bad_request(f"query parameter '{name}' must be a whole number, got {raw[:40]!r}", name)
    value = int(raw)
    if not minimum <= value <= maximum:
        raise bad_request(f"query parameter '{name}' must be between {minimum} and {maximum}, got {value}", name)
    return value


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise bad_request(f"query parameter '{name}' must be true or false, got {raw[:40]!r}", name)


def list_param(request: Request, name: str) -> list[str] | None:
    """A comma-separated list (``fields=name,total``); None when absent."""
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        return None
    items = [p.strip() for p in raw.split(",") if p.strip()]
    if len(items) > MAX_LIST:
        raise bad_request(f"query parameter '{name}' lists more than {MAX_LIST} items", name)
    return items


def text_param(request: Request, name: str, max_length: int = 10_000) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise bad_request(f"query parameter '{name}' is longer than {max_length} characters", name)
    problem = text_problem(raw)
    if problem is not None:
        raise bad_request(f"query parameter '{name}': {problem}", name)
    return raw


def prefixed_params(request: Request, prefix: str = PARAM_PREFIX) -> dict[str, Any]:
    """Values of ``p.NAME=value`` query parameters by NAME: JSON when the value parses as JSON
    (``p.min=100``, ``p.tags=["a"]``), else the text (``p.status=open``), as ``--param`` on the CLI."""
    out: dict[str, Any] = {}
    for key, raw in request.query_params.multi_items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if not name.isidentifier() or len(name) > 100:
            raise bad_request(f"query parameter '{key[:60]}': '{prefix}' must be followed by a parameter name", key)
        if name in out:
            raise bad_request(f"query parameter '{key}' is given twice", key)
        try:
            out[name] = parse_values_json(raw)
        except CoercionError as e:
            if not str(e).startswith("not valid JSON"):
                raise bad_request(f"query parameter '{key}': {e}", key) from None
            problem = text_problem(raw)
            if problem is not None:
                raise bad_request(f"query parameter '{key}': {problem}", key) from None
            out[name] = raw
    return out


def check_known(request: Request, known: Iterable[str], prefix: str | None = None) -> None:
    """Refuse query parameters the route does not take (a typo would otherwise be ignored silently)."""
    allowed = set(known) | {"lang"}
    for key in request.query_params:
        if key not in allowed and not (prefix and key.startswith(prefix)):
            names = ", ".join(sorted(allowed)) + (f", {prefix}NAME" if prefix else "")
            raise bad_request(f"unknown query parameter '{key[:60]}' (this route takes: {names})", key[:60])
