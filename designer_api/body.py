"""Request bodies and query parameters, read within limits and refused with the parameter named."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import ApiError, bad_request

MAX_DEPTH = 64  # nesting of a JSON body: records with child rows need 4


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


async def json_object(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object body (the usual shape of a write)."""
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype:
        raise ApiError(415, "unsupported_media_type", f"send application/json, not {ctype.split(';')[0]}")
    value = parse_json(await read_body(request, limit))
    if not isinstance(value, dict):
        raise bad_request("request body must be a JSON object")
    return value


def int_param(request: Request, name: str, default: int | None = None, *, minimum: int = 0,
              maximum: int = 2**63 - 1) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit() or len(raw) > 19:
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
