"""Turn input values (Python, JSON or CSV text) into the typed value of a field."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from ordo.dsl.entity import FieldDef
from ordo.dsl.expr.sqltypes import trim_zeros


class CoercionError(ValueError):
    pass


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def coerce(f: FieldDef, value: Any, kind: str | None = None) -> Any:
    """The value for field ``f``; raise :class:`CoercionError` with a user message.

    ``kind`` overrides the field type (used for computed fields' result type).
    """
    if value is None:
        return None
    t = kind or f.type
    if isinstance(value, str) and value == "" and t not in ("string", "text", "json"):
        return None
    try:
        return _COERCE[t](f, value)
    except (CoercionError, KeyError):
        raise
    except (ValueError, TypeError, InvalidOperation, ArithmeticError):
        raise CoercionError(f"expected {_DESCRIBE.get(t, t)}, got {value!r}") from None


def _string(f: FieldDef, v: Any) -> str:
    if isinstance(v, (dict, list, bool)):
        raise CoercionError(f"expected text, got {type(v).__name__}")
    return v if isinstance(v, str) else str(v)


def _integer(f: FieldDef, v: Any) -> int:
    if isinstance(v, bool):
        raise CoercionError("expected a whole number, got a boolean")
    if isinstance(v, int):
        return v
    d = Decimal(str(v).strip()) if not isinstance(v, Decimal) else v
    if d != d.to_integral_value():
        raise CoercionError(f"expected a whole number, got {v!r}")
    return int(d)


def _decimal(f: FieldDef, v: Any) -> Decimal:
    if isinstance(v, bool):
        raise CoercionError("expected a number, got a boolean")
    if isinstance(v, Decimal):
        d = v
    else:
        d = Decimal(str(v).strip().replace(",", "") if isinstance(v, str) else str(v))
    if not d.is_finite():
        raise CoercionError(f"expected a finite number, got {v!r}")
    if f.type not in ("decimal", "money"):  # a computed result: round to the column's scale
        return trim_zeros(d.quantize(Decimal(1).scaleb(-10)))
    precision, scale = f.decimal_shape()
    q = d.quantize(Decimal(1).scaleb(-scale))
    if q != d:
        raise CoercionError(f"has more than {scale} decimal places: {v}")
    if abs(q) >= Decimal(10) ** (precision - scale):
        raise CoercionError(f"too large for {precision} digits with {scale} decimals: {v}")
    return q


def _boolean(f: FieldDef, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise CoercionError(f"expected true or false, got {v!r}")


def _date(f: FieldDef, v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v).strip())


def _datetime(f: FieldDef, v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        value = v
    elif isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    else:
        value = dt.datetime.fromisoformat(str(v).strip().replace("Z", "+00:00"))
    if value.tzinfo is not None:  # stored as naive UTC
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _enum(f: FieldDef, v: Any) -> str:
    s = _string(f, v)
    if s not in f.option_values:
        raise CoercionError(f"'{s}' is not one of the options ({', '.join(f.option_values)})")
    return s


def _json(f: FieldDef, v: Any) -> Any:
    try:
        json.dumps(v, default=str)
    except (TypeError, ValueError) as e:
        raise CoercionError(f"not JSON-serializable: {e}") from None
    return v


def _link(f: FieldDef, v: Any) -> Any:
    if isinstance(v, bool):
        raise CoercionError("expected a record id or name, got a boolean")
    if isinstance(v, int):
        return v
    if isinstance(v, dict) and "id" in v:
        return _link(f, v["id"])
    if isinstance(v, str):
        s = v.strip()
        return int(s) if s.isdigit() else s  # a name is resolved to its id by the store
    raise CoercionError(f"expected a record id or name, got {v!r}")


_COERCE = {
    "string": _string,
    "text": _string,
    "integer": _integer,
    "decimal": _decimal,
    "money": _decimal,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "enum": _enum,
    "json": _json,
    "link": _link,
    "record": _link,
    "any": lambda f, v: v,
    "null": lambda f, v: v,
}
_DESCRIBE = {
    "integer": "a whole number",
    "decimal": "a number",
    "money": "an amount",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date and time (YYYY-MM-DDTHH:MM:SS)",
    "json": "JSON data",
    "link": "a record id or name",
}


def to_jsonable(value: Any) -> Any:
    """A JSON-friendly form of a stored value (audit log, API output)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value
