"""The function catalogue: names, arity and typing rules.

Only the signatures live here. Each compiler (Python, SQL) keeps its own
implementation table keyed by the same names, so adding a function means one
entry here plus one in each compiler; a test checks the tables stay in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .types import ANY, BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, STRING, Type, unify

# An argument-typing rule returns the result type, or an error message.
Rule = Callable[[list[Type]], "Type | str"]


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int | None
    rule: Rule
    doc: str
    category: str


def _expect(kinds: tuple[str, ...], t: Type) -> bool:
    return t.is_any or t.kind in kinds


def _fixed(arg_kinds: list[tuple[str, ...]], result: Type | Callable[[list[Type]], Type]) -> Rule:
    def rule(args: list[Type]) -> Type | str:
        for i, (t, kinds) in enumerate(zip(args, arg_kinds, strict=False)):
            if not _expect(kinds, t):
                return f"argument {i + 1} must be {' or '.join(kinds)}, got {t}"
        return result(args) if callable(result) else result

    return rule


NUM = ("integer", "decimal")
STR = ("string",)


def _numeric_result(args: list[Type]) -> Type:
    return INTEGER if all(a.kind == "integer" for a in args) else DECIMAL


def _unify_all(args: list[Type]) -> Type | str:
    result = args[0]
    for a in args[1:]:
        u = unify(result, a)
        if u is None:
            return f"arguments must have one type, got {result} and {a}"
        result = u
    return result


def _if_rule(args: list[Type]) -> Type | str:
    if not _expect(("boolean",), args[0]):
        return f"argument 1 (the condition) must be boolean, got {args[0]}"
    u = unify(args[1], args[2])
    if u is None:
        return f"both branches must have one type, got {args[1]} and {args[2]}"
    return u


def _minmax_rule(args: list[Type]) -> Type | str:
    for a in args:
        if not _expect(("integer", "decimal", "string", "date", "datetime"), a):
            return f"arguments must be numbers, strings or dates, got {a}"
    return _unify_all(args)


def _date_part(args: list[Type]) -> Type | str:
    if not _expect(("date", "datetime"), args[0]):
        return f"argument 1 must be date or datetime, got {args[0]}"
    return INTEGER


FUNCTIONS: dict[str, Function] = {}


def _add(name: str, lo: int, hi: int | None, rule: Rule, doc: str, category: str) -> None:
    FUNCTIONS[name] = Function(name, lo, hi, rule, doc, category)


# -- null handling and logic
_add("if", 3, 3, _if_rule, "if(cond, a, b): a when cond is true, else b (null cond -> b)", "logic")
_add("coalesce", 1, None, _unify_all, "coalesce(a, b, ...): first argument that is not null", "null")
_add("is_null", 1, 1, lambda a: BOOLEAN, "is_null(x): true when x is null", "null")
_add("is_blank", 1, 1, _fixed([STR], BOOLEAN), "is_blank(s): true when s is null or ''", "null")
# -- strings
_add("len", 1, 1, _fixed([STR], INTEGER), "len(s): number of characters", "string")
_add("lower", 1, 1, _fixed([STR], STRING), "lower(s): lower case (ASCII letters on SQLite)", "string")
_add("upper", 1, 1, _fixed([STR], STRING), "upper(s): upper case (ASCII letters on SQLite)", "string")
_add("trim", 1, 1, _fixed([STR], STRING), "trim(s): without leading/trailing spaces", "string")
_add("contains", 2, 2, _fixed([STR, STR], BOOLEAN), "contains(s, part): part occurs in s (case-sensitive)", "string")
_add("starts_with", 2, 2, _fixed([STR, STR], BOOLEAN), "starts_with(s, prefix)", "string")
_add("ends_with", 2, 2, _fixed([STR, STR], BOOLEAN), "ends_with(s, suffix)", "string")
_add("concat", 1, None, lambda a: next((f"argument {i + 1} must be string, got {t}" for i, t in enumerate(a)
                                          if not _expect(STR, t)), STRING),
     "concat(a, b, ...): strings joined; null counts as ''", "string")
_add("substr", 2, 3, _fixed([STR, ("integer",), ("integer",)], STRING),
     "substr(s, start, length?): part of s, start is 1-based", "string")
_add("replace", 3, 3, _fixed([STR, STR, STR], STRING), "replace(s, old, new): every old replaced by new", "string")
# -- numbers
_add("abs", 1, 1, _fixed([NUM], _numeric_result), "abs(x): absolute value", "math")
_add("round", 1, 2, _fixed([NUM, ("integer",)], DECIMAL), "round(x, digits=0): half away from zero", "math")
_add("sqrt", 1, 1, _fixed([NUM], DECIMAL), "sqrt(x): square root (null when x < 0)", "math")
_add("floor", 1, 1, _fixed([NUM], INTEGER), "floor(x): largest integer <= x", "math")
_add("ceil", 1, 1, _fixed([NUM], INTEGER), "ceil(x): smallest integer >= x", "math")
_add("min", 1, None, _minmax_rule, "min(a, b, ...) smallest value; min(table, expr) over child rows", "math")
_add("max", 1, None, _minmax_rule, "max(a, b, ...) largest value; max(table, expr) over child rows", "math")
# -- dates
_add("today", 0, 0, lambda a: DATE, "today(): the current date", "date")
_add("now", 0, 0, lambda a: DATETIME, "now(): the current date and time (UTC)", "date")
_add("date", 1, 1, _fixed([("datetime", "date")], DATE), "date(dt): the date part of a datetime", "date")
_add("year", 1, 1, _date_part, "year(d)", "date")
_add("month", 1, 1, _date_part, "month(d): 1-12", "date")
_add("day", 1, 1, _date_part, "day(d): 1-31", "date")
_add("days_between", 2, 2, _fixed([("date",), ("date",)], INTEGER), "days_between(a, b): b - a in days", "date")
_add("distance", 4, 4, _fixed([NUM, NUM, NUM, NUM], DECIMAL),
     "distance(lat1, lon1, lat2, lon2): great-circle distance in km between two coordinates in degrees "
     "(3 decimals)", "math")
_add("changed", 1, 1, _fixed([STR], BOOLEAN),
     "changed('field'): the write being checked changes that field (every field on create); only in a "
     "validation's 'when'", "logic")
_add("decide", 1, 3, lambda a: ANY,
     "decide('table', record?, 'output'?): the result of a decision table for the current record (or a "
     "linked one); 'output' picks one output of a table with several", "logic")
_add("add_days", 2, 2, _fixed([("date",), ("integer",)], DATE), "add_days(d, n): the date n days after d", "date")

# Aggregates over a child table: first argument is a table field, the second an
# expression evaluated on each child row.
AGGREGATES: dict[str, str] = {
    "sum": "sum(table, expr): total of expr over the rows (0 when none)",
    "count": "count(table) rows; count(table, cond) rows where cond is true",
    "avg": "avg(table, expr): average of expr over the rows (null when none)",
    "min": "min(table, expr): smallest expr over the rows (null when none)",
    "max": "max(table, expr): largest expr over the rows (null when none)",
    "any": "any(table, cond): some row satisfies cond",
    "all": "all(table, cond): every row satisfies cond (true when none)",
}


def describe() -> list[tuple[str, str, str]]:
    """(category, name, doc) for the reference documentation."""
    rows = [(f.category, f.name, f.doc) for f in FUNCTIONS.values()]
    rows += [("aggregate", name, doc) for name, doc in AGGREGATES.items()]
    return sorted(rows)
