"""Turn input values (Python, JSON or CSV text) into the typed value of a field."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from ordo.dsl.expr.limits import (
    INT_MAX,
    INT_MIN,
    MAX_EXPONENT,
    MAX_JSON_DEPTH,
    MAX_NUMBER_TEXT,
    int_problem,
    number_problem,
    text_problem,
)
from ordo.dsl.expr.sqltypes import trim_zeros
from ordo.dsl.field import FieldDef


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
        raise CoercionError(f"expected {_DESCRIBE.get(t, t)}, got {_shown(value)}") from None


def coercer(f: FieldDef, kind: str | None = None) -> Any:
    """``coerce`` for field ``f`` (and ``kind``) as one function of the value, what depends on the field
    chosen once (``CompiledField.coerce``): the same values, the same errors."""
    t = kind or f.type
    fn = _COERCE.get(t)
    if fn is None:  # unknown type: coerce's KeyError, at the call
        return lambda value: coerce(f, value, kind)
    if t in ("decimal", "money"):
        fn = _decimal_of(f)
    blank_is_none = t not in ("string", "text", "json")
    expected = f"expected {_DESCRIBE.get(t, t)}, got "

    def run(value: Any) -> Any:
        if value is None:
            return None
        if blank_is_none and isinstance(value, str) and value == "":
            return None
        try:
            return fn(f, value)
        except (CoercionError, KeyError):
            raise
        except (ValueError, TypeError, InvalidOperation, ArithmeticError):
            raise CoercionError(expected + _shown(value)) from None

    if t == "enum":  # one of the options as given: a set lookup, not the options' tuple built per call
        options = frozenset(o for o in f.option_values if text_problem(o) is None)
        return lambda value: value if type(value) is str and value in options else run(value)
    return _exact(t, run)


def _exact(t: str, run: Any) -> Any:
    """``run`` behind a test of the values it returns unchanged (an int in range for an integer or a link,
    a bool, a date, a naive datetime, plain ASCII text without NUL, one of an enum's options): those are
    returned without the call."""
    if t == "boolean":
        return lambda value: value if value is None or value is True or value is False else run(value)
    if t in ("integer", "link", "record"):
        return lambda value: value if type(value) is int and INT_MIN <= value <= INT_MAX else run(value)
    if t == "date":
        return lambda value: value if type(value) is dt.date else run(value)
    if t == "datetime":
        return lambda value: value if type(value) is dt.datetime and value.tzinfo is None else run(value)
    if t in ("string", "text"):
        return lambda value: value if type(value) is str and value.isascii() and "\x00" not in value \
            else run(value)
    return run


def check_text(s: str) -> str:
    """``s`` if it can be stored as text; NUL characters and lone surrogates are refused."""
    problem = text_problem(s)
    if problem is not None:
        raise CoercionError(problem)
    return s


def _string(f: FieldDef, v: Any) -> str:
    if isinstance(v, (dict, list, bool)):
        raise CoercionError(f"expected text, got {type(v).__name__}")
    return check_text(v if isinstance(v, str) else str(v))


def coerce_name(v: Any) -> str:
    """A record name given by the caller: text (a number is taken as its text)."""
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise CoercionError(f"a record name must be text, got {_shown(v)}")
    return check_text(str(v))


def _shown(v: Any) -> str:
    """A value for an error message, cut short (a hostile input can be megabytes long)."""
    r = repr(v)
    return r if len(r) <= 60 else r[:40] + f"... ({len(r)} characters)"


def to_number(v: Any) -> Decimal:
    """A finite Decimal from input (text, int, float or Decimal), refusing before any costly
    conversion a text longer than MAX_NUMBER_TEXT or an exponent beyond MAX_EXPONENT."""
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, int):
        if v.bit_length() > 256:
            raise CoercionError("number out of range")
        d = Decimal(v)
    else:
        text = v.strip().replace(",", "") if isinstance(v, str) else str(v)
        if len(text) > MAX_NUMBER_TEXT:
            raise CoercionError(f"number longer than {MAX_NUMBER_TEXT} characters")
        d = Decimal(text)
    if d.is_finite() and (not d or abs(d.adjusted()) <= MAX_EXPONENT):  # number_problem's checks, inline
        return d
    problem = number_problem(d)
    if problem is not None:
        raise CoercionError(f"{problem}: {_shown(v)}")
    return d


def _integer(f: FieldDef, v: Any) -> int:
    if isinstance(v, bool):
        raise CoercionError("expected a whole number, got a boolean")
    if isinstance(v, int):
        n = v
    else:
        d = to_number(v)
        if d != d.to_integral_value():
            raise CoercionError(f"expected a whole number, got {_shown(v)}")
        n = int(d)
    problem = int_problem(n)
    if problem is not None:
        raise CoercionError(f"{problem}: {_shown(v)}")
    return n


def _decimal(f: FieldDef, v: Any) -> Decimal:
    return _decimal_of(f)(f, v)


_TEN_DECIMALS = Decimal(1).scaleb(-10)


def _decimal_of(f: FieldDef) -> Any:
    """The coercion of a decimal field's values, its shape worked out once."""
    if f.type not in ("decimal", "money"):  # a computed result: round to the column's scale

        def result(f: FieldDef, v: Any) -> Decimal:
            if isinstance(v, bool):
                raise CoercionError("expected a number, got a boolean")
            return trim_zeros(to_number(v).quantize(_TEN_DECIMALS))

        return result
    precision, scale = f.decimal_shape()
    quantum = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)

    def stored(f: FieldDef, v: Any) -> Decimal:
        if isinstance(v, bool):
            raise CoercionError("expected a number, got a boolean")
        d = to_number(v)
        q = d.quantize(quantum)
        if q != d:
            raise CoercionError(f"has more than {scale} decimal places: {v}")
        if abs(q) >= limit:
            raise CoercionError(f"too large for {precision} digits with {scale} decimals: {v}")
        return q

    return stored


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


