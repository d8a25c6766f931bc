"""Field definitions of an entity: types and type-specific settings, literal values, conversion rules."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from decimal import Decimal
from typing import Any, Literal

import re2
from pydantic import Field, field_validator, model_validator

from .base import Label, Model
from .expr import Scope
from .expr import types as T

FieldType = Literal[
    "string", "text", "integer", "decimal", "money", "boolean", "date", "datetime",
    "enum", "link", "table", "json", "computed", "related",
]

MONEY_PRECISION, MONEY_SCALE = 18, 2


class EnumOption(Model):
    value: str
    label: Label | None = None


def compile_pattern(pattern: str) -> Any:
    """A field pattern compiled with RE2, which matches in linear time (no catastrophic
    backtracking); ValueError for what RE2 does not support (backreferences, lookaround)."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"longer than {MAX_PATTERN} characters")
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as e:
        msg = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise ValueError(f"{msg} (patterns use RE2 syntax: no backreferences or lookaround)") from None


MAX_PATTERN = 1000


class FieldDef(Model):
    """One field of an entity. Type-specific settings are checked against ``type``."""

    type: FieldType
    label: Label | None = None
    help: Label | None = None
    required: bool = False
    unique: bool = False
    index: bool = False
    read_only: bool = False
    default: Any = Field(default=None, description="A literal, or an expression written as '=expr'")
    min: Any = None
    max: Any = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    precision: int | None = Field(default=None, ge=1, le=38)
    scale: int | None = Field(default=None, ge=0, le=18)
    options: list[str | EnumOption] | None = None
    entity: str | None = Field(default=None, description="Target entity of a link or table field")
    on_delete: Literal["restrict", "cascade", "set_null"] = "restrict"
    expr: str | None = Field(default=None, description="Expression of a computed field")
    where: str | None = Field(
        default=None,
        description="Related field: which records of 'entity' belong to this one; 'parent' is this record",
    )
    editable_if: str | None = Field(
        default=None, description="Changes to this field are accepted only while this holds (checked on the "
                                  "record before the change)")
    visible_if: str | None = Field(
        default=None, description="Forms show the field only while this holds (live in the browser); a value "
                                  "posted for it while hidden is refused")
    required_if: str | None = Field(
        default=None, description="Forms require a value while this holds (live in the browser, checked on save)")
    read_only_if: str | None = Field(
        default=None, description="Forms make the field read-only while this holds; a changed value posted "
                                  "for it then is refused")
    renamed_from: str | None = Field(default=None, description="Old field name to rename in the database")
    converted_from: FieldType | None = Field(
        default=None, description="Old type, to allow converting the column's values to the new type"
    )
    convert: str | None = Field(
        default=None, description="With converted_from: the rule giving the new value from the old one, an "
        "expression over :old (e.g. \"if(:old == 'high', 3, 1)\"); without it values convert as input does")
    map_values: dict[str, Any] | None = Field(
        default=None, description="Stored values to rewrite once at schema sync, old -> new (recorded in "
        "ordo_migrations; e.g. after renaming an option)")

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                compile_pattern(v)
            except ValueError as e:
                raise ValueError(f"invalid pattern: {e}") from None
        return v

    @model_validator(mode="after")
    def _type_settings(self) -> FieldDef:
        t = self.type
        needs = {"link": "entity", "table": "entity", "related": "where", "enum": "options", "computed": "expr"}
        if t in needs and getattr(self, needs[t]) is None:
            raise ValueError(f"'{needs[t]}' is required for a {t} field")
        allowed = {
            "entity": ("link", "table", "related"),
            "where": ("related",),
            "options": ("enum",),
            "expr": ("computed",),
            "precision": ("decimal", "money"),
            "scale": ("decimal", "money"),
            "pattern": ("string", "text"),
            "min_length": ("string", "text"),
            "max_length": ("string", "text"),
        }
        for attr, types in allowed.items():
            if getattr(self, attr) is not None and t not in types:
                raise ValueError(f"'{attr}' does not apply to a {t} field")
        if t == "related" and self.entity is None:
            raise ValueError("'entity' is required for a related field")
        if t in ("table", "related") and (self.unique or self.default is not None or self.index):
            raise ValueError(f"a {t} field cannot be unique, indexed or have a default")
        if t == "computed" and self.default is not None:
            raise ValueError("a computed field cannot have a default")
        return self

    # -- derived facts
    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(o if isinstance(o, str) else o.value for o in self.options or ())

    @property
    def is_stored(self) -> bool:
        """Has a column in the entity's own table (table fields live in child tables,
        related fields are queries)."""
        return self.type not in ("table", "related")

    @property
    def default_is_expr(self) -> bool:
        return isinstance(self.default, str) and self.default.startswith("=")

    def decimal_shape(self) -> tuple[int, int]:
        if self.type == "money":
            return self.precision or MONEY_PRECISION, self.scale if self.scale is not None else MONEY_SCALE
        return self.precision or 18, self.scale if self.scale is not None else 6

    def value_type(self, computed: T.Type | None = None) -> T.Type:
        """The expression-language type of this field's value."""
        t = self.type
        if t in ("string", "text"):
            return T.STRING
        if t == "enum":
            return T.Type("string", options=self.option_values)
        if t in ("decimal", "money"):
            return T.DECIMAL
        if t == "link":
            return T.record(self.entity or "")
        if t == "table":
            return T.table(self.entity or "")
        if t == "related":
            return T.related(self.entity or "")
        if t == "computed":
            return computed or T.ANY
        return {"integer": T.INTEGER, "boolean": T.BOOLEAN, "date": T.DATE, "datetime": T.DATETIME,
                "json": T.JSON}[t]


FORM_CONDITIONS = ("visible_if", "required_if", "read_only_if")  # per-field conditions forms apply live


def literal_error(f: FieldDef, value: Any) -> str | None:
    """Why ``value`` is not a valid literal for field ``f`` (None if it is)."""
    t = f.type
    ok = {
        "string": isinstance(value, str),
        "text": isinstance(value, str),
        "enum": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "decimal": isinstance(value, (int, float, Decimal)) and not isinstance(value, bool),
        "money": isinstance(value, (int, float, Decimal)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "date": isinstance(value, dt.date) and not isinstance(value, dt.datetime),
        "datetime": isinstance(value, dt.datetime),
        "json": True,
        "link": isinstance(value, (int, str)),
    }.get(t, False)
    if not ok:
        return f"{value!r} is not a valid {t} value"
    if t == "enum" and value not in f.option_values:
        return f"'{value}' is not one of the options ({', '.join(f.option_values)})"
    return None


class _NoFields:
    """The schema of a conversion rule: no fields, only the old value ``:old``."""

    compiled: OrderedDict = OrderedDict()

    def entity_fields(self, entity: str) -> dict:
        return {}


def conversion_scope(old_type: str) -> Scope:
    """The scope of a field's ``convert`` rule: ``:old`` is the stored value (of the old type)."""
    try:
        t = FieldDef(type=old_type).value_type() if old_type not in ("link", "table", "related", "computed") \
            else T.ANY
    except (ValueError, TypeError):
        t = T.ANY
    return Scope(_NoFields(), "_", params={"old": t})
