"""``decide('table', record?, 'output'?)``: a decision table called from an expression.

The checker finds the compiled table through the schema (``schema.decision(name)``) and keeps
it on the call node; Python calls the table's compiled evaluator, SQL inlines the table as
one CASE expression (single-result tables and C+ / C#). Kept apart from the general checker
and compilers so the expression language only knows the call.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from . import ast
from .types import ANY, INTEGER, JSON, STRING, Type, list_of

if TYPE_CHECKING:
    from .checker import Checker, Scope


def check_decide(checker: Checker, node: ast.Call, scope: Scope) -> Type:
    args = node.args
    for a in args[1:]:
        checker.visit(a, scope)
    if not args or not isinstance(args[0], ast.Literal) or not isinstance(args[0].value, str):
        return checker.error(node, "decide() takes the decision table's name in quotes first, "
                                   "e.g. decide('review_level')")
    if len(args) > 3:
        return checker.error(node, f"decide() takes 1-3 argument(s), got {len(args)}")
    args[0].type = STRING
    name = args[0].value
    finder = getattr(scope.schema, "decision", None)
    table = finder(name) if finder is not None else None
    if table == "cycle":
        return checker.error(args[0], f"decision '{name}' calls itself through decide()")
    if table is None:
        known = scope.schema.decision_names() if hasattr(scope.schema, "decision_names") else []
        if name in known:
            return checker.error(args[0], f"decision '{name}' has errors (see its file)")
        close = difflib.get_close_matches(name, known, n=1)
        return checker.error(args[0], f"unknown decision '{name}'" + (f" (did you mean '{close[0]}'?)" if close
                                                                      else ""))
    record: ast.Node | None = None
    output: int | None = None
    for a in args[1:]:
        if isinstance(a, ast.Literal) and isinstance(a.value, str):
            names = [o.name for o in table.outputs]
            if a.value not in names:
                return checker.error(a, f"decision '{name}' has no output '{a.value}' (outputs: {', '.join(names)})")
            output = names.index(a.value)
        elif record is None:
            record = a
        else:
            return checker.error(a, "decide() takes one record")
    if table.entity is None:
        return checker.error(node, f"decision '{name}' has no entity: it reads named inputs, so call it from "
                                   f"`ordo decide`, the API or a flow, not from an expression")
    if record is None:
        if scope.entity != table.entity:
            return checker.error(node, f"decision '{name}' decides on a {table.entity} record; pass one, "
                                       f"e.g. decide('{name}', {table.entity})")
    else:
        t = record.type
        if t is None or not (t.is_any or (t.kind == "record" and t.arg == table.entity)):
            return checker.error(record, f"decision '{name}' decides on a {table.entity} record, got {t}")
    node.decision = (table, output, record is not None)  # type: ignore[attr-defined]
    return result_type(table, output)


def result_type(table: Any, output: int | None) -> Type:
    if output is None and len(table.outputs) > 1:
        one: Type = JSON
    else:
        one = table.outputs[output or 0].type.plain()
    if table.aggregation == "COUNT":
        return INTEGER
    if table.aggregation is not None:
        return one
    if table.policy in ("RULE ORDER", "OUTPUT ORDER", "COLLECT"):
        return list_of(one)
    return one if not one.is_null else ANY


def python_call(gen: Any, node: ast.Call, args: list[str]) -> str:
    table, output, has_record = node.decision  # type: ignore[attr-defined]
    rec = "r"
    if has_record:
        k = next(i for i, a in enumerate(node.args) if i > 0 and not (
            isinstance(a, ast.Literal) and isinstance(a.value, str)))
        rec = f"_lr(env, {table.entity!r}, {args[k]})"
    return f"_decide({gen.const(table)}, env, {rec}, {output!r})"


def run_decision(table: Any, env: Any, record: Any, output: int | None) -> Any:
    if record is None:
        return None
    result = table.evaluate(record, env)
    if output is None or len(table.outputs) == 1:
        return result
    name = table.outputs[output].name
    if isinstance(result, list):
        return [r.get(name) if isinstance(r, dict) else None for r in result]
    return result.get(name) if isinstance(result, dict) else None


def sql_call(node: ast.Call, src: Any, roots: dict[str, Any], clock: Any) -> Any:
    from ..decision_table import sql_problem, table_sql
    from ..errors import ExpressionError

    table, output, has_record = node.decision  # type: ignore[attr-defined]
    problem = sql_problem(table)
    if problem is None and output is None and len(table.outputs) > 1:
        problem = f"decision '{table.name}' has several outputs: name one, e.g. decide('{table.name}', " \
                  f"'{table.outputs[0].name}')"
    if problem:
        raise ExpressionError(problem)
    if has_record:
        rec = next(a for a in node.args[1:] if not (isinstance(a, ast.Literal) and isinstance(a.value, str)))
        assert isinstance(rec, ast.Path)
        steps = rec.steps
        if rec.root is not None:
            src, steps = roots[rec.root], steps[1:]
        for step in steps:
            src = src.link(step.name, step.target or "")
    return table_sql(table, src, output, clock)