def check_json(v: Any, values: bool = True) -> Any:
    """``v`` if it is JSON data Ordo can store: nested at most MAX_JSON_DEPTH levels and (with
    ``values``) numbers in range, text without NUL characters or lone surrogates (no recursion)."""
    stack = [(v, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise CoercionError(f"JSON data nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            for key, value in item.items():
                if values and not isinstance(key, str):
                    raise CoercionError(f"JSON object keys must be text, got {_shown(key)}")
                if values:
                    check_text(key)
                stack.append((value, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((value, depth + 1) for value in item)
        elif not values:
            continue
        elif isinstance(item, str):
            check_text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            problem = int_problem(item)
            if problem is not None:
                raise CoercionError(problem)
        elif isinstance(item, (float, Decimal)):
            problem = number_problem(item)
            if problem is not None:
                raise CoercionError(problem)
    return v  # other values (dates, ...) are stored as their text


def _json(f: FieldDef, v: Any) -> Any:
    return check_json(v)


def _link(f: FieldDef, v: Any) -> Any:
    if isinstance(v, bool):
        raise CoercionError("expected a record id or name, got a boolean")
    if isinstance(v, dict) and "id" in v:
        return _link(f, v["id"])
    if isinstance(v, str):
        s = check_text(v.strip())
        if not (s.isascii() and s.isdigit()):
            return s  # a name is resolved to its id by the store
        v = int(s) if len(s) <= MAX_NUMBER_TEXT else v
    if isinstance(v, int) and int_problem(v) is None:
        return v
    if isinstance(v, (int, str)):
        raise CoercionError(f"record id out of range: {_shown(v)}")
    raise CoercionError(f"expected a record id or name, got {_shown(v)}")


def parse_json(text: str, values: bool = True) -> Any:
    """JSON text as data; :class:`CoercionError` (with the line) for bad or too deeply nested JSON,
    and (with ``values``) for values no database can store (see :func:`check_json`)."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise CoercionError(f"JSON data nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as e:
        raise CoercionError(f"not valid JSON: {e}") from None
    if not values and type(text) is str and text.count("{") + text.count("[") < MAX_JSON_DEPTH:
        return data  # fewer containers than the depth allowed (counted in C, strings too): nested within bounds
    return check_json(data, values)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


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


_AS_IS = frozenset({str, int, float, bool, type(None)})  # JSON-friendly already (by exact type: the common case)


def to_jsonable(value: Any) -> Any:
    """A JSON-friendly form of a stored value (audit log, API output)."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    convert = _BY_TYPE.get(kind)
    if convert is not None:
        return convert(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return _list(value)
    if isinstance(value, dict):
        return _dict(value)
    return value


def _list(value: list) -> list:
    return [v if type(v) in _AS_IS else to_jsonable(v) for v in value]


def _dict(value: dict) -> dict:
    return {k: v if type(v) in _AS_IS else (str(v) if type(v) is Decimal else to_jsonable(v))
            for k, v in value.items()}


_BY_TYPE = {Decimal: str, dt.date: dt.date.isoformat, dt.datetime: dt.datetime.isoformat, list: _list, dict: _dict}
