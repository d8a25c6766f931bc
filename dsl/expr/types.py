"""Value types of the expression language."""

from __future__ import annotations

from dataclasses import dataclass

SCALARS = ("string", "integer", "decimal", "boolean", "date", "datetime", "json", "null", "any")


@dataclass(frozen=True)
class Type:
    """A value type. ``kind`` is a scalar name, ``list``, ``record`` or ``table``.

    ``arg`` is the item type of a list or the entity name of a record/table.
    ``options`` holds the allowed values of an enum-typed string.
    """

    kind: str
    arg: Type | str | None = None
    options: tuple[str, ...] | None = None

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list of {self.arg}"
        if self.kind in ("record", "table", "related"):
            return f"{self.kind} of {self.arg}"
        return self.kind

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("integer", "decimal")

    @property
    def is_null(self) -> bool:
        return self.kind == "null"

    @property
    def is_any(self) -> bool:
        return self.kind in ("any", "null")

    def plain(self) -> Type:
        """The type without enum options."""
        return Type(self.kind, self.arg) if self.options else self


STRING = Type("string")
INTEGER = Type("integer")
DECIMAL = Type("decimal")
BOOLEAN = Type("boolean")
DATE = Type("date")
DATETIME = Type("datetime")
JSON = Type("json")
NULL = Type("null")
ANY = Type("any")
OBJECT = Type("object")  # an open mapping (e.g. the acting user): any key, values of any type


def list_of(t: Type) -> Type:
    return Type("list", t)


def record(entity: str) -> Type:
    return Type("record", entity)


def table(entity: str) -> Type:
    return Type("table", entity)


def related(entity: str) -> Type:
    """Records of ``entity`` that belong to a record by a condition (aggregated in SQL)."""
    return Type("related", entity)


ROWS = ("table", "related")  # kinds usable as the first argument of an aggregate


def compatible(a: Type, b: Type) -> bool:
    """Can values of ``a`` and ``b`` be compared for equality / share a slot?"""
    if a.is_any or b.is_any:
        return True
    if a.is_numeric and b.is_numeric:
        return True
    if a.kind == "list" and b.kind == "list":
        return compatible(a.arg, b.arg)  # type: ignore[arg-type]
    return a.kind == b.kind and (a.kind not in ("record", "table", "related") or a.arg == b.arg)


def unify(a: Type, b: Type) -> Type | None:
    """The common type of two branches (``if``, ``coalesce``, list items), or None."""
    if a.is_null:
        return b.plain()
    if b.is_null or b.kind == "any":
        return a.plain()
    if a.kind == "any":
        return b.plain()
    if a.is_numeric and b.is_numeric:
        return INTEGER if a.kind == b.kind == "integer" else DECIMAL
    if compatible(a, b):
        return a.plain()
    return None


def from_python(value: object) -> Type:
    """Type of a Python value (used to type query parameters)."""
    import datetime as _dt
    from decimal import Decimal

    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, (Decimal, float)):
        return DECIMAL
    if isinstance(value, str):
        return STRING
    if isinstance(value, _dt.datetime):
        return DATETIME
    if isinstance(value, _dt.date):
        return DATE
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [from_python(v) for v in value]
        t: Type = NULL
        for it in items:
            t = unify(t, it) or ANY
        return list_of(t)
    return JSON


def param_types(params: dict[str, object]) -> dict[str, Type]:
    """The types of parameter values (``:name``), refusing a value no database can take (an integer
    beyond 64 bits, text with NUL characters, ...) with an error naming the parameter."""
    from ..errors import ExpressionError
    from .limits import value_problem

    out: dict[str, Type] = {}
    for name, value in params.items():
        problem = value_problem(value)
        if problem is not None:
            raise ExpressionError(f"parameter :{name}: {problem}")
        out[name] = from_python(value)
    return out
