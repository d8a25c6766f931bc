"""Entity definitions: naming, indexes, validations, split and merge, and their checks (the fields
themselves: field.py)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from .base import IDENT, Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T
from .field import FORM_CONDITIONS, FieldDef, conversion_scope, literal_error

__all__ = ["CHILD_SYSTEM_FIELDS", "RESERVED", "SYSTEM_FIELDS", "EntityDef", "FieldDef", "IndexDef", "MergeDef",
           "SplitDef", "ValidationDef", "write_scope"]  # FieldDef: defined in field.py, still imported from here

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

_NAMING_TOKEN = re.compile(r"\{([^{}]*)\}")
_DATE_TOKENS = {"YYYY", "YY", "MM", "DD"}


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
        # a list form was validated as list[str] with the entity: only an empty one can fail IndexDef's checks
        # (constructed unchecked, opening an app builds no validator of IndexDef: see Model's defer_build)
        return [i if isinstance(i, IndexDef) else IndexDef.model_construct(fields=i) if i else IndexDef(fields=i)
                for i in self.indexes]

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
