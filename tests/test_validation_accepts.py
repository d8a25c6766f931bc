"""``CompiledField.accepts`` (the validation's fast path) agrees with ``validation.check_field`` on every value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ordo.dsl.loader import load_app
from ordo.engine.compiled import compile_app
from ordo.engine.validation import check_field

FIELDS = """
name: thing
fields:
  code: {type: string, required: true, min_length: 2, max_length: 5, pattern: "[A-Z]+"}
  note: {type: string}
  qty: {type: integer, required: true, min: 1, max: 10}
  price: {type: money, min: 0}
  day: {type: date}
  flag: {type: boolean, required: true}
  lines: {type: table, entity: thing_line, required: true}
---
name: thing_line
child: true
fields:
  sku: {type: string, required: true}
"""

VALUES = [None, "", "  ", "A", "AB", "ab", "ABCDEF", "ABC", 0, 1, 10, 11, -1, Decimal("0"), Decimal("-0.01"),
          Decimal("3.5"), dt.date(2025, 12, 31), dt.date(2026, 1, 1), True, False, [], [{"sku": "x"}]]


def test_accepts_is_check_field_without_errors(make_app):
    ce = compile_app(load_app(make_app({"entities/thing.yaml": FIELDS}))).entities["thing"]
    seen = 0
    for cf in ce.fields.values():
        for value in VALUES:
            errors: list = []
            try:
                check_field(cf, value, cf.name, errors)
            except TypeError:  # not comparable with the field's bounds: both raise
                try:
                    cf.accepts(value)
                except TypeError:
                    continue
                raise AssertionError(f"{cf.name} {value!r}: accepts did not raise") from None
            assert cf.accepts(value) is (not errors), (cf.name, value, errors)
            seen += 1
    assert seen > 100
