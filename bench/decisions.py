"""Decision table evaluations per second: a 50-row FIRST table and a 50-row COLLECT C+ table,
evaluated by Ordo's compiled tables, by the same logic written as nested if() expressions of the
Ordo expression language, and by SpiffWorkflow's DMN engine, in one run on the same inputs.

    python bench/decisions.py [--n 20000]

SpiffWorkflow (``pip install -e '.[bench]'``) has no FIRST and no C+: its UNIQUE returns the first
matching rule without checking for others (the FIRST semantics), and its COLLECT list is summed in
Python. Its cells are Python expressions evaluated per call. One Ordo expression is limited to 4000
characters and 50 levels of nesting, so the if() version is written as five expressions of ten
rows each (as a user would split it into computed fields) combined in order.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REGIONS = ["north", "south", "east", "west", "central"]
LEVELS = ["normal", "vip", "gold"]
ROWS = 50


def first_rows() -> list[tuple[int, int, str, int]]:
    """(lo, hi, region, output): amount in [lo..hi) and region, first match wins; the last row catches all."""
    return [(i * 200, (i + 1) * 200 + 300, REGIONS[i % 5], i + 1) for i in range(ROWS - 1)]


def collect_rows() -> list[tuple[int, str, int]]:
    """(min amount, level, points): every matching row adds its points."""
    return [(i * 150, LEVELS[i % 3], i % 7 + 1) for i in range(ROWS)]


def app_files() -> dict[str, str]:
    first = "\n".join(f'  - ["[{lo}..{hi})", \'"{r}"\', {out}]' for lo, hi, r, out in first_rows())
    first += '\n  - ["-", "-", 0]'
    collect = "\n".join(f'  - [">= {lo}", \'"{lv}"\', {p}]' for lo, lv, p in collect_rows())
    return {
        "app.yaml": "name: bench\nversion: 1\n",
        "decisions/first.yaml": "name: first\nhit_policy: FIRST\ninputs:\n  - {name: amount, type: decimal}\n"
                                "  - {name: region, type: string}\noutputs: [{name: out, type: integer}]\n"
                                f"rules:\n{first}\n",
        "decisions/collect.yaml": "name: collect\nhit_policy: C+\ninputs:\n  - {name: amount, type: decimal}\n"
                                  "  - {name: level, type: string}\noutputs: [{name: points, type: integer}]\n"
                                  f"rules:\n{collect}\n",
    }


def inputs(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [{"amount": Decimal(rng.randrange(0, 11000)), "region": rng.choice(REGIONS), "level": rng.choice(LEVELS)}
            for _ in range(n)]


def bench_ordo(app_dir: Path, data: list[dict[str, Any]]) -> tuple[float, float, list, list]:
    from ordo.dsl.loader import load_app

    schema = load_app(app_dir).schema
    first, collect = schema.decision("first"), schema.decision("collect")
    first_args = [first.root_values({"amount": d["amount"], "region": d["region"]}) for d in data]
    collect_args = [collect.root_values({"amount": d["amount"], "level": d["level"]}) for d in data]
    t0 = time.perf_counter()
    r1 = [first.evaluate({}, None, a) for a in first_args]
    t1 = time.perf_counter()
    r2 = [collect.evaluate({}, None, a) for a in collect_args]
    t2 = time.perf_counter()
    return len(data) / (t1 - t0), len(data) / (t2 - t1), r1, r2


def bench_if(data: list[dict[str, Any]]) -> tuple[float, float, list, list]:
    from ordo.dsl.expr import Scope, compile_expression
    from ordo.dsl.expr import types as T

    scope = Scope(_NoEntities(), None, roots={"amount": T.DECIMAL, "region": T.STRING, "level": T.STRING})
    rows = first_rows()
    firsts = []
    for k in range(0, len(rows), 10):
        text = "null"
        for lo, hi, r, out in reversed(rows[k:k + 10]):
            text = f'if(amount >= {lo} and amount < {hi} and region == "{r}", {out}, {text})'
        firsts.append(compile_expression(text, scope).fn)
    sums = []
    crows = collect_rows()
    for k in range(0, len(crows), 10):
        text = " + ".join(f'if(amount >= {lo} and level == "{lv}", {p}, 0)' for lo, lv, p in crows[k:k + 10])
        sums.append(compile_expression(text, scope).fn)
    t0 = time.perf_counter()
    r1 = []
    for d in data:
        out = 0
        for f in firsts:
            v = f({}, None, d["amount"], d["region"], d["level"])
            if v is not None:
                out = v
                break
        r1.append(out)
    t1 = time.perf_counter()
    r2 = []
    for d in data:
        r2.append(sum(f({}, None, d["amount"], d["region"], d["level"]) for f in sums) or None)
    t2 = time.perf_counter()
    return len(data) / (t1 - t0), len(data) / (t2 - t1), r1, r2


class _NoEntities:
    def entity_fields(self, entity: str) -> None:
        return None


SPIFF_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="bench" name="bench" namespace="bench">
  <decision id="{id}" name="{id}">
    <decisionTable id="{id}_t" hitPolicy="{policy}">
      <input id="i1" label="amount"><inputExpression typeRef="number"><text>amount</text></inputExpression></input>
      <input id="i2" label="{col}"><inputExpression typeRef="string"><text>{col}</text></inputExpression></input>
      <output id="o1" name="out" typeRef="number" />
{rules}
    </decisionTable>
  </decision>
</definitions>
"""


