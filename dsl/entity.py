"""Entity definitions: fields, naming, indexes and validations."""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from decimal import Decimal
from typing import Any, Literal

import re2
from pydantic import Field, field_validator, model_validator

from .base import IDENT, Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T

FieldType = Literal[
    "string", "text", "integer", "decimal", "money", "boolean", "date", "datetime",
    "enum", "link", "table", "json", "computed", "related",
]

SYSTEM_FIELDS: dict[str, T.Type] = {
    "id": T.INTEGER,
    "name": T.STRING,
    "created_at": T.DATETIME,
    "created_by": T.STRING,
    "updated_at": T.DATETIME,
    "updated_by": T.STRING,
    "version": T.INTEGER,
}
CHILD_SYSTEM_FIELDS: dict[str, T.Type] = {"id": T.INTEGER, "parent_id": T.INTEGER, "idx": T.INTEGER}
RESERVED = set(SYSTEM_FIELDS) | set(CHILD_SYSTEM_FIELDS)

MONEY_PRECISION, MONEY_SCALE = 18, 2
_NAMING_TOKEN = re.compile(r"\{([^{}]*)\}")
_DATE_TOKENS = {"YYYY", "YY", "MM", "DD"}


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


def write_scope(schema: Any, entity: str) -> Scope:
    """The scope of a condition that checks a write of ``entity``: its fields and ``changed('field')``."""
    return Scope(schema, entity, changes=True)


class ValidationDef(Model):
    """A rule every write of the entity must satisfy, within its scope (``on``, ``when``).

    Writes by flows and jobs are checked only against the rules that read a field they change."""

    expr: str = Field(description="Condition that must hold (null counts as failing)")
    message: Label
    field: str | None = Field(default=None, description="Field the message is attached to")
    on: list[Literal["create", "update"]] = Field(
        default_factory=lambda: ["create", "update"], min_length=1,
        description="Writes the rule applies to: [create], [update] or [create, update] (default)")
    when: str | None = Field(default=None, description="Check the rule only when this holds, e.g. "
                                                       "\"changed('due_date')\" (the write changes that field)")


class SplitDef(Model):
    """How a record may be split: some child rows (or part of their quantity) move to a new record."""

    table: str = Field(description="Table field whose rows are split off")
    quantity: str | None = Field(default=None, description="Numeric field of the rows that may be split partly")
    when: str | None = Field(default=None, description="Splitting is allowed only while this holds")
    origin_field: str | None = Field(default=None, description="Field of the new record that receives the "
                                                               "original record (a link) or its name (text)")
    values: dict[str, str] = Field(default_factory=dict, description="Fields of the new record set from "
                                                                     "expressions over the original record "
                                                                     "(e.g. a unique reference made distinct)")


class MergeDef(Model):
    """How records may be merged: rows of matching records are gathered into the oldest one."""

    table: str = Field(description="Table field whose rows are gathered")
    match: list[str] = Field(min_length=1, description="Fields that must be equal for records to merge")
    when: str | None = Field(default=None, description="Only records for which this holds are merged")
    names_field: str | None = Field(default=None, description="Text field of the kept record listing the "
                                                              "names of all merged records")
    mark: dict[str, Any] = Field(default_factory=dict, description="Values set on the absorbed records, which "
                                                                    "keep their rows for reference (without a "
                                                                    "mark they are deleted)")


class IndexDef(Model):
    fields: list[str] = Field(min_length=1)
    unique: bool = False


