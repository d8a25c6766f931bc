"""Intake definitions (``intake/*.yaml``): how outside payloads become records.

An intake maps the documents of a payload (nested JSON documents, JSON lines,
or flat CSV rows grouped into documents by a column) onto one entity and the
rows of its table fields. Several *shapes* (one per payload layout) may feed
the same entity; a *channel* record (named on import) picks the shape and is
stored on every record. The ``key`` fields make intake idempotent: a document
whose key already exists is reported as a duplicate and changes nothing.

A field mapping is a source path (``buyer.phone``, ``items[0].code``; ``/x``
reads from the document root inside a table mapping; in CSV a path is a column
name) or a mapping with ``path``, ``type``, ``default``, ``map``, ``expr``
(with ``value``, the ``with`` variables and ``channel`` as names), ``const``
and ``lookup`` (find, or create, the linked record by one of its fields).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import Definition, Label, Model, register_kind
from .check import CheckContext
from .expr import Scope
from .expr import types as T

SourceType = Literal["string", "integer", "decimal", "boolean", "date", "datetime", "json"]
ConflictRule = Literal["error", "first", "last"]
SOURCE_TYPES: dict[str, T.Type] = {
    "string": T.STRING, "integer": T.INTEGER, "decimal": T.DECIMAL, "boolean": T.BOOLEAN,
    "date": T.DATE, "datetime": T.DATETIME, "json": T.JSON,
}
_PATH_PART = re.compile(r"^[^.\[\]]+(\[\d+\])*$")


def parse_path(path: str, csv: bool = False) -> tuple[bool, tuple[str | int, ...]]:
    """``(from_root, parts)`` of a source path; raise ValueError when malformed.

    JSON paths are dotted keys with ``[n]`` list indexes; a CSV path is one column name.
    """
    from_root = path.startswith("/")
    text = path[1:] if from_root else path
    if not text.strip():
        raise ValueError("empty source path")
    if csv:
        return from_root, (text,)
    parts: list[str | int] = []
    for piece in text.split("."):
        if not _PATH_PART.match(piece):
            raise ValueError(f"invalid source path {path!r} (use keys separated by '.', and [n] for list items)")
        name, *indexes = piece.split("[")
        parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in indexes)
    return from_root, tuple(parts)


class VarDef(Model):
    path: str
    type: SourceType | None = None


class LookupDef(Model):
    """Find the linked record whose field ``by`` equals the source value."""

    entity: str
    by: str = Field(default="name", description="Field of the linked entity matched against the value")
    missing: Literal["error", "null", "create"] = Field(
        default="error", description="When no record matches: report the row, leave the link empty, or create it")
    create: dict[str, ValueSpec] = Field(default_factory=dict,
                                         description="Field mappings of the record created when missing: create")


class ValueDef(Model):
    """How one target field gets its value from a source document or row."""

    path: str | None = Field(default=None, description="Source path of the value")
    type: SourceType | None = Field(default=None, description="Convert the source value to this type first")
    default: Any = Field(default=None, description="Used when the source value is missing or blank")
    map: dict[str, Any] | None = Field(default=None, description="Translate source values (unknown ones are errors)")
    with_: dict[str, str | VarDef] | None = Field(default=None, alias="with",
                                                  description="More source values, named for the expression")
    expr: str | None = Field(default=None, description="Expression computing the value (names: value, channel, "
                                                       "and the 'with' variables)")
    const: Any = Field(default=None, description="A constant value")
    lookup: LookupDef | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ValueDef:
        if "const" in self.model_fields_set:
            extra = [k for k in ("path", "with_", "expr", "map", "lookup", "type") if getattr(self, k) is not None]
            if extra:
                raise ValueError("'const' cannot be combined with " + ", ".join(k.rstrip("_") for k in extra))
        elif self.path is None and self.expr is None and self.with_ is None and "default" not in self.model_fields_set:
            raise ValueError("give a 'path', an 'expr', a 'const' or a 'default'")
        if self.map is not None and self.path is None:
            raise ValueError("'map' translates the value read from 'path'; give a 'path'")
        return self


ValueSpec = str | ValueDef


class TableMapDef(Model):
    """Rows of a table field: one per item of ``rows`` (JSON) or per CSV row of the document."""

    rows: str | None = Field(default=None, description="JSON: path of the list of items inside the document")
    fields: dict[str, ValueSpec] = Field(min_length=1)


class ShapeDef(Model):
    """One payload layout."""

    label: Label | None = None
    format: Literal["json", "jsonl", "csv"]
    documents: str | None = Field(default=None, description="JSON: path of the list of documents in the file "
                                                            "(default: the file is a list, or one document)")
    group_by: str | None = Field(default=None, description="CSV: column whose value groups rows into one document")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    fields: dict[str, ValueSpec] = Field(default_factory=dict)
    tables: dict[str, TableMapDef] = Field(default_factory=dict)
    on_conflict: ConflictRule | dict[str, ConflictRule] = Field(
        default="error",
        description="CSV: when rows of one document give different values in a column read for the document "
                    "(not per row): 'error' refuses the document naming the line, column and both values; "
                    "'first' or 'last' keeps that row's value. A mapping sets it per column ('*': the others)")

    @model_validator(mode="after")
    def _format_settings(self) -> ShapeDef:
        if self.format != "csv" and "on_conflict" in self.model_fields_set:
            raise ValueError("'on_conflict' applies to csv shapes only")
        if self.format == "csv":
            if not self.group_by:
                raise ValueError("a csv shape needs 'group_by' (the column identifying a document)")
            if self.documents:
                raise ValueError("'documents' applies to json shapes only")
            for name, t in self.tables.items():
                if t.rows:
                    raise ValueError(f"tables.{name}.rows: in a csv shape every row of a document is a table row")
        else:
            if self.group_by:
                raise ValueError("'group_by' applies to csv shapes only")
            if self.format == "jsonl" and self.documents:
                raise ValueError("a jsonl file has one document per line; 'documents' does not apply")
            for name, t in self.tables.items():
                if not t.rows:
                    raise ValueError(f"tables.{name}: give 'rows', the path of the list of items")
        return self


    def conflict_rule(self, column: str) -> ConflictRule:
        """What to do when the rows of one document disagree on ``column``."""
        rules = self.on_conflict
        if isinstance(rules, str):
            return rules
        return rules.get(column, rules.get("*", "error"))

    def document_columns(self) -> dict[str, list[str]]:
        """CSV: the columns read for the document as a whole (not per row), each with the target
        fields it feeds: document fields, and ``/column`` paths inside table mappings."""
        columns: dict[str, list[str]] = {}
        for name, spec in self.fields.items():
            for path in _spec_paths(spec):
                fed = columns.setdefault(str(parse_path(path, True)[1][0]), [])
                if name not in fed:
                    fed.append(name)
        for tname, tmap in self.tables.items():
            for name, spec in tmap.fields.items():
                for path in _spec_paths(spec):
                    if path.startswith("/"):
                        columns.setdefault(path[1:], []).append(f"{tname}.{name}")
        return columns


def _spec_paths(spec: ValueSpec) -> list[str]:
    """Every source path a mapping reads (its path, its 'with' variables, its lookup's create mappings)."""
    if isinstance(spec, str):
        return [spec]
    paths = [spec.path] if spec.path is not None else []
    paths += [v.path if isinstance(v, VarDef) else v for v in (spec.with_ or {}).values()]
    if spec.lookup is not None:
        for sub in spec.lookup.create.values():
            paths += _spec_paths(sub)
    return [p for p in paths if p.strip("/").strip()]


class ChannelDef(Model):
    """The record a delivery comes from (named with ``--channel``)."""

    entity: str
    field: str | None = Field(default=None, description="Link field of the target set to the channel record")
    shape_field: str | None = Field(default=None, description="Field of the channel record naming its shape")


@register_kind
class IntakeDef(Definition):
    """Maps outside payloads onto records of one entity, idempotently."""

    kind_name = "intake"
    folder = "intake"

    kind: Literal["intake"] = "intake"
    label: Label | None = None
    entity: str
    channel: ChannelDef | None = None
    key: list[str] = Field(default_factory=list,
                           description="Fields identifying a document: an existing record with the same values "
                                       "makes the document a duplicate")
    shapes: dict[str, ShapeDef] = Field(min_length=1)

    def references(self) -> list[tuple[str, str]]:
        refs = [("entity", self.entity)]
        if self.channel:
            refs.append(("entity", self.channel.entity))
        return refs

    def value_scope(self, ctx_schema: Any, spec: ValueDef) -> Scope:
        """The names an expression of ``spec`` sees."""
        roots: dict[str, T.Type] = {}
        if self.channel:
            roots["channel"] = T.record(self.channel.entity)
        if spec.path is not None:
            roots["value"] = _value_type(spec)
        for name, var in (spec.with_ or {}).items():
            vtype = var.type if isinstance(var, VarDef) else None
            roots[name] = SOURCE_TYPES[vtype] if vtype else T.ANY
        return Scope(ctx_schema, None, roots)

    def check(self, ctx: CheckContext) -> None:
        entity = ctx.ref(("entity",), "entity", self.entity)
        if entity is not None and entity.child:
            ctx.error(("entity",), f"'{self.entity}' is a child entity; import into its parent")
            entity = None
        if self.channel:
            self._check_channel(ctx, entity)
        if entity is not None:
            for i, k in enumerate(self.key):
                f = entity.fields.get(k)
                if f is None and k != "name":
                    ctx.error(("key", i), f"unknown field '{k}' in {self.entity}")
                elif f is not None and not f.is_stored:
                    ctx.error(("key", i), f"table field '{k}' cannot be part of the key")
        for sname, shape in self.shapes.items():
            self._check_shape(ctx, ("shapes", sname), shape, entity)

    def _check_channel(self, ctx: CheckContext, entity: Any) -> None:
        ch = self.channel
        assert ch is not None
        target = ctx.ref(("channel", "entity"), "entity", ch.entity)
        if ch.field and entity is not None:
            f = entity.fields.get(ch.field)
            if f is None:
                ctx.error(("channel", "field"), f"unknown field '{ch.field}' in {self.entity}")
            elif f.type != "link" or f.entity != ch.entity:
                ctx.error(("channel", "field"), f"'{ch.field}' must be a link to {ch.entity}")
        if ch.shape_field and target is not None and ch.shape_field not in target.fields:
            ctx.error(("channel", "shape_field"), f"unknown field '{ch.shape_field}' in {ch.entity}")

    def _check_shape(self, ctx: CheckContext, path: tuple, shape: ShapeDef, entity: Any) -> None:
        csv = shape.format == "csv"
        for key, text in (("documents", shape.documents), ("group_by", shape.group_by)):
            if text:
                _check_path(ctx, (*path, key), text, csv)
        if csv and isinstance(shape.on_conflict, dict):
            known = shape.document_columns()
            for column in shape.on_conflict:
                if column != "*" and column not in known:
                    ctx.error((*path, "on_conflict", column), f"column '{column}' is not read for the document "
                              f"(document columns: {', '.join(known) or 'none'})", key=True)
        if entity is None:
            return
        self._check_fields(ctx, (*path, "fields"), shape.fields, entity, csv, table_ok=False)
        for tname, tmap in shape.tables.items():
            tpath = (*path, "tables", tname)
            f = entity.fields.get(tname)
            if f is None or f.type != "table":
                ctx.error(tpath, f"'{tname}' is not a table field of {self.entity}", key=True)
                continue
            if tmap.rows:
                _check_path(ctx, (*tpath, "rows"), tmap.rows, csv)
            child = ctx.app.get("entity", f.entity or "")
            if child is not None:
                self._check_fields(ctx, (*tpath, "fields"), tmap.fields, child, csv, table_ok=False)

    def _check_fields(self, ctx: CheckContext, path: tuple, fields: dict[str, ValueSpec], entity: Any,
                      csv: bool, table_ok: bool) -> None:
        for fname, spec in fields.items():
            fpath = (*path, fname)
            f = entity.fields.get(fname)
            if f is None and fname != "name":
                ctx.error(fpath, f"unknown field '{fname}' in {entity.name}", key=True)
                continue
            if f is not None and f.type == "computed":
                ctx.error(fpath, f"'{fname}' is computed and cannot be mapped", key=True)
            elif f is not None and f.type == "table" and not table_ok:
                ctx.error(fpath, f"'{fname}' is a table field: map its rows under 'tables'", key=True)
            self._check_value(ctx, fpath, spec, csv, f)

    def _check_value(self, ctx: CheckContext, path: tuple, spec: ValueSpec, csv: bool, field: Any) -> None:
        if isinstance(spec, str):
            _check_path(ctx, path, spec, csv)
            return
        if spec.path is not None:
            _check_path(ctx, (*path, "path"), spec.path, csv)
        for name, var in (spec.with_ or {}).items():
            if name in ("value", "channel"):
                ctx.error((*path, "with", name), f"'{name}' is a reserved name", key=True)
            vpath = var.path if isinstance(var, VarDef) else var
            _check_path(ctx, (*path, "with", name), vpath, csv)
        if spec.expr is not None:
            ctx.expr((*path, "expr"), spec.expr, self.value_scope(ctx.schema, spec))
        if spec.lookup is not None:
            lk = spec.lookup
            target = ctx.ref((*path, "lookup", "entity"), "entity", lk.entity)
            if field is not None and (field.type != "link" or field.entity != lk.entity):
                ctx.error((*path, "lookup", "entity"), f"a lookup of {lk.entity} needs a link field to {lk.entity}")
            if target is not None:
                if lk.by != "name" and lk.by not in target.fields:
                    ctx.error((*path, "lookup", "by"), f"unknown field '{lk.by}' in {lk.entity}")
                if lk.missing == "create" and not lk.create:
                    ctx.error((*path, "lookup", "create"), "missing: create needs the 'create' field mappings")
                if lk.create and lk.missing != "create":
                    ctx.error((*path, "lookup", "missing"), "'create' mappings are used only with missing: create")
                self._check_fields(ctx, (*path, "lookup", "create"), lk.create, target, csv, table_ok=False)


def _value_type(spec: ValueDef) -> T.Type:
    if spec.map:
        t: T.Type = T.NULL
        for v in spec.map.values():
            t = T.unify(t, T.from_python(v)) or T.ANY
        return T.ANY if t.is_null else t
    return SOURCE_TYPES[spec.type] if spec.type else T.ANY


def _check_path(ctx: CheckContext, path: tuple, text: str, csv: bool) -> None:
    try:
        parse_path(text, csv)
    except ValueError as e:
        ctx.error(path, str(e))
