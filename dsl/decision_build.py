"""Check and compile a decision definition into a :class:`~dsl.decision_table.DecisionTable`.

One pass does both: the load-time check reports every problem at its place in the file
(a cell's error at its column), and the app's schema compiles the checked definition the
same way for ``decide()`` and the engine. Each rule's cells are joined into one compiled
function, so evaluating a table never looks at cell text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import decision_check as dc
from .decision import DecisionDef, RuleDef
from .decision_cells import INPUT, Cell, Test, error_column, parse_cell
from .decision_rules import compile_rules, rule_tree
from .decision_static import columns, domain, gaps, static_checks
from .decision_table import (
    CompiledCell,
    CompiledInput,
    CompiledOutput,
    CompiledRule,
    DecisionTable,
    OutputValue,
)
from .decision_values import literal, literal_value
from .errors import ExpressionError, ExpressionErrors
from .expr import Scope, compile_expression
from .expr import types as T

if TYPE_CHECKING:
    from .check import CheckContext

TYPES = {"string": T.STRING, "integer": T.INTEGER, "decimal": T.DECIMAL, "boolean": T.BOOLEAN, "date": T.DATE,
         "datetime": T.DATETIME, "any": T.ANY}
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class _Report:
    """Where problems go: the check context (with positions), or nowhere (counted)."""

    def __init__(self, ctx: CheckContext | None) -> None:
        self.ctx = ctx
        self.count = 0

    def error(self, path: tuple, message: str) -> None:
        self.count += 1
        if self.ctx is not None:
            self.ctx.error(path, message)

    def expr_error(self, path: tuple, err: ExpressionError) -> None:
        self.count += 1
        if self.ctx is not None:
            self.ctx.expression_error(path, err)


def build_table(defn: DecisionDef, schema: Any, ctx: CheckContext | None = None) -> DecisionTable | None:
    """Check ``defn`` (reporting to ``ctx``) and return its compiled table, or None when it has errors."""
    return _Builder(defn, schema, _Report(ctx)).build()


class _Builder:
    def __init__(self, defn: DecisionDef, schema: Any, report: _Report) -> None:
        self.d = defn
        self.schema = schema
        self.report = report

    def build(self) -> DecisionTable | None:
        d = self.d
        if d.entity is not None:
            ent = self.schema.entity_fields(d.entity)
            if ent is None:
                if self.report.ctx is not None:
                    self.report.ctx.ref(("entity",), "entity", d.entity)
                self.report.count += 1
                return None
        roots: dict[str, T.Type] = {name: TYPES[t] for name, t in d.variables.items()}
        labels: dict[str, str] = {}
        if d.entity is None:
            for i in d.inputs:
                if i.expr is None:
                    roots.setdefault(i.name, TYPES[i.type or "any"])
                    if isinstance(i.label, str) and i.label != i.name:
                        labels[i.label] = i.name
        self.base = Scope(self.schema, d.entity, roots=roots)
        self.roots = roots
        inputs = self._inputs()
        outputs = self._outputs()
        self._policy(outputs)
        rules = [self._rule(k, r, inputs, outputs) for k, r in enumerate(d.rules)]
        if self.report.count:
            return None
        table = DecisionTable(d.name, d.entity, d.hit_policy, d.aggregation, inputs, outputs,
                              [r for r, _ in rules], roots, labels)  # type: ignore[misc]
        static_checks(table, [cells for _, cells in rules], d.complete, self.report.error)  # type: ignore[misc]
        if self.report.count:
            return None
        compile_rules(table, Scope(self.schema, d.entity, roots=self.roots))
        return table

    # -- columns
    def _inputs(self) -> list[CompiledInput]:
        out: list[CompiledInput] = []
        names = [i.name for i in self.d.inputs]
        for k, i in enumerate(self.d.inputs):
            if names.count(i.name) > 1:
                self.report.error(("inputs", k, "name"), f"two inputs are named '{i.name}'")
            text = i.expr or i.name
            c = self._expr(("inputs", k, "expr" if i.expr else "name"), text, self.base)
            if c is None:
                out.append(CompiledInput(i.name, None, T.ANY, lambda *a: None, text))
                continue
            t = TYPES[i.type] if i.type else c.type
            if i.type and not T.compatible(t, c.type):
                self.report.error(("inputs", k, "type"), f"input '{i.name}' is declared {i.type} but its "
                                                          f"expression gives {c.type}")
            if t.kind in ("record", "table", "related", "list"):
                self.report.error(("inputs", k), f"input '{i.name}' must be a single value, got {t}")
            if i.values is not None:
                t = T.Type(t.kind, t.arg, tuple(str(v) for v in i.values) if t.kind == "string" else t.options)
            label = i.label if isinstance(i.label, str) else None
            out.append(CompiledInput(i.name, label, t, c.fn, text, c))
        return out

    def _outputs(self) -> list[CompiledOutput]:
        out = []
        names = [o.name for o in self.d.outputs]
        for k, o in enumerate(self.d.outputs):
            if names.count(o.name) > 1:
                self.report.error(("outputs", k, "name"), f"two outputs are named '{o.name}'")
            t = TYPES[o.type]
            values = None
            if o.values is not None:
                values = tuple(self._literal(("outputs", k, "values", j), v, t) for j, v in enumerate(o.values))
            co = CompiledOutput(o.name, t, values, None)
            if o.default is not None:
                co.default = self._value(("outputs", k, "default"), o.default, co, allow_expr=False).value
            out.append(co)
        return out

    def _policy(self, outputs: list[CompiledOutput]) -> None:
        d = self.d
        if d.hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(o.values for o in outputs):
            self.report.error(("hit_policy",), f"hit policy {d.hit_policy} ranks results by the order of an "
                                               f"output's 'values'; give the values, highest priority first")
        if d.aggregation is not None:
            t = outputs[0].type
            if d.aggregation == "SUM" and not (t.is_numeric or t.is_any):
                self.report.error(("outputs", 0, "type"), f"C+ adds the results: the output must be a number, "
                                                          f"not {t}")
            if d.aggregation in ("MIN", "MAX") and t.kind not in ("integer", "decimal", "string", "date",
                                                                  "datetime", "any"):
                self.report.error(("outputs", 0, "type"), f"C< and C> compare the results: {t} cannot be ordered")

    # -- rules
    def _rule(self, k: int, rule: RuleDef, inputs: list[CompiledInput],
              outputs: list[CompiledOutput]) -> tuple[CompiledRule, list[dc.Cell]]:
        n_in, n_out = len(inputs), len(outputs)
        cells_src, outs_src = self._split(k, rule, n_in, n_out)
        cells: list[CompiledCell | None] = []
        shapes: list[dc.Cell] = []
        exprs: list[tuple[int, Any]] = []
        for j, (path, raw) in enumerate(cells_src):
            cc, shape, expr = self._cell(path, raw, inputs[j])
            cells.append(cc)
            shapes.append(shape)
            if expr is not None:
                exprs.append((j, expr))
        values = [self._value(path, raw, outputs[j]) for j, (path, raw) in enumerate(outs_src)]
        rid = rule.id or f"rule {k + 1}"
        compiled = CompiledRule(k, rid, rule.annotation, cells, values)
        if not self.report.count:
            compiled.match = rule_tree(exprs)
        return compiled, shapes

    def _split(self, k: int, rule: RuleDef, n_in: int, n_out: int) -> tuple[list, list]:
        base = ("rules", k)
        names_in = [i.name for i in self.d.inputs]
        names_out = [o.name for o in self.d.outputs]
        if rule.row is not None:
            if len(rule.row) != n_in + n_out:
                self.report.error(base, f"a row needs {n_in} input cell(s) then {n_out} output value(s) "
                                        f"({', '.join(names_in + names_out)}), got {len(rule.row)}")
            cells = [((*base, j), rule.row[j] if j < len(rule.row) else "-") for j in range(n_in)]
            outs = [((*base, n_in + j), rule.row[n_in + j] if n_in + j < len(rule.row) else None)
                    for j in range(n_out)]
            return cells, outs
        return (self._side((*base, "when"), rule.when, names_in, "-", "input"),
                self._side((*base, "then"), rule.then, names_out, None, "output"))

    def _side(self, path: tuple, given: Any, names: list[str], missing: Any, what: str) -> list:
        if isinstance(given, dict):
            for key in given:
                if key not in names:
                    self.report.error((*path, key), f"unknown {what} '{key}' (the table's {what}s: "
                                                    f"{', '.join(names)})")
            return [((*path, n), given.get(n, missing)) for n in names]
        if not isinstance(given, list):
            if len(names) == 1:
                return [(path, given)]
            self.report.error(path, f"give one value per {what} ({', '.join(names)})")
            return [(path, missing) for _ in names]
        if len(given) != len(names) and not (what == "input" and not given):
            self.report.error(path, f"give one cell per {what} ({', '.join(names)}), got {len(given)}")
        return [((*path, j), given[j] if j < len(given) else missing) for j in range(len(names))]

    def _cell(self, path: tuple, raw: Any, inp: CompiledInput) -> tuple[CompiledCell | None, dc.Cell, str | None]:
        try:
            cell = parse_cell(raw)
        except ExpressionError as e:
            self.report.expr_error(path, e)
            return None, "?", None
        if cell.any:
            return None, None, None
        scope = Scope(self.schema, self.d.entity, roots={**self.roots, INPUT: inp.type})
        ok = True
        single = len(cell.tests) == 1 and not cell.negated  # the test is the cell: compiled once
        c = None
        for test in cell.tests:
            self._bare_word(test, inp)
            try:
                c = compile_expression(test.expr, scope, T.BOOLEAN)
            except (ExpressionError, ExpressionErrors) as e:
                ok = False
                for err in getattr(e, "errors", [e]):
                    self.report.expr_error(path, ExpressionError(
                        err.message.replace(f" of {INPUT} (", f" of input '{inp.name}' ("), cell.text, 1,
                        error_column(test, err.column)))
                continue
            self._allowed(path, cell, test, inp)
            test.shape = test.shape if not _reads_others(c) else ("expr",)
        if not ok:
            return None, "?", None
        expr = cell.expression()
        assert expr is not None
        if not single or c is None:
            c = compile_expression(expr, scope, T.BOOLEAN)
        return CompiledCell(cell.text, c.fn, c), self._shape(cell, inp, c), (c, expr)

    def _bare_word(self, test: Test, inp: CompiledInput) -> None:
        """``VIP`` in a string column means the text "VIP" unless it names a field or variable."""
        if test.shape[0] != "eq" and not (test.shape == ("expr",) and test.expr.startswith(f"{INPUT} == (")):
            return
        word = test.expr[len(INPUT) + 5:-1].strip() if test.expr.startswith(f"{INPUT} == (") else test.shape[1]
        if not _WORD.match(word) or word in ("true", "false", "null") or inp.type.kind not in ("string", "any"):
            return
        fields = self.schema.entity_fields(self.d.entity) if self.d.entity else {}
        if word in (fields or {}) or word in self.roots:
            return
        text = '"' + word + '"'
        test.expr = f"{INPUT} == ({text})"
        test.shape = ("eq", text)

    def _allowed(self, path: tuple, cell: Cell, test: Test, inp: CompiledInput) -> None:
        if test.shape[0] != "eq" or not inp.type.options:
            return
        value = literal_value(test.shape[1])
        if isinstance(value, str) and value not in inp.type.options:
            self.report.error(path, f"'{value}' is not one of the values of input '{inp.name}' "
                                    f"({', '.join(inp.type.options)})")

    def _shape(self, cell: Cell, inp: CompiledInput, compiled: Any) -> dc.Cell:
        """The set of values the cell accepts, for the static checks ("?" when unknown)."""
        dom = domain(inp.type)
        if dom is not None:
            if _reads_others(compiled):
                return "?"
            try:
                return dc.ValueSet(values=frozenset(v for v in dom if compiled({}, None, *[None] * len(self.roots), v) is True))
            except Exception:  # noqa: BLE001 - a cell the check cannot run alone: unknown
                return "?"
        ordered = inp.type.kind in ("integer", "decimal", "date", "datetime")
        sets: list[dc.ValueSet] = []
        for t in cell.tests:
            s = dc.test_set(t, ordered)
            if s is None:
                return "?"
            sets.append(s)
        if ordered:
            out = dc.ValueSet(intervals=[i for s in sets for i in s.intervals or []])
            return dc.complement(out) if cell.negated else out
        values = frozenset(v for s in sets for v in s.values or ())
        return dc.ValueSet(values=values, negated=cell.negated)

    # -- values
    def _value(self, path: tuple, raw: Any, out: CompiledOutput, allow_expr: bool = True) -> OutputValue:
        if isinstance(raw, str) and raw.lstrip().startswith("=") and allow_expr:
            text = raw.lstrip()[1:]
            c = self._expr(path, text, self.base, offset=len(raw) - len(raw.lstrip()) + 1)
            if c is None:
                return OutputValue()
            if not out.type.is_any and not c.type.is_any and not T.compatible(out.type, c.type):
                self.report.error(path, f"output '{out.name}' is {out.type}, the expression gives {c.type}")
            return OutputValue(fn=c.fn, compiled=c)
        value = self._literal(path, raw, out.type)
        if out.values is not None and value is not None and value not in out.values:
            self.report.error(path, f"{value!r} is not an allowed value of output '{out.name}' "
                                    f"({', '.join(dc.show(v) for v in out.values)})")
        return OutputValue(value=value)

    def _literal(self, path: tuple, raw: Any, t: T.Type) -> Any:
        try:
            return literal(raw, t)
        except ValueError as e:
            self.report.error(path, str(e))
            return None

    def _expr(self, path: tuple, text: str, scope: Scope, offset: int = 0) -> Any:
        try:
            return compile_expression(text, scope)
        except (ExpressionError, ExpressionErrors) as e:
            for err in getattr(e, "errors", [e]):
                col = err.column + offset if err.line == 1 else err.column
                self.report.expr_error(path, ExpressionError(err.message, text, err.line, col))
            return None

    # -- static checks
def table_gaps(table: DecisionTable, defn: DecisionDef, schema: Any) -> list[str] | None:
    """Descriptions of input combinations no rule covers (for ``ordo decide --check``)."""
    b = _Builder(defn, schema, _Report(None))
    b.base = Scope(schema, defn.entity, roots=table.roots)
    b.roots = table.roots
    shapes = []
    for k, rule in enumerate(defn.rules):
        cells, _ = b._split(k, rule, len(table.inputs), len(table.outputs))
        shapes.append([b._cell(path, raw, table.inputs[j])[1] for j, (path, raw) in enumerate(cells)])
    return gaps(shapes, columns(table))


def _split_rule_cells(defn: DecisionDef, rule: RuleDef) -> list[Any]:
    """The input cells of a rule in input order, whichever way it is written (for exports)."""
    b = _Builder(defn, None, _Report(None))
    cells, _ = b._split(0, rule, len(defn.inputs), len(defn.outputs))
    return [raw for _, raw in cells]


def _always(*args: Any) -> bool:
    return True


def _reads_others(compiled: Any) -> bool:
    return any(p.root != INPUT for p in compiled.paths())
