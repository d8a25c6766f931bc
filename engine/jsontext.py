"""The JSON text of values the engine stores (flow instance and token data, timeline details, notification
payloads): orjson (C speed), compact, keys in insertion order, what it cannot write by ``str`` as
``json.dumps(default=str)`` would (dates and datetimes as ``2024-05-01 10:00:00``, Decimals, sets ...).
What orjson refuses (an integer past 64 bits, a lone surrogate, a key it cannot write) goes through
``json`` as before. The text reads back (``json.loads``) to what ``json.dumps`` would have given (but a float
NaN or infinity, which is not JSON, is written as null)."""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_fallback = json.JSONEncoder(default=str, ensure_ascii=False).encode  # built once


def dumps(value: Any) -> str:
    """``value`` as JSON text."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _fallback(value)
