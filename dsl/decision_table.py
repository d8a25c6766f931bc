"""A decision table compiled once: cells are compiled expressions, the hit policy a function.

Built by :mod:`decision_build` from a checked :class:`~dsl.decision.DecisionDef`. Evaluating
reads each input once, runs each rule's compiled cells (no cell text is looked at) and applies
the hit policy with its exact DMN 1.3 semantics. ``explain`` gives, per rule, whether it
matched and which cell did not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import OrdoError
from .expr import Env
from .expr.types import Type

_ENV = Env()


class DecisionError(OrdoError):
    """A decision cannot give a result: UNIQUE rules overlap, ANY rules disagree, bad input."""


@dataclass
class CompiledInput:
    name: str
    label: str | None
    type: Type
    fn: Callable[..., Any]
    text: str
    compiled: Any = None  # the CompiledExpression (its tree compiles to SQL)


@dataclass
class CompiledOutput:
    name: str
    type: Type
    values: tuple | None  # allowed values, highest priority first
    default: Any


@dataclass
class CompiledCell:
    text: str
    fn: Callable[..., Any]  # fn(record, env, *roots, value) -> True / False / None
    compiled: Any = None


@dataclass
class OutputValue:
    value: Any = None
    fn: Callable[..., Any] | None = None  # an output expression: fn(record, env, *roots)
    compiled: Any = None


@dataclass
class CompiledRule:
    index: int
    id: str
    annotation: Any  # text or {language: text}
    cells: list[CompiledCell | None]  # None: any value ("-")
    outputs: list[OutputValue]
    match: Any = None  # while building: the rule's cells as one syntax tree


@dataclass
class DecisionTable:
    name: str
    entity: str | None
    policy: str  # hit policy
    aggregation: str | None
    inputs: list[CompiledInput]
    outputs: list[CompiledOutput]
    rules: list[CompiledRule]
    roots: dict[str, Type] = field(default_factory=dict)  # named variables (decisions without an entity)
    labels: dict[str, str] = field(default_factory=dict)  # variable label -> name
    # the compiled rules: functions of (record, env, *roots, *inputs) giving the first matching rule's index
    # (``first``) or a tuple of each rule's index or None
    chunks: list[Callable[..., Any]] = field(default_factory=list)
    first: bool = False

    # -- calling
    def root_values(self, context: Mapping[str, Any]) -> list[Any]:
        """The values of the named variables from ``context`` (by name or label), coerced to their types."""
        by_label = {label: name for label, name in self.labels.items()}
        given = {by_label.get(k, k): v for k, v in context.items()}
        unknown = sorted(k for k in given if k not in self.roots)
        if unknown:
            known = ", ".join(self.roots) or "none"
            raise DecisionError(f"decision '{self.name}': unknown input '{unknown[0]}' (inputs: {known})")
        return [coerce(given.get(name), t, f"input '{name}'") for name, t in self.roots.items()]

    def input_values(self, record: Mapping[str, Any], env: Env, roots: Sequence[Any]) -> list[Any]:
        return [i.fn(record, env, *roots) for i in self.inputs]

    def matched(self, record: Mapping[str, Any], env: Env | None = None, roots: Sequence[Any] = ()) -> list[int]:
        """Indexes of every rule that matches (whatever the hit policy)."""
        env = env or _ENV
        values = self.input_values(record, env, roots)
        return [r.index for r in self.rules if all(
            c is None or c.fn(record, env, *roots, values[j]) is True for j, c in enumerate(r.cells))]

    def evaluate(self, record: Mapping[str, Any], env: Env | None = None, roots: Sequence[Any] = ()) -> Any:
        """The table's result for ``record`` (and the named variables ``roots``)."""
        env = env or _ENV
        args = (*roots, *[i.fn(record, env, *roots) for i in self.inputs])
        rules = self.rules
        if self.first:
            for fn in self.chunks:
                k = fn(record, env, *args)
                if k is not None:
                    return self._result(rules[k], record, env, roots)
            return self._default()
        hits = [rules[k] for fn in self.chunks for k in fn(record, env, *args) if k is not None]
        return self.apply(hits, record, env, roots)

    def decide(self, context: Mapping[str, Any], env: Env | None = None) -> Any:
        """Evaluate a decision without an entity on a mapping of variable values."""
        return self.evaluate({}, env, self.root_values(context))

    # -- hit policies
    def apply(self, hits: list[CompiledRule], record: Mapping[str, Any], env: Env, roots: Sequence[Any]) -> Any:
        policy = self.policy
        if not hits:
            if self.aggregation == "COUNT":
                return 0
            if self.aggregation is None and policy in ("RULE ORDER", "OUTPUT ORDER", "COLLECT"):
                return [] if not self._has_default() else [self._default()]
            return self._default()
        if policy == "UNIQUE":
            if len(hits) > 1:
                raise DecisionError(f"decision '{self.name}': {_rules(hits)} all match (hit policy UNIQUE allows "
                                    f"one); fix the table so they do not overlap")
            return self._result(hits[0], record, env, roots)
        if policy == "FIRST":
            return self._result(hits[0], record, env, roots)
        if self.aggregation is not None:  # one output: its values, no result lists
            return self._aggregate([ov.value if (ov := r.outputs[0]).fn is None else ov.fn(record, env, *roots)
                                    for r in hits])
        results = [self._outputs(r, record, env, roots) for r in hits]
        if policy == "ANY":
            first = results[0]
            for r, res in zip(hits[1:], results[1:], strict=True):
                if res != first:
                    raise DecisionError(f"decision '{self.name}': {hits[0].id} and {r.id} both match but give "
                                        f"different results ({self._show(first)} / {self._show(res)}); hit policy "
                                        f"ANY needs matching rules to agree")
            return self._shape(first)
        if policy == "PRIORITY":
            return self._shape(min(results, key=self._rank))
        if policy == "OUTPUT ORDER":
            return [self._shape(res) for res in sorted(results, key=self._rank)]
        if policy == "RULE ORDER" or (policy == "COLLECT" and self.aggregation is None):
            return [self._shape(res) for res in results]
        return self._aggregate([res[0] for res in results])

    def _aggregate(self, values: list[Any]) -> Any:
        present = [v for v in values if v is not None]
        if self.aggregation == "COUNT":
            return len(present)
        if not present:
            return None
        if self.aggregation == "SUM":
            return sum(present)
        return min(present) if self.aggregation == "MIN" else max(present)

    def _rank(self, res: list[Any]) -> tuple:
        out = []
        for o, v in zip(self.outputs, res, strict=True):
            if o.values:
                out.append(o.values.index(v) if v in o.values else len(o.values))
        return tuple(out)

    def _outputs(self, rule: CompiledRule, record: Mapping[str, Any], env: Env, roots: Sequence[Any]) -> list[Any]:
        return [ov.value if ov.fn is None else ov.fn(record, env, *roots) for ov in rule.outputs]

    def _result(self, rule: CompiledRule, record: Mapping[str, Any], env: Env, roots: Sequence[Any]) -> Any:
        return self._shape(self._outputs(rule, record, env, roots))

    def _shape(self, values: list[Any]) -> Any:
        if len(self.outputs) == 1:
            return values[0]
        return {o.name: v for o, v in zip(self.outputs, values, strict=True)}

    def _has_default(self) -> bool:
        return any(o.default is not None for o in self.outputs)

    def _default(self) -> Any:
        return self._shape([o.default for o in self.outputs])

    def _show(self, res: list[Any]) -> str:
        return ", ".join(f"{o.name}={v!r}" for o, v in zip(self.outputs, res, strict=True))

    # -- explaining
    def explain(self, record: Mapping[str, Any], env: Env | None = None, roots: Sequence[Any] = ()) -> dict:
        """Inputs, per rule whether it matched (and the first cell that did not), and the result."""
        env = env or _ENV
        values = self.input_values(record, env, roots)
        rows = []
        for r in self.rules:
            failed = None
            for i, cell in enumerate(r.cells):
                if cell is None:
                    continue
                outcome = cell.fn(record, env, *roots, values[i])
                if outcome is not True:
                    failed = {"input": self.inputs[i].name, "cell": cell.text, "value": values[i],
                              "outcome": outcome}
                    break
            rows.append({"rule": r.id, "index": r.index + 1, "matched": failed is None, "failed": failed,
                         "annotation": r.annotation})
        out: dict[str, Any] = {"decision": self.name, "hit_policy": self.policy_text(),
                               "inputs": {i.name: v for i, v in zip(self.inputs, values, strict=True)},
                               "rules": rows}
        hits = [self.rules[x["index"] - 1] for x in rows if x["matched"]]
        chosen = self._chosen(hits, record, env, roots)
        for x in rows:
            x["chosen"] = x["index"] - 1 in chosen
        try:
            out["result"] = self.apply(hits, record, env, roots)
        except DecisionError as e:
            out["error"] = e.message
        return out

    def _chosen(self, hits: list[CompiledRule], record: Mapping[str, Any], env: Env,
                roots: Sequence[Any]) -> set[int]:
        """Indexes of the rules whose outputs make the result (all matches for list and aggregate tables)."""
        if not hits or self.policy not in ("FIRST", "PRIORITY"):
            return {r.index for r in hits}
        if self.policy == "FIRST":
            return {hits[0].index}
        try:
            ranked = min(hits, key=lambda r: self._rank(self._outputs(r, record, env, roots)))
        except DecisionError:
            return set()
        return {ranked.index}

    def policy_text(self) -> str:
        agg = {"SUM": "C+", "MIN": "C<", "MAX": "C>", "COUNT": "C#"}
        return agg[self.aggregation] if self.aggregation else self.policy


