"""Runtime form of entities: expressions compiled once, tables built once.

``compile_entities(app_def, metadata)`` turns validated definitions into
:class:`CompiledEntity` objects that the store uses on every write without
re-parsing or re-validating anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from ordo.dsl.app import AppDefinition
from ordo.dsl.base import humanize, label_text
from ordo.dsl.entity import EntityDef, ValidationDef, write_scope
from ordo.dsl.errors import DefinitionError, DefinitionErrors
from ordo.dsl.expr import CompiledExpression, Scope, compile_expression
from ordo.dsl.expr import types as T
from ordo.dsl.field import FieldDef, compile_pattern

from .coerce import coerce, coercer
from .errors import UsageError
from .tables import TableSpec, build_table, table_specs


@dataclass
class CompiledField:
    name: str
    defn: FieldDef
    type: T.Type
    label: str
    default_expr: CompiledExpression | None = None
    default_value: Any = None
    computed: CompiledExpression | None = None
    pattern: Any = None  # RE2 pattern (dsl.entity.compile_pattern)
    min_value: Any = None
    max_value: Any = None
    child: CompiledEntity | None = None  # table fields: the child entity
    child_table: sa.Table | None = None  # table fields: where the rows live
    related_where: CompiledExpression | None = None  # related fields: which records belong here
    editable_if: CompiledExpression | None = None  # changes accepted only while this holds

    @cached_property
    def kind(self) -> str:
        """Coercion kind: the field type, or a computed field's result kind."""
        if self.defn.type == "computed":
            return {"string": "string", "record": "link"}.get(self.type.kind, self.type.kind)
        return self.defn.type

    @cached_property
    def coerce(self) -> Callable[[Any], Any]:
        """``coerce(self.defn, value)``: the coercion of a value given for this field, chosen once."""
        return coercer(self.defn)

    @cached_property
    def coerce_result(self) -> Callable[[Any], Any]:
        """``coerce(self.defn, value, self.kind)``: a computed value (or default expression's) as stored."""
        return coercer(self.defn, self.kind)

    @property
    def stored(self) -> bool:
        return self.defn.is_stored

    @cached_property
    def constrained(self) -> bool:
        """Whether a value of this field can be refused by its field checks (validation.check_field):
        required, a range, a length or a pattern. The other fields are not checked at all."""
        d = self.defn
        return bool(d.required or self.min_value is not None or self.max_value is not None
                    or d.min_length is not None or d.max_length is not None or self.pattern is not None)

    @cached_property
    def accepts(self) -> Callable[[Any], bool]:
        """Whether the field checks (validation.check_field) accept a value: true exactly when check_field
        would report nothing, decided without building the field's path (which only an error needs)."""
        d = self.defn
        required, lo, hi = bool(d.required), self.min_value, self.max_value
        min_length, max_length, pattern = d.min_length, d.max_length, self.pattern
        texts = min_length is not None or max_length is not None or pattern is not None

        if lo is None and hi is None and not texts:  # required only (a field without checks is not checked)
            def present(value: Any) -> bool:
                if value is None:
                    return not required
                if isinstance(value, str):
                    return not required or value.strip() != ""
                return not required or not (isinstance(value, list) and not value)

            return present

        def accepts(value: Any) -> bool:
            if value is None:
                return not required
            if isinstance(value, str):
                if value.strip() == "":
                    return not required
            elif isinstance(value, list) and not value:
                return not required
            if lo is not None and value < lo or hi is not None and value > hi:
                return False
            if texts and isinstance(value, str):
                n = len(value)
                if (min_length is not None and n < min_length or max_length is not None and n > max_length
                        or pattern is not None and not pattern.fullmatch(value)):
                    return False
            return True

        return accepts


@dataclass(frozen=True)
class CompiledValidation:
    """An entity rule: ``expr`` must hold on writes listed in ``on`` for which ``when`` holds.

    ``reads``: the record's own fields the rule reads (writes by flows and jobs are checked only
    against the rules that read a field they change)."""

    expr: CompiledExpression
    message: str
    field: str | None
    on: frozenset[str]
    when: CompiledExpression | None
    reads: frozenset[str]


