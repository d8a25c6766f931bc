"""Item-by-item diff of two app versions (dsl/item_diff.py), in English and Chinese."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ordo.dsl.app import AppDefinition
from ordo.dsl.flow_edit import insert_node, set_node
from ordo.dsl.item_diff import Change, diff_definitions
from ordo.dsl.loader import builtin_templates_dir, load_app
from ordo.dsl.yaml_edit import apply_edits


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[AppDefinition, AppDefinition]:
    root: Path = tmp_path_factory.mktemp("diff") / "oms"
    shutil.copytree(builtin_templates_dir() / "oms", root)
    before = load_app(root)

    def edit(file: str, fn) -> None:
        path = root / file
        path.write_text(fn(path.read_text(encoding="utf-8")), encoding="utf-8")

    flow = "order_lifecycle"
    edit("flows/order_lifecycle.yaml", lambda t: insert_node(
        t, flow, "finance_review", {"type": "approval", "label": {"en": "Finance review", "zh": "财务审核"},
                                    "approvers": [{"role": "admin"}], "on_reject": "reject"}, before="manual_review"))
    edit("flows/order_lifecycle.yaml", lambda t: apply_edits(t, [
        {"op": "set", "path": ["nodes", "route", "branches", 0, "when"], "value": "risk_count > 1"}]))
    edit("flows/order_lifecycle.yaml", lambda t: set_node(t, flow, "manual_review", {"mode": "all"}))
    risk = {"kind": "entity", "name": "risk_policy"}
    edit("entities/risk_policy.yaml", lambda t: apply_edits(t, [
        {"op": "set", "definition": risk, "path": ["fields", "max_order_total", "default"], "value": 30000},
        {"op": "set", "definition": risk, "path": ["fields", "max_order_total", "required"], "value": True},
        {"op": "set", "definition": risk, "path": ["fields", "note"], "value": {"type": "string"}}]))
    edit("forms/sales_order.yaml", lambda t: apply_edits(t, [
        {"op": "move", "path": ["sections", 0, "fields"], "from": 0, "to": 3},
        {"op": "move", "path": ["sections"], "from": 4, "to": 5},
        {"op": "delete", "path": ["sections", 1, "fields", 1]},
        {"op": "insert", "path": ["sections", 2, "fields"], "index": 0, "value": "phone"}]))
    return before, load_app(root)


def lines(changes: list[Change], lang: str = "en") -> list[str]:
    return [c.describe(lang) for c in changes]


def test_flow_nodes_item_by_item(versions) -> None:
    found = lines(diff_definitions(*versions))
    assert "flow order_lifecycle: node finance_review added" in found
    assert "flow order_lifecycle: node route: branches[0].when risk_count > 0 -> risk_count > 1" in found
    assert "flow order_lifecycle: node review_or_cancel: to[0] manual_review -> finance_review" in found
    assert "flow order_lifecycle: node manual_review: mode added: all" in found


def test_entity_fields(versions) -> None:
    found = lines(diff_definitions(*versions))
    assert "entity risk_policy: field max_order_total: default 20000 -> 30000" in found
    assert "entity risk_policy: field max_order_total made required" in found
    assert "entity risk_policy: field note added" in found


def test_form_moves(versions) -> None:
    changes = [c for c in diff_definitions(*versions) if c.kind == "form"]
    found = lines(changes)
    assert "form sales_order: field channel moved within section Order" in found
    assert "form sales_order: field phone moved from section Ship to to Lines" in found
    assert "form sales_order: section Review moved" in found or "form sales_order: section Cancellation moved" in found
    assert not any("fields" in line and "->" in line for line in found)  # moves, not whole-list replacements
    assert all(c.action == "moved" for c in changes)


def test_chinese_uses_the_labels(versions) -> None:
    found = lines(diff_definitions(*versions), "zh")
    assert "流程 order_lifecycle（订单生命周期）：新增节点 finance_review（财务审核）" in found
    assert "实体 risk_policy（订单风控策略）：字段 max_order_total（订单金额上限） 改为必填" in found
    assert "实体 risk_policy（订单风控策略）：字段 max_order_total（订单金额上限）：默认值 20000 改为 30000" in found
    assert "表单 sales_order（销售订单）：字段 phone 从分区 收货信息 移到 订单明细" in found


def test_definitions_added_and_removed_and_no_changes(versions) -> None:
    before, after = versions
    assert diff_definitions(before, before) == []
    small = AppDefinition(before.manifest)
    for loc in before.items["flow"].values():
        small.add(loc)
    removed = diff_definitions(before, small)
    assert Change("entity", "risk_policy", "removed", label=before.get("entity", "risk_policy").label) in removed
    assert "entity sales_order: removed" in lines(removed)
    added = diff_definitions(small, before)
    assert "entity sales_order: added" in lines(added)
    assert any(line.startswith("实体 sales_order") and line.endswith("新增") for line in lines(added, "zh"))
    assert {c.to_dict()["action"] for c in added} == {"added"}
