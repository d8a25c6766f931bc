"""The parts of a report definition: parameters, dimensions, measures, chart, alert and
materialization, plus the conversion of parameter values (see :mod:`report`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import IDENT, Label, Model
from .expr.limits import value_problem
from .report_dates import period_range, relative_date

Bucket = Literal["day", "week", "month", "quarter", "year"]
Agg = Literal["count", "count_distinct", "sum", "avg", "min", "max", "median", "percentile"]
ParamType = Literal["string", "integer", "decimal", "boolean", "date", "datetime", "period"]
EVERY = re.compile(r"^(\d+)\s*([mhdw])$")
AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ParamDef(Model):
    type: ParamType = "string"
    label: Label | None = None
    required: bool = False
    default: Any = Field(default=None, description="A value; for dates a relative date such as 'today-30d'; "
                                                   "for periods a period name such as 'last_30_days'")
    options: list[str] | None = None


class DimensionDef(Model):
    name: str = Field(pattern=IDENT)
    expr: str = Field(description="Field path (also across links, e.g. customer.region) or expression")
    bucket: Bucket | None = Field(default=None, description="Group dates by day, week, month, quarter or year")
    label: Label | None = None

    @classmethod
    def of_path(cls, path: str) -> DimensionDef:
        """A dimension given as a field path; its name checked here, so that a valid one is constructed
        unchecked (opening an app builds no validator of it: see Model's defer_build), an invalid one refused
        by the validator as before."""
        name = path.replace(".", "_")
        if re.fullmatch(IDENT.strip("^$"), name):  # as pydantic's pattern: no trailing newline either
            return cls.model_construct(name=name, expr=path)
        return cls(name=name, expr=path)


class CohortDef(Model):
    """Cohort retention: each actor (e.g. a customer) joins the cohort of the period of their first
    event (e.g. first order); a row per cohort, a column per period since, each counting the actors of
    the cohort active in that period (or their share of the cohort)."""

    actor: str = Field(description="Who acts: an expression over the source rows, e.g. customer")
    date: str = Field(description="When: a date or datetime expression, e.g. order_date")
    period: Literal["day", "week", "month", "quarter", "year"] = "month"
    periods: int = Field(default=12, ge=1, le=120, description="Columns: periods since the first, 0..N")
    share: bool = Field(default=False, description="Show each count as a share of the cohort's size")
    label: Label | None = Field(default=None, description="The cohort column's label")


class MeasureDef(Model):
    name: str = Field(pattern=IDENT)
    label: Label | None = None
    agg: Agg | None = None
    expr: str | None = Field(default=None, description="Value aggregated (not needed for count)")
    filter: str | None = Field(default=None, description="Only rows where this holds count in this measure")
    formula: str | None = Field(default=None, description="Derived measure computed from other measures")
    p: float | None = Field(default=None, gt=0, lt=1, description="For agg: percentile, the fraction below "
                                                                 "(0.9: the 90th percentile)")
    window: Literal["running_total", "share", "change", "growth"] | None = Field(
        default=None, description="Computed across result rows from measure 'of': running total along the first "
                                  "date (else first) dimension, share of the grand total, change or growth (ratio) "
                                  "against the previous period")
    of: str | None = Field(default=None, description="The measure a 'window' measure is computed from")
    format: Literal["number", "integer", "percent", "money"] | None = None
    decimals: int | None = Field(default=None, ge=0, le=10)

    @model_validator(mode="after")
    def _shape(self) -> MeasureDef:
        if sum(x is not None for x in (self.agg, self.formula, self.window)) != 1:
            raise ValueError("a measure needs one of 'agg' (count, sum, ...), 'formula' or 'window'")
        if (self.window is None) != (self.of is None):
            raise ValueError("'window' and 'of' go together: window: running_total, of: revenue")
        if (self.agg == "percentile") != (self.p is not None):
            raise ValueError("agg: percentile needs 'p' (e.g. p: 0.9), and only percentile takes it")
        if self.window is not None and (self.expr or self.filter):
            raise ValueError("a window measure takes no 'expr' or 'filter'")
        if self.formula is not None and (self.expr or self.filter):
            raise ValueError("a derived measure ('formula') takes no 'expr' or 'filter'")
        if self.agg not in (None, "count") and not self.expr:
            raise ValueError(f"'{self.agg}' needs 'expr' (the value to aggregate)")
        return self


class ChartDef(Model):
    type: Literal["bar", "line", "pie"]
    x: str | None = Field(default=None, description="Dimension along the axis (default: the first)")
    y: list[str] | str | None = Field(default=None, description="Measure(s) plotted (default: the first)")
    series: str | None = Field(default=None, description="Dimension splitting the data into series")
    title: Label | None = None

    @property
    def measures(self) -> list[str]:
        return [self.y] if isinstance(self.y, str) else list(self.y or [])


class NotifyDef(Model):
    channel: Literal["inbox", "email", "webhook"] = "inbox"
    to: list[str] = Field(min_length=1, description="User names, 'role:NAME', or addresses/URLs")


class AlertDef(Model):
    when: str = Field(description="Condition on a result row (names: dimensions and measures)")
    on: Literal["rows", "totals"] = "rows"
    every: str = Field(default="1d", description="How often: 15m, 1h, 1d, 1w")
    at: str | None = Field(default=None, description="Time of day HH:MM (UTC) for daily/weekly checks")
    params: dict[str, Any] = Field(default_factory=dict)
    notify: list[NotifyDef] = Field(min_length=1)
    subject: str | None = None
    run_as: str | None = Field(default=None, description="User whose permissions apply (default: system)")

    def interval(self) -> dt.timedelta:
        m = EVERY.match(self.every.strip())
        if m is None:
            raise ValueError(f"invalid interval {self.every!r} (e.g. 15m, 1h, 1d, 1w)")
        n, unit = int(m.group(1)), m.group(2)
        return dt.timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n})


class MaterializeDef(Model):
    """Write the report's result rows into records of an entity (upsert by key columns)."""

    into: str = Field(description="Target entity receiving one record per result row")
    key: list[str] = Field(min_length=1, description="Result columns identifying a record (upsert key)")
    fields: dict[str, str] = Field(default_factory=dict, description="Target field -> result column (default: "
                                                                     "every column named like a field)")
    where: str | None = Field(default=None, description="Condition on the target records this result owns: "
                                                        "only they are matched, updated and removed")
    stale: Literal["keep", "delete"] = Field(default="keep", description="Owned records whose key is no longer "
                                                                        "in the result: keep or delete them")
    every: str | None = Field(default=None, description="Refresh on a schedule: 15m, 1h, 1d, 1w (worker)")
    at: str | None = Field(default=None, description="Time of day HH:MM (UTC) for daily/weekly refreshes")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameter values for scheduled refreshes")
    run_as: str | None = Field(default=None, description="User whose permissions apply to scheduled refreshes "
                                                         "(default: the system)")

    def interval(self) -> dt.timedelta:
        m = EVERY.match((self.every or "").strip())
        if m is None:
            raise ValueError(f"invalid interval {self.every!r} (e.g. 15m, 1h, 1d, 1w)")
        n, unit = int(m.group(1)), m.group(2)
        return dt.timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n})

    def mapping(self, columns: Sequence[str], target_fields: Mapping[str, Any]) -> dict[str, str]:
        """Target field -> result column."""
        if self.fields:
            out = dict(self.fields)
            for k in self.key:  # key columns are always written (to their same-named field by default)
                if k not in out.values() and k in target_fields:
                    out.setdefault(k, k)
            return out
        return {c: c for c in columns if c in target_fields}


def param_value(p: ParamDef, value: Any, today: dt.date) -> Any:
    """A parameter value coerced to its type (relative dates and periods resolved); ValueError if bad."""
    if value is None or value == "":
        return None
    t = p.type
    if t == "period":
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return tuple(relative_date(str(v), today) if not isinstance(v, dt.date) else v for v in value)
        return period_range(str(value), today)
    if t == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else relative_date(str(value), today)
    if t == "datetime":
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time())
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            return dt.datetime.combine(relative_date(str(value), today), dt.time())
    if t == "boolean":
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("true", "yes", "1"):
            return True
        if s in ("false", "no", "0"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if t == "integer":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            n = int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
        except (ValueError, OverflowError):
            raise ValueError(f"expected a whole number, got {value!r}") from None
        return _checked(n)
    if t == "decimal":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return _checked(Decimal(str(value).strip()))
        except ArithmeticError:
            raise ValueError(f"expected a number, got {value!r}") from None
    s = _checked(str(value))
    if p.options and s not in p.options:
        raise ValueError(f"'{s}' is not one of {', '.join(p.options)}")
    return s


def _checked(value: Any) -> Any:
    """``value`` if a database can take it (64-bit integers, finite numbers, text without NUL)."""
    problem = value_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value
