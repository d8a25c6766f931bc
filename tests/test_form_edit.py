"""Form designer edits (dsl/form_edit.py): fields and sections moved, labels, conditions and new fields,
each changing only its own lines, on the OMS pack (which still validates)."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from ordo.dsl.errors import DefinitionError
from ordo.dsl.form_edit import (
    add_field,
    move_field,
    move_section,
    set_field,
    set_field_label,
    set_field_rule,
    set_section,
)
from ordo.dsl.loader import builtin_templates_dir, load_app

FORM = "forms/sales_order.yaml"
ENTITY = "entities/risk_policy.yaml"


def read(file: str) -> str:
    return (builtin_templates_dir() / "oms" / file).read_text(encoding="utf-8")


def changed(a: str, b: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0):
        if not line.startswith(("---", "+++", "@@")):
            (removed if line.startswith("-") else added).append(line[1:])
    return removed, added


def test_move_field_between_and_within_sections(tmp_path: Path) -> None:
    text = read(FORM)
    out = move_field(text, "sales_order", "phone", section="Lines", index=0, file=FORM)
    removed, added = changed(text, out)
    assert added == ["    fields: [ship_to_name, email, ship_region, ship_province, ship_city, ship_address, ship_postcode]",
                     "    fields: [phone, lines]"]
    assert len(removed) == 2
    out = move_field(text, "sales_order", "phone", section="收货信息", index=0, file=FORM)
    assert changed(text, out)[1] == [
        "    fields: [phone, ship_to_name, email, ship_region, ship_province, ship_city, ship_address, ship_postcode]"]
    out = move_field(text, "sales_order", "currency", section=0, file=FORM)
    assert out == text  # already last
    app = tmp_path / "oms"
    shutil.copytree(builtin_templates_dir() / "oms", app)
    (app / FORM).write_text(move_field(text, "sales_order", "phone", section="Lines", file=FORM), encoding="utf-8")
    load_app(app)


def test_move_and_set_sections() -> None:
    text = read(FORM)
    out = move_section(text, "sales_order", "Order", 2, file=FORM)
    removed, added = changed(text, out)
    assert sorted(removed) == sorted(added) and len(removed) == 3
    out = set_section(text, "sales_order", "Review", {"columns": None, "title": {"en": "Risk review", "zh": "风控审核"}},
                      file=FORM)
    assert changed(text, out) == (["  - title: {en: Review, zh: 审核}", "    columns: 2"],
                                  ["  - title: {en: Risk review, zh: 风控审核}"])


def test_field_label_rule_and_properties() -> None:
    text = read(ENTITY)
    line = "  max_order_total: {type: money, min: 0, default: 20000, label: {en: Order total limit, zh: 订单金额上限}}"
    out = set_field_label(text, "risk_policy", "max_order_total", "zh", "订单总额上限", file=ENTITY)
    assert changed(text, out) == ([line], [line.replace("订单金额上限", "订单总额上限")])
    out = set_field_rule(text, "risk_policy", "max_order_total", "required_if", "active", file=ENTITY)
    assert changed(text, out) == ([line], [line[:-1] + ", required_if: active}"])
    out = set_field_rule(text, "risk_policy", "max_order_total", "visible_if", "policy_name != 'x'", file=ENTITY)
    assert changed(text, out)[1] == [line[:-1] + ", visible_if: \"policy_name != 'x'\"}"]
    out = set_field(text, "risk_policy", "max_order_total", {"default": 30000, "min": None}, file=ENTITY)
    assert changed(text, out)[1] == [line.replace("min: 0, default: 20000", "default: 30000")]
    plain = "name: e\nfields:\n  a:\n    type: string\n    label: Amount\n"
    out = set_field_label(plain, "e", "a", "zh", "金额")
    assert out == "name: e\nfields:\n  a:\n    type: string\n    label: {en: Amount, zh: 金额}\n"


def test_add_field(tmp_path: Path) -> None:
    text = read(ENTITY)
    out = add_field(text, "risk_policy", "tier", "enum", options=["gold", "silver"],
                    label={"en": "Tier", "zh": "等级"}, after="policy_name", file=ENTITY)
    assert changed(text, out) == ([], ["  tier: {type: enum, options: [gold, silver], label: {en: Tier, zh: 等级}}"])
    out = add_field(out, "risk_policy", "note", "text", required=True, file=ENTITY)
    app = tmp_path / "oms"
    shutil.copytree(builtin_templates_dir() / "oms", app)
    (app / ENTITY).write_text(out, encoding="utf-8")
    load_app(app)


def test_errors() -> None:
    text, entity = read(FORM), read(ENTITY)
    with pytest.raises(DefinitionError, match="no section titled 'Nope'"):
        move_field(text, "sales_order", "phone", section="Nope", file=FORM)
    with pytest.raises(DefinitionError, match="field 'nope' is in none of its sections"):
        move_field(text, "sales_order", "nope", section=0, file=FORM)
    with pytest.raises(DefinitionError, match="position 9 is outside section 2"):
        move_field(text, "sales_order", "phone", section=2, index=9, file=FORM)
    with pytest.raises(DefinitionError, match="already exists"):
        add_field(entity, "risk_policy", "code", "string", file=ENTITY)
    with pytest.raises(DefinitionError, match="needs options"):
        add_field(entity, "risk_policy", "tier", "enum", file=ENTITY)
    with pytest.raises(DefinitionError, match="unknown rule 'hidden_if'"):
        set_field_rule(entity, "risk_policy", "code", "hidden_if", "true", file=ENTITY)
    with pytest.raises(DefinitionError, match="no field 'nope'"):
        set_field_label(entity, "risk_policy", "nope", "zh", "x", file=ENTITY)
    with pytest.raises(DefinitionError, match="form 'risk_policy' is not defined"):
        move_section(entity, "risk_policy", 0, 1, file=ENTITY)


def test_errors_carry_the_file_and_line() -> None:
    text, entity = read(FORM), read(ENTITY)

    def line_of(t: str, prefix: str) -> int:
        return next(i for i, line in enumerate(t.splitlines(), 1) if line.startswith(prefix))

    with pytest.raises(DefinitionError) as e:
        add_field(entity, "risk_policy", "code", "string", file=ENTITY)
    assert (e.value.file, e.value.line) == (ENTITY, line_of(entity, "  code:"))
    assert str(e.value).startswith(f"{ENTITY}:{e.value.line}:1: entity risk_policy: a field 'code' already exists")
    with pytest.raises(DefinitionError) as e:
        set_field_label(entity, "risk_policy", "nope", "zh", "x", file=ENTITY)
    assert e.value.line == line_of(entity, "fields:")
    with pytest.raises(DefinitionError) as e:
        move_field(text, "sales_order", "phone", section="Nope", file=FORM)
    assert (e.value.file, e.value.line) == (FORM, line_of(text, "sections:"))