def _rules(hits: list[CompiledRule]) -> str:
    names = [h.id for h in hits]
    return " and ".join(names) if len(names) == 2 else ", ".join(names[:-1]) + " and " + names[-1]


def coerce(value: Any, t: Type, what: str) -> Any:
    """A JSON value as a value of type ``t`` (numbers exact, dates from ISO text)."""
    if value is None:
        return None
    kind = t.kind
    if isinstance(value, (dict, list)):
        raise DecisionError(f"{what}: expected a single value, got {type(value).__name__}")
    try:
        if kind == "string":
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "integer":
            if isinstance(value, bool):
                raise ValueError
            d = Decimal(str(value))
            if d != d.to_integral_value():
                raise ValueError
            return int(d)
        if kind == "decimal":
            if isinstance(value, bool):
                raise ValueError
            d = Decimal(str(value))
            if not d.is_finite():
                raise ValueError
            return int(d) if d == d.to_integral_value() and abs(d) < 2**63 and "." not in str(value) else d
        if kind == "date":
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        if kind == "datetime":
            return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except (ValueError, InvalidOperation, TypeError):
        raise DecisionError(f"{what}: expected {kind}, got {value!r}") from None
    if isinstance(value, float):
        return Decimal(str(value))
    return value


SQL_POLICIES = ("UNIQUE", "ANY", "FIRST", "PRIORITY")


