"""Flow graph edits (dsl/flow_edit.py) on the OMS order flow: the edges are rewired per the flow schema, only
the affected lines change, and the app still validates."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from ordo.dsl.errors import DefinitionError
from ordo.dsl.flow_edit import edge_path, edges, insert_node, reconnect, remove_node, set_node
from ordo.dsl.loader import builtin_templates_dir, load_app
from ordo.dsl.yaml_source import parse_documents

FILE = "flows/order_lifecycle.yaml"
FLOW = "order_lifecycle"


@pytest.fixture(scope="module")
def text() -> str:
    return (builtin_templates_dir() / "oms" / FILE).read_text(encoding="utf-8")


def changed(a: str, b: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (removed if line.startswith("-") else added).append(line[1:])
    return removed, added


def nodes(text: str) -> dict:
    return parse_documents(text, FILE)[0].data["nodes"]


def valid(tmp_path: Path, new_text: str, file: str = FILE) -> None:
    """The OMS app with this file changed still loads and checks."""
    app = tmp_path / "oms"
    shutil.copytree(builtin_templates_dir() / "oms", app)
    (app / file).write_text(new_text, encoding="utf-8")
    load_app(app)


FINANCE = {"type": "approval", "label": {"en": "Finance approval", "zh": "财务审批"},
           "approvers": [{"role": "admin"}], "on_reject": "reject"}


def test_insert_before_repoints_every_edge_into_the_node(text: str, tmp_path: Path) -> None:
    out = insert_node(text, FLOW, "finance_review", FINANCE, before="manual_review", file=FILE)
    removed, added = changed(text, out)
    assert removed == ["    to: [manual_review, cancelled_meanwhile]"]
    assert added == ["    to: [finance_review, cancelled_meanwhile]", "  finance_review:", "    type: approval",
                     "    label: {en: Finance approval, zh: 财务审批}", "    approvers: [{role: admin}]",
                     "    on_reject: reject", "    next: manual_review"]
    n = nodes(out)
    assert list(n).index("finance_review") == list(n).index("manual_review") - 1
    valid(tmp_path, out)


def test_insert_before_a_node_with_several_edges_into_it(text: str, tmp_path: Path) -> None:
    into = [(name, path) for name, node in nodes(text).items() for path, to in edges(node) if to == "cancelled"]
    assert len(into) >= 4  # branches, next and a flow mapping's 'to' lead there
    out = insert_node(text, FLOW, "last_check", {"type": "action", "set": {"cancel_reason": "coalesce(cancel_reason, "
                                                                                          "'cancelled')"}},
                      before="cancelled", file=FILE)
    removed, added = changed(text, out)
    assert len(removed) == len(into)  # one line per edge ...
    assert len(added) - len(removed) == 4  # ... and the new node's four lines
    n = nodes(out)
    for name, path in into:
        node = n[name]
        for part in path:
            node = node[part]
        assert node == "last_check"
    assert n["last_check"]["next"] == "cancelled"
    valid(tmp_path, out)


def test_insert_after_takes_over_next(text: str, tmp_path: Path) -> None:
    out = insert_node(text, FLOW, "finance_review", FINANCE, after="screen", file=FILE)
    removed, added = changed(text, out)
    assert len(removed) <= 1 and len(added) - len(removed) == 6  # screen.next changed, 6 lines of the new node
    assert "    next: finance_review" in added
    assert nodes(out)["finance_review"]["next"] == "route"
    valid(tmp_path, out)


def test_insert_before_the_start_node_starts_the_flow(text: str, tmp_path: Path) -> None:
    out = insert_node(text, FLOW, "intake_check", {"type": "action", "set": {"hold_reason": "null"}},
                      before="payment", file=FILE)
    assert next(iter(nodes(out))) == "intake_check"
    assert changed(text, out)[0] == []
    valid(tmp_path, out)
    explicit = text.replace("nodes:\n", "start: payment\nnodes:\n", 1)
    out = insert_node(explicit, FLOW, "intake_check", {"type": "action", "set": {"hold_reason": "null"}},
                      before="payment", file=FILE)
    assert "start: intake_check\n" in out


def test_remove_node_leads_edges_to_its_successor(text: str, tmp_path: Path) -> None:
    out = remove_node(text, FLOW, "hold", file=FILE)
    removed, added = changed(text, out)
    assert added == ['      - {when: "risk_count > 0", to: review_or_cancel}']
    assert removed[0] == '      - {when: "risk_count > 0", to: hold}' and removed[1] == "  hold:"
    assert "hold" not in nodes(out)
    valid(tmp_path, out)


def test_remove_refused_when_ambiguous_or_dangling(text: str) -> None:
    with pytest.raises(DefinitionError, match="node 'route' has several successors"):
        remove_node(text, FLOW, "route", file=FILE)
    with pytest.raises(DefinitionError, match="node 'closed' has no successor"):
        remove_node(text, FLOW, "closed", file=FILE)
    with pytest.raises(DefinitionError, match="no node 'nope'"):
        remove_node(text, FLOW, "nope", file=FILE)


def test_reconnect_each_kind_of_edge(text: str, tmp_path: Path) -> None:
    out = reconnect(text, FLOW, "route", "branch:0", "manual_review", file=FILE)
    assert changed(text, out) == (['      - {when: "risk_count > 0", to: hold}'],
                                  ['      - {when: "risk_count > 0", to: manual_review}'])
    out = reconnect(text, FLOW, "route", "default", "hold", file=FILE)
    assert changed(text, out) == (["    default: auto_approve"], ["    default: hold"])
    out = reconnect(text, FLOW, "manual_review", "on_reject", "cancelled", file=FILE)
    assert changed(text, out) == (["    on_reject: reject"], ["    on_reject: cancelled"])
    out = reconnect(text, FLOW, "wait_for_stock", "timeout", "release", file=FILE)
    assert changed(text, out) == (["      to: allocate"], ["      to: release"])
    out = reconnect(text, FLOW, "review_or_cancel", "to:1", "review_done", file=FILE)
    assert changed(text, out)[1] == ["    to: [manual_review, review_done]"]
    with pytest.raises(DefinitionError, match="no edge 'branch:3'"):
        reconnect(text, FLOW, "route", "branch:3", "hold", file=FILE)
    with pytest.raises(DefinitionError, match="no node 'nowhere'"):
        reconnect(text, FLOW, "route", "default", "nowhere", file=FILE)
    with pytest.raises(DefinitionError, match="unknown edge 'sideways'"):
        reconnect(text, FLOW, "route", "sideways", "hold", file=FILE)


def test_set_node_sets_and_removes_properties(text: str, tmp_path: Path) -> None:
    out = set_node(text, FLOW, "manual_review", {"mode": "all", "comment_required": None,
                                                 "label": {"en": "Manual review", "zh": "人工复核"}}, file=FILE)
    removed, added = changed(text, out)
    assert removed == ["    label: {en: Manual review, zh: 人工审核}", "    comment_required: [reject]"]
    assert added == ["    label: {en: Manual review, zh: 人工复核}", "    mode: all"]
    valid(tmp_path, out)


def test_insert_errors(text: str) -> None:
    with pytest.raises(DefinitionError, match="already exists"):
        insert_node(text, FLOW, "hold", FINANCE, before="route", file=FILE)
    with pytest.raises(DefinitionError, match="exactly one"):
        insert_node(text, FLOW, "x", FINANCE, before="route", after="hold", file=FILE)
    with pytest.raises(DefinitionError, match="no 'next' to insert after"):
        insert_node(text, FLOW, "x", FINANCE, after="route", file=FILE)
    with pytest.raises(DefinitionError, match="lower case"):
        insert_node(text, FLOW, "Bad Name", FINANCE, after="hold", file=FILE)
    with pytest.raises(DefinitionError, match="flow 'other' is not defined"):
        insert_node(text, "other", "x", FINANCE, after="hold", file=FILE)


def test_edge_names() -> None:
    assert edge_path("branch:2") == ("branches", 2, "to")
    assert edge_path("timeout:1") == ("timeout", 1, "to")
    assert edge_path("to:0") == ("to", 0)
    with pytest.raises(ValueError):
        edge_path("branch:x")


def test_remove_an_approval_follows_its_next(text: str, tmp_path: Path) -> None:
    added = insert_node(text, FLOW, "finance_review", FINANCE, before="manual_review", file=FILE)
    out = remove_node(added, FLOW, "finance_review", file=FILE)  # on_reject goes with it
    assert out == text
    valid(tmp_path, out)


def _line_of(text: str, prefix: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def test_errors_carry_the_file_and_line_of_the_node_or_flow(text: str) -> None:
    with pytest.raises(DefinitionError) as e:
        remove_node(text, FLOW, "route", file=FILE)
    assert (e.value.file, e.value.line) == (FILE, _line_of(text, "  route:"))
    assert str(e.value).startswith(f"{FILE}:{e.value.line}:1: flow {FLOW}: node 'route' has several successors")
    with pytest.raises(DefinitionError) as e:
        reconnect(text, FLOW, "hold", "branch:3", "closed", file=FILE)
    assert e.value.line == _line_of(text, "  hold:")
    with pytest.raises(DefinitionError) as e:
        remove_node(text, FLOW, "nope", file=FILE)
    assert e.value.line == _line_of(text, "nodes:")  # an unknown node: the flow's nodes
    with pytest.raises(DefinitionError) as e:
        insert_node(text, FLOW, "Bad Name", {"type": "end"}, before="hold", file=FILE)
    assert e.value.line is not None and e.value.line <= _line_of(text, "nodes:")  # the flow itself


def test_a_batch_is_bounded_with_the_limit_named(text: str) -> None:
    from ordo.dsl.yaml_edit import MAX_EDIT_BYTES, MAX_EDITS, EditsTooLarge, apply_edits

    one = {"op": "set", "path": ["nodes", "hold", "label"], "value": "x"}
    with pytest.raises(EditsTooLarge, match=f"at most {MAX_EDITS} edits"):
        apply_edits(text, [one] * (MAX_EDITS + 1), file=FILE)
    big = text + "#" * 80 + "\n" + ("# padding " + "." * 70 + "\n") * (MAX_EDIT_BYTES // 80)
    with pytest.raises(EditsTooLarge, match=f"files of at most {MAX_EDIT_BYTES} bytes"):
        apply_edits(big, [one], file=FILE)
    medium = text + ("# padding " + "." * 70 + "\n") * 1000  # ~90 KB: a few edits at once, not a hundred
    with pytest.raises(EditsTooLarge, match=r"at most \d+ edits at once for a file this size"):
        apply_edits(medium, [one] * 50, file=FILE)