@dataclass
class CompiledEntity:
    name: str
    defn: EntityDef
    label: str
    fields: dict[str, CompiledField]
    computed_order: list[str]
    validations: list[CompiledValidation]
    table: sa.Table | None = None
    split_when: CompiledExpression | None = None
    merge_when: CompiledExpression | None = None
    split_values: dict[str, CompiledExpression] = field(default_factory=dict)
    # every link pointing at this entity: (table, column, entity owning the field, parent entity or None)
    links_in: list[tuple[sa.Table, str, str, str | None]] = field(default_factory=list)

    # built once, at first use (after compile_app linked the child entities): read on every write
    @cached_property
    def table_fields(self) -> list[CompiledField]:
        return [f for f in self.fields.values() if f.child is not None]

    @cached_property
    def stored_fields(self) -> list[CompiledField]:
        return [f for f in self.fields.values() if f.stored]

    @cached_property
    def stored_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.stored_fields)

    @cached_property
    def checked(self) -> tuple[CompiledField, ...]:
        """What validation goes through on every write, in definition order: the table fields and the fields
        whose values the field checks can refuse (see CompiledField.constrained); the others never fail."""
        return tuple(f for f in self.fields.values() if f.child is not None or f.constrained)

    @cached_property
    def compute_steps(self) -> tuple[tuple[str, Callable[..., Any], Callable[[Any], Any]], ...]:
        """The computed fields in dependency order, each as (name, its compiled function of (record, env),
        the coercion of its value as stored): what ``record_input.compute`` runs, in one pass."""
        steps = []
        for name in self.computed_order:
            cf = self.fields[name]
            assert cf.computed is not None
            steps.append((name, cf.computed.fn, cf.coerce_result))
        return tuple(steps)

    @cached_property
    def defaulted(self) -> tuple[CompiledField, ...]:
        """The fields a create fills in when not given: those with a default (an expression or a value) and
        the table fields (no rows); what ``record_input.apply_defaults`` goes through."""
        return tuple(f for f in self.fields.values()
                     if f.default_expr is not None or f.default_value is not None or f.child is not None)

    @cached_property
    def table_names(self) -> tuple[str, ...]:
        """The table fields' names (the keys of a record holding child rows)."""
        return tuple(f.name for f in self.table_fields)

    @cached_property
    def write_tables(self) -> tuple[str, ...]:
        """The tables a write of the entity touches: its own and its child tables'."""
        return tuple(t.name for t in (self.table, *(f.child_table for f in self.table_fields)) if t is not None)

    @cached_property
    def links(self) -> dict[str, str]:
        """Link field -> the entity it links to."""
        return {f.name: f.defn.entity or "" for f in self.fields.values() if f.defn.type == "link"}

    @cached_property
    def audited(self) -> list[str]:
        """The keys the audit log compares before and after a write."""
        return ["name", *self.fields]


def _compile(app: AppDefinition, entity: EntityDef, text: str, what: str) -> CompiledExpression:
    try:
        return compile_expression(text, Scope(app.schema, entity.name))
    except Exception as e:  # definitions were checked; this only guards programmatic use
        raise DefinitionErrors([DefinitionError(f"{what}: {e}", file=f"<entity {entity.name}>")]) from None


def _computed_order(entity: EntityDef, compiled: dict[str, CompiledField]) -> list[str]:
    """Computed fields ordered so that each comes after the computed fields it reads."""
    deps: dict[str, set[str]] = {}
    for name, f in compiled.items():
        if f.computed is not None:
            deps[name] = {p.parts[0] for p in f.computed.paths() if p.root is None} & {
                n for n, g in compiled.items() if g.computed is not None
            }
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, chain: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = " -> ".join([*chain[chain.index(n):], n])
            raise DefinitionErrors([DefinitionError(f"computed fields depend on each other: {cycle}",
                                                    file=f"<entity {entity.name}>")])
        state[n] = 1
        for d in sorted(deps[n]):
            visit(d, [*chain, n])
        state[n] = 2
        order.append(n)

    for n in deps:
        visit(n, [])
    return order


