"""Evaluations per second of compiled Ordo expressions next to a hand-written Python
lambda, simpleeval and cel-python, on the same 100,000 records, in one run.

    pip install -e ".[bench]" && python bench/expressions.py [--records N]

Target: Ordo within 3x of the hand-written lambda. Every engine evaluates the
same expression with the same (null-aware) meaning; peers get their input in the
form they need, converted before timing, and parse once where they can.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from decimal import Decimal

from ordo.dsl.expr import Env, Scope, compile_expression
from ordo.dsl.expr import types as T

CASES = [
    ("filter", 'amount > 10000 and status in ["new", "paid"]',
     lambda r: r["amount"] is not None and r["amount"] > 10000 and r["status"] in ("new", "paid"),
     "amount > 10000.0 && status in ['new', 'paid']"),
    ("tax", 'if(country == "CN", amount * 0.13, 0) > 1000',
     lambda r: (r["amount"] * Decimal("0.13") if r["country"] == "CN" else 0) > 1000,
     "(country == 'CN' ? amount * 0.13 : 0.0) > 1000.0"),
    ("arith", "qty * price - discount >= 500",
     lambda r: r["qty"] * r["price"] - r["discount"] >= 500,
     "double(qty) * price - discount >= 500.0"),
]


class Schema:
    fields = {"amount": T.DECIMAL, "status": T.STRING, "country": T.STRING, "qty": T.INTEGER, "price": T.DECIMAL,
              "discount": T.DECIMAL}

    def entity_fields(self, entity):
        return self.fields


def make_records(n: int) -> list[dict]:
    rng = random.Random(1)
    return [{
        "amount": Decimal(rng.randint(0, 2_000_000)) / 100,
        "status": rng.choice(["new", "paid", "cancelled", "shipped"]),
        "country": rng.choice(["CN", "US", "DE"]),
        "qty": rng.randint(1, 20),
        "price": Decimal(rng.randint(100, 10_000)) / 100,
        "discount": Decimal(rng.randint(0, 5_000)) / 100,
    } for _ in range(n)]


def rate(fn: Callable[[object], object], items: list, repeat: int = 3) -> tuple[float, list]:
    best = float("inf")
    results: list = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        results = [fn(x) for x in items]
        best = min(best, time.perf_counter() - t0)
    return len(items) / best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    records = make_records(args.records)
    float_records = [{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in records]

    try:
        from simpleeval import EvalWithCompoundTypes as SimpleEval
    except ImportError:  # pragma: no cover
        SimpleEval = None  # noqa: N806
    try:
        import celpy
    except ImportError:  # pragma: no cover
        celpy = None

    print(f"{args.records:,} records; evaluations per second (higher is better)\n")
    header = f"{'case':<8}{'lambda':>12}{'ordo':>12}{'ordo/lambda':>13}{'simpleeval':>13}{'cel-python':>13}"
    print(header)
    print("-" * len(header))
    env = Env()
    for name, text, handwritten, cel_text in CASES:
        lam, expected = rate(handwritten, records)
        expr = compile_expression(text, Scope(Schema(), "x"))
        fn = expr.fn
        ordo, got = rate(lambda r, fn=fn: fn(r, env), records)
        assert [bool(g) for g in got] == [bool(e) for e in expected], f"{name}: ordo disagrees with the lambda"
        se = "n/a"
        if SimpleEval is not None:
            s = SimpleEval()
            se_text = text.replace("if(", "(").replace('in ["new", "paid"]', 'in ("new", "paid")')
            if name == "tax":
                se_text = "(amount * 0.13 if country == 'CN' else 0) > 1000"
            parsed = s.parse(se_text)

            def run_se(r, s=s, parsed=parsed, se_text=se_text):
                s.names = r
                return s.eval(se_text, previously_parsed=parsed)

            se_rate, _ = rate(run_se, float_records, repeat=1)
            se = f"{se_rate:,.0f}"
        cel = "n/a"
        if celpy is not None:
            cenv = celpy.Environment()
            prog = cenv.program(cenv.compile(cel_text))
            activations = [celpy.json_to_cel(r) for r in float_records[: max(1, len(records) // 10)]]
            cel_rate, _ = rate(prog.evaluate, activations, repeat=1)
            cel = f"{cel_rate:,.0f}"
        print(f"{name:<8}{lam:>12,.0f}{ordo:>12,.0f}{lam / ordo:>12.2f}x{se:>13}{cel:>13}")
    print("\nordo/lambda: how many times slower than hand-written Python (target: under 3x).")
    print("cel-python is timed on a tenth of the records (it is slow); its rate is per record all the same.")


if __name__ == "__main__":
    main()
