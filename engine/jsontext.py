"""The JSON text of values the engine stores (flow instance and token data, timeline details, notification
payloads): orjson (C speed), compact, keys in insertion order, what it cannot write by ``str`` as
``json.dumps(default=str)`` would (dates and datetimes as ``2024-05-01 10:00:00``, Decimals, sets ...).
What orjson refuses (an integer past 64 bits, a lone surrogate, a key it cannot write) goes through
``json`` as before. The text reads back (``json.loads``) to what ``json.dumps`` would have given (but a float
NaN or infinity, which is not JSON, is written as null). :func:`loads` reads it back (orjson, ``json`` for what
orjson refuses or might read otherwise: NaN, a run of 19 digits, as an integer past 64 bits would be), as
``json.loads`` does."""

from __future__ import annotations

import json
import re
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


_LONG_DIGITS = re.compile(r"\d{19}")  # a number orjson may read as a float (an integer past 64 bits)


def loads(text: str) -> Any:
    """The value of the JSON ``text``, as ``json.loads`` reads it."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