def sql_problem(table: DecisionTable) -> str | None:
    """Why ``table`` cannot be one SQL expression (None when it can)."""
    if table.policy in SQL_POLICIES or table.aggregation in ("SUM", "COUNT"):
        return None
    return (f"decision '{table.name}' (hit policy {table.policy_text()}) gives several results and cannot be "
            f"computed in SQL; only UNIQUE, ANY, FIRST, PRIORITY, C+ and C# tables can")


def table_sql(table: DecisionTable, src: Any, output: int | None, clock: Any = None) -> Any:
    """The table as one SQL CASE expression over the record source ``src`` (see :func:`sql_problem`)."""
    import sqlalchemy as sa

    from .expr.sqltypes import sa_type

    inputs = [i.compiled.to_sql(src, clock=clock) for i in table.inputs]
    out = 0 if output is None else output
    o = table.outputs[out]

    def cond(rule: CompiledRule) -> Any:
        parts = [c.compiled.to_sql(src, roots={"_": inputs[j]}, clock=clock)
                 for j, c in enumerate(rule.cells) if c is not None]
        return sa.and_(*parts) if parts else sa.true()

    def value(v: OutputValue, t: Type) -> Any:
        if v.compiled is not None:
            return v.compiled.to_sql(src, clock=clock)
        return sa.null() if v.value is None else sa.literal(v.value, sa_type(t))

    default = sa.null() if o.default is None else sa.literal(o.default, sa_type(o.type))
    rules = table.rules
    if table.policy == "PRIORITY":
        rules = sorted(rules, key=lambda r: table._rank([ov.value for ov in r.outputs]))
    if table.aggregation in ("SUM", "COUNT"):
        if not rules:
            return sa.literal(0) if table.aggregation == "COUNT" else default
        terms = [sa.case((cond(r), value(r.outputs[0], o.type) if table.aggregation == "SUM" else sa.literal(1)),
                         else_=sa.literal(0)) for r in rules]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        if table.aggregation == "COUNT":
            return total
        return sa.case((sa.or_(*[cond(r) for r in rules]), total), else_=default)
    if not rules:
        return default
    return sa.case(*[(cond(r), value(r.outputs[out], o.type)) for r in rules], else_=default)