@register_kind
class EntityDef(Definition):
    """An entity: a kind of record with typed fields, stored in its own table."""

    kind_name = "entity"
    folder = "entities"

    kind: Literal["entity"] = "entity"
    label: Label | None = None
    child: bool = Field(default=False, description="Rows of this entity live only inside a parent's table field")
    naming: str | None = Field(default=None, description="Name pattern, e.g. 'SO-{YYYY}-{#####}' or '{code}'")
    title_field: str | None = None
    fields: dict[str, FieldDef] = Field(default_factory=dict)
    indexes: list[IndexDef | list[str]] = Field(default_factory=list)
    validations: list[ValidationDef] = Field(default_factory=list)
    dropped_fields: list[str] = Field(
        default_factory=list, description="Fields removed from the definition whose columns may be dropped"
    )
    split: SplitDef | None = None
    merge: MergeDef | None = None

    @field_validator("fields")
    @classmethod
    def _field_names(cls, v: dict[str, FieldDef]) -> dict[str, FieldDef]:
        for name in v:
            if not re.match(IDENT, name):
                raise ValueError(f"field name '{name}' must be lower case letters, digits and _")
            if name in RESERVED:
                raise ValueError(f"field name '{name}' is reserved for a system field")
        return v

    def index_list(self) -> list[IndexDef]:
        return [i if isinstance(i, IndexDef) else IndexDef(fields=i) for i in self.indexes]

    def references(self) -> list[tuple[str, str]]:
        return [("entity", f.entity) for f in self.fields.values() if f.entity]

    def check(self, ctx: CheckContext) -> None:
        for fname, f in self.fields.items():
            self._check_field(ctx, fname, f)
        if self.title_field and self.title_field not in self.fields:
            ctx.error(("title_field",), f"unknown field '{self.title_field}'")
        for i, idx in enumerate(self.index_list()):
            for fname in idx.fields:
                if fname not in self.fields and fname not in SYSTEM_FIELDS:
                    ctx.error(("indexes", i), f"unknown field '{fname}' in index")
                elif fname in self.fields and not self.fields[fname].is_stored:
                    ctx.error(("indexes", i), f"table field '{fname}' cannot be indexed")
        scope = Scope(ctx.schema, self.name)
        for i, v in enumerate(self.validations):
            ctx.expr(("validations", i, "expr"), v.expr, scope, T.BOOLEAN)
            if v.when:
                ctx.expr(("validations", i, "when"), v.when, write_scope(ctx.schema, self.name), T.BOOLEAN)
            if v.field and v.field not in self.fields:
                ctx.error(("validations", i, "field"), f"unknown field '{v.field}'")
        if self.naming:
            self._check_naming(ctx)
        self._check_operations(ctx, scope)
        if self.child and self.naming:
            ctx.error(("naming",), "a child entity has no name series")

    def _check_field(self, ctx: CheckContext, fname: str, f: FieldDef) -> None:
        path = ("fields", fname)
        if f.type in ("link", "table", "related"):
            target = ctx.ref((*path, "entity"), "entity", f.entity or "")
            if target is not None:
                if f.type == "table" and not target.child:
                    ctx.error((*path, "entity"), f"'{f.entity}' must be declared 'child: true' to be used as a table")
                if f.type == "link" and target.child:
                    ctx.error((*path, "entity"), f"cannot link to child entity '{f.entity}'")
        if self.child and f.type in ("table", "related"):
            ctx.error((*path, "type"), f"a child entity cannot have {f.type} fields")
        if f.type == "related" and f.where:
            target = ctx.app.get("entity", f.entity or "")
            if target is not None and target.child:
                ctx.error((*path, "entity"), f"related records must be of a non-child entity, not '{f.entity}'")
            elif target is not None:
                rscope = Scope(ctx.schema, f.entity, roots={"parent": T.record(self.name)})
                ctx.expr((*path, "where"), f.where, rscope, T.BOOLEAN)
        scope = Scope(ctx.schema, self.name)
        if f.type == "computed":
            ctx.expr((*path, "expr"), f.expr, scope)
        if f.editable_if:
            ctx.expr((*path, "editable_if"), f.editable_if, scope, T.BOOLEAN)
        for attr in FORM_CONDITIONS:
            text = getattr(f, attr)
            if text is not None:
                if f.type == "related" or (f.type == "computed" and attr != "visible_if"):
                    ctx.error((*path, attr), f"a {f.type} field cannot have '{attr}'")
                else:
                    ctx.expr((*path, attr), text, scope, T.BOOLEAN)
        if f.default_is_expr:
            ctx.expr((*path, "default"), f.default[1:], scope, None)
        elif f.default is not None:
            err = literal_error(f, f.default)
            if err:
                ctx.error((*path, "default"), err)
        for bound in ("min", "max"):
            value = getattr(f, bound)
            if value is not None:
                if f.type not in ("integer", "decimal", "money", "date", "datetime"):
                    ctx.error((*path, bound), f"'{bound}' does not apply to a {f.type} field")
                else:
                    err = literal_error(f, value)
                    if err:
                        ctx.error((*path, bound), err)
        if f.type == "enum" and len(set(f.option_values)) != len(f.option_values):
            ctx.error((*path, "options"), "duplicate option values")
        self._check_migration(ctx, path, f)

    def _check_migration(self, ctx: CheckContext, path: tuple, f: FieldDef) -> None:
        if f.convert is not None:
            if f.converted_from is None:
                ctx.error((*path, "convert"), "'convert' needs 'converted_from: <the old type>'")
            else:
                ctx.expr((*path, "convert"), f.convert, conversion_scope(f.converted_from))
        if f.map_values and f.type == "enum":
            for old, new in f.map_values.items():
                if new is not None and new not in f.option_values:
                    ctx.error((*path, "map_values", old), f"'{new}' is not an option of this field "
                                                         f"({', '.join(map(str, f.option_values))})")
        elif f.map_values and not f.is_stored:
            ctx.error((*path, "map_values"), f"a {f.type} field stores no values to map")

    def _check_operations(self, ctx: CheckContext, scope: Scope) -> None:
        for op in ("split", "merge"):
            spec = getattr(self, op)
            if spec is None:
                continue
            table = self.fields.get(spec.table)
            if table is None or table.type != "table":
                ctx.error((op, "table"), f"'{spec.table}' is not a table field of {self.name}")
            elif op == "split" and spec.quantity:
                child = ctx.app.get("entity", table.entity or "")
                qf = child.fields.get(spec.quantity) if child else None
                if child is not None and (qf is None or qf.type not in ("integer", "decimal", "money")):
                    ctx.error((op, "quantity"), f"'{spec.quantity}' is not a numeric field of {table.entity}")
            if spec.when:
                ctx.expr((op, "when"), spec.when, scope, T.BOOLEAN)
        for fname, text in (self.split.values.items() if self.split else ()):
            f = self.fields.get(fname)
            if f is None or not f.is_stored or f.type == "computed":
                ctx.error(("split", "values", fname), f"'{fname}' is not a stored field of {self.name}", key=True)
            else:
                ctx.expr(("split", "values", fname), text, scope,
                         None if f.type in ("link", "json") else f.value_type().plain())
        if self.split and self.split.origin_field and self.split.origin_field not in self.fields:
            ctx.error(("split", "origin_field"), f"unknown field '{self.split.origin_field}'")
        if self.merge:
            for i, name in enumerate(self.merge.match):
                if name not in self.fields:
                    ctx.error(("merge", "match", i), f"unknown field '{name}'")
            if self.merge.names_field and self.merge.names_field not in self.fields:
                ctx.error(("merge", "names_field"), f"unknown field '{self.merge.names_field}'")
            for name in self.merge.mark:
                if name not in self.fields:
                    ctx.error(("merge", "mark", name), f"unknown field '{name}'", key=True)

    def _check_naming(self, ctx: CheckContext) -> None:
        for token in _NAMING_TOKEN.findall(self.naming or ""):
            if token in _DATE_TOKENS or re.fullmatch(r"#+", token):
                continue
            if token not in self.fields:
                ctx.error(("naming",), f"unknown token '{{{token}}}' (use a field name, YYYY, YY, MM, DD or ###)")


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