def _spiff_rule(k: int, a: str, b: str, out: int) -> str:
    return (f'      <rule id="r{k}"><inputEntry id="r{k}a"><text>{a}</text></inputEntry>'
            f'<inputEntry id="r{k}b"><text>{b}</text></inputEntry>'
            f'<outputEntry id="r{k}o"><text>{out}</text></outputEntry></rule>')


def bench_spiff(data: list[dict[str, Any]], tmp: Path) -> tuple[float, float, list, list]:
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser

    rules = [_spiff_rule(k, f"{lo} &lt;= ? &lt; {hi}", f'"{r}"', out) for k, (lo, hi, r, out) in enumerate(first_rows())]
    rules.append(_spiff_rule(ROWS, "-", "-", 0))
    (tmp / "first.dmn").write_text(SPIFF_DMN.format(id="first", policy="UNIQUE", col="region", rules="\n".join(rules)))
    crules = [_spiff_rule(k, f"&gt;= {lo}", f'"{lv}"', p) for k, (lo, lv, p) in enumerate(collect_rows())]
    (tmp / "collect.dmn").write_text(SPIFF_DMN.format(id="collect", policy="COLLECT", col="level",
                                                      rules="\n".join(crules)))
    parser = BpmnDmnParser()
    parser.add_dmn_files([str(tmp / "first.dmn"), str(tmp / "collect.dmn")])
    first, collect = parser.get_engine("first", None), parser.get_engine("collect", None)

    class Workflow:
        script_engine = PythonScriptEngine()

    class Task:
        workflow = Workflow()

        def __init__(self, values: dict[str, Any]) -> None:
            self.data = values

    tasks = [Task({"amount": int(d["amount"]), "region": d["region"], "level": d["level"]}) for d in data]
    t0 = time.perf_counter()
    r1 = [first.result(t).get("out") for t in tasks]
    t1 = time.perf_counter()
    r2 = [sum(collect.result(t).get("out", [])) or None for t in tasks]
    t2 = time.perf_counter()
    return len(data) / (t1 - t0), len(data) / (t2 - t1), r1, r2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="evaluations per engine and table")
    args = ap.parse_args()
    data = inputs(args.n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        for rel, text in app_files().items():
            (app / rel).parent.mkdir(parents=True, exist_ok=True)
            (app / rel).write_text(textwrap.dedent(text), encoding="utf-8")
        o1, o2, ref1, ref2 = bench_ordo(app, data)
        rows.append(("Ordo decision table (compiled)", o1, o2))
        i1, i2, r1, r2 = bench_if(data)
        assert (r1, r2) == (ref1, ref2), "the if() expressions disagree with the tables"
        rows.append(("Ordo nested if() expressions", i1, i2))
        try:
            s1, s2, r1, r2 = bench_spiff(data[: max(1, args.n // 10)], Path(tmp))
            assert (r1, r2) == (ref1[: len(r1)], ref2[: len(r2)]), "SpiffWorkflow disagrees with the tables"
            rows.append((f"SpiffWorkflow DMN engine (on {len(r1)} inputs)", s1, s2))
        except ImportError:
            rows.append(("SpiffWorkflow DMN engine (not installed: pip install spiffworkflow)", float("nan"),
                         float("nan")))
    print(f"{args.n} evaluations of a {ROWS}-row table (evaluations per second, higher is better)")
    print(f"{'engine':<58} {'FIRST':>12} {'COLLECT C+':>12}")
    for name, a, b in rows:
        print(f"{name:<58} {a:>12,.0f} {b:>12,.0f}")


if __name__ == "__main__":
    main()
