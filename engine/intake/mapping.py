"""Field mappings compiled once: source path -> default -> type -> map -> expression -> lookup.

A :class:`CompiledValue` turns one source document (or one row of it) into the
value of one target field; problems raise :class:`MappingError` naming the
field, so the import can report the document's line and the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ordo.dsl.app import AppDefinition
from ordo.dsl.entity import FieldDef
from ordo.dsl.expr import CompiledExpression, Env, compile_expression
from ordo.dsl.intake import IntakeDef, LookupDef, ValueDef, ValueSpec, VarDef, parse_path

from ..coerce import CoercionError, coerce
from ..errors import OrdoError
from .readers import get_path

_MISSING = object()


class MappingError(OrdoError):
    """A document's value could not be mapped; ``field`` is the target field path."""

    def __init__(self, field: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message
        self.line = line


@dataclass
class Source:
    """Where values are read from: the document and the current row (the document itself at top level)."""

    document: Any
    row: Any
    channel: dict[str, Any] | None
    env: Env
    line: int | None = None


@dataclass
class SourceValue:
    from_root: bool
    parts: tuple[str | int, ...]
    convert: FieldDef | None
    column: str | None = field(init=False)  # the one key of a one-step path (a CSV column), read directly

    def __post_init__(self) -> None:
        one = len(self.parts) == 1 and isinstance(self.parts[0], str)
        self.column = self.parts[0] if one else None  # type: ignore[assignment]

    def read(self, src: Source, what: str) -> Any:
        data = src.document if self.from_root else src.row
        if self.column is not None:
            value = data.get(self.column) if type(data) is dict else get_path(data, self.parts)
        else:
            value = get_path(data, self.parts)
        if type(value) is str:
            value = value.strip()
            if value == "":
                value = None
        if value is not None and self.convert is not None:
            try:
                value = coerce(self.convert, value)
            except CoercionError as e:
                raise MappingError(what, str(e), src.line) from None
        return value


@dataclass
class CompiledLookup:
    entity: str
    by: str
    missing: str
    create: dict[str, CompiledValue] = field(default_factory=dict)


Resolver = Callable[[CompiledLookup, Any, Source, str], Any]


@dataclass
class CompiledValue:
    name: str
    source: SourceValue | None = None
    const: Any = _MISSING
    default: Any = None
    mapping: dict[str, Any] | None = None
    variables: dict[str, SourceValue] = field(default_factory=dict)
    expr: CompiledExpression | None = None
    lookup: CompiledLookup | None = None

    def evaluate(self, src: Source, resolve: Resolver, path: str) -> Any:
        if self.const is not _MISSING:
            return self.const
        value = self.source.read(src, path) if self.source else None
        if value is None and self.expr is None:
            value = self.default
        if value is not None and self.mapping is not None:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            if key not in self.mapping:
                known = ", ".join(list(self.mapping)[:10])
                raise MappingError(path, f"unknown value {value!r} (known: {known})", src.line)
            value = self.mapping[key]
        if self.expr is not None:
            value = self._compute(src, value, path)
            if value is None:
                value = self.default
        if self.lookup is not None and value is not None:
            value = resolve(self.lookup, value, src, path)
        return value

    def specialize(self) -> CompiledValue:
        """Once compiled: a value that is a constant, or a CSV column / one key read as it is (trimmed, blank as
        None, its default), is evaluated by a function made for it (no steps to look at per document)."""
        if self.const is not _MISSING:
            const = self.const
            self.evaluate = lambda src, resolve, path: const  # type: ignore[method-assign]
        elif (self.source is not None and self.source.column is not None and self.source.convert is None
              and self.mapping is None and self.expr is None and self.lookup is None and not self.variables):
            source, default = self.source, self.default
            column, from_root, parts = source.column, source.from_root, source.parts

            def column_value(src: Source, resolve: Resolver, path: str) -> Any:
                data = src.document if from_root else src.row
                value = data.get(column) if type(data) is dict else get_path(data, parts)
                if type(value) is str:
                    value = value.strip()
                    if value == "":
                        value = None
                return default if value is None else value

            self.evaluate = column_value  # type: ignore[method-assign]
        return self

    def _compute(self, src: Source, value: Any, path: str) -> Any:
        assert self.expr is not None
        names: dict[str, Any] = {"channel": src.channel, "value": value}
        for vname, var in self.variables.items():
            names[vname] = var.read(src, f"{path} ({vname})")
        try:
            return self.expr({}, src.env, *(names.get(r) for r in self.expr.root_names))
        except OrdoError as e:
            raise MappingError(path, str(e), src.line) from None
        except (ArithmeticError, TypeError, ValueError) as e:
            raise MappingError(path, f"expression {self.expr.text!r} failed: {e}", src.line) from None


@functools.cache
def _type_field(type_: str) -> FieldDef:
    """The field a source value of ``type_`` is coerced as (made when an intake first names the type)."""
    return FieldDef(type=type_, scale=10 if type_ == "decimal" else None)


def _source(text: str, type_: str | None, csv: bool) -> SourceValue:
    from_root, parts = parse_path(text, csv)
    return SourceValue(from_root, parts, _type_field(type_) if type_ else None)


def compile_value(app: AppDefinition, intake: IntakeDef, name: str, spec: ValueSpec, csv: bool) -> CompiledValue:
    if isinstance(spec, str):
        return CompiledValue(name, source=_source(spec, None, csv)).specialize()
    return _compile_def(app, intake, name, spec, csv).specialize()


def _compile_def(app: AppDefinition, intake: IntakeDef, name: str, spec: ValueDef, csv: bool) -> CompiledValue:
    if "const" in spec.model_fields_set:
        return CompiledValue(name, const=spec.const)
    cv = CompiledValue(name, default=spec.default)
    if spec.path is not None:
        cv.source = _source(spec.path, spec.type, csv)
    if spec.map is not None:
        cv.mapping = {str(k): v for k, v in spec.map.items()}
    for vname, var in (spec.with_ or {}).items():
        path, vtype = (var.path, var.type) if isinstance(var, VarDef) else (var, None)
        cv.variables[vname] = _source(path, vtype, csv)
    if spec.expr is not None:
        cv.expr = compile_expression(spec.expr, intake.value_scope(app.schema, spec))
    if spec.lookup is not None:
        cv.lookup = _lookup(app, intake, spec.lookup, csv)
    return cv


def _lookup(app: AppDefinition, intake: IntakeDef, lk: LookupDef, csv: bool) -> CompiledLookup:
    create = {f: compile_value(app, intake, f, s, csv) for f, s in lk.create.items()}
    return CompiledLookup(lk.entity, lk.by, lk.missing, create)