def _validation(app: AppDefinition, entity: EntityDef, i: int, v: ValidationDef) -> CompiledValidation:
    expr = _compile(app, entity, v.expr, f"validation {i}")
    when = None
    if v.when:
        try:
            when = compile_expression(v.when, write_scope(app.schema, entity.name), T.BOOLEAN)
        except Exception as e:  # definitions were checked; this only guards programmatic use
            raise DefinitionErrors([DefinitionError(f"validation {i} when: {e}", file=f"<entity {entity.name}>")]
                                   ) from None
    reads = frozenset(p.parts[0] for p in expr.paths() if p.root is None)
    return CompiledValidation(expr, label_text(v.message), v.field, frozenset(v.on), when, reads)


def compile_entity(app: AppDefinition, entity: EntityDef) -> CompiledEntity:
    types = app.schema.entity_fields(entity.name) or {}
    fields: dict[str, CompiledField] = {}
    for name, f in entity.fields.items():
        cf = CompiledField(name, f, types.get(name, T.ANY), label_text(f.label, fallback=humanize(name)))
        if f.pattern:
            cf.pattern = compile_pattern(f.pattern)
        cf.min_value = None if f.min is None else coerce(f, f.min)
        cf.max_value = None if f.max is None else coerce(f, f.max)
        if f.type == "computed" and f.expr:
            cf.computed = _compile(app, entity, f.expr, f"computed field {name}")
        if f.editable_if:
            cf.editable_if = _compile(app, entity, f.editable_if, f"editable_if of {name}")
        if f.type == "related" and f.where:
            cf.related_where = compile_expression(
                f.where, Scope(app.schema, f.entity, roots={"parent": T.record(entity.name)}), T.BOOLEAN)
        if f.default_is_expr:
            cf.default_expr = _compile(app, entity, f.default[1:], f"default of {name}")
        elif f.default is not None:
            cf.default_value = coerce(f, f.default)
        fields[name] = cf
    validations = [_validation(app, entity, i, v) for i, v in enumerate(entity.validations)]
    ce = CompiledEntity(entity.name, entity, label_text(entity.label, fallback=humanize(entity.name)), fields,
                        _computed_order(entity, fields), validations)
    if entity.split and entity.split.when:
        ce.split_when = _compile(app, entity, entity.split.when, "split.when")
    if entity.split:
        ce.split_values = {k: _compile(app, entity, v, f"split.values.{k}") for k, v in entity.split.values.items()}
    if entity.merge and entity.merge.when:
        ce.merge_when = _compile(app, entity, entity.merge.when, "merge.when")
    return ce


@dataclass
class CompiledApp:
    """Every entity compiled, with its tables, ready for the store."""

    entities: dict[str, CompiledEntity]
    specs: list[TableSpec]
    metadata: sa.MetaData

    def entity(self, name: str) -> CompiledEntity:
        e = self.entities.get(name)
        if e is None or e.defn.child:
            known = ", ".join(n for n, c in self.entities.items() if not c.defn.child)
            raise UsageError(f"unknown entity '{name}' (known: {known})")
        return e


def compile_app(app: AppDefinition) -> CompiledApp:
    entities = {name: compile_entity(app, e) for name, e in app.entities.items()}
    computed_types = {
        name: {f: cf.type for f, cf in ce.fields.items() if cf.defn.type == "computed"} for name, ce in entities.items()
    }
    specs = table_specs(app.entities, computed_types)
    metadata = sa.MetaData()
    tables = {spec.name: build_table(spec, metadata) for spec in specs}
    for spec in specs:
        if spec.parent is None:
            entities[spec.entity].table = tables[spec.name]
        else:
            cf = entities[spec.parent].fields[spec.field or ""]
            cf.child = entities[spec.entity]
            cf.child_table = tables[spec.name]
    for spec in specs:
        for column, target in spec.links.items():
            entities[target].links_in.append((tables[spec.name], column, spec.entity, spec.parent))
    return CompiledApp(entities, specs, metadata)
