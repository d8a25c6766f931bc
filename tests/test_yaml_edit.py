"""Structured YAML edits (dsl/yaml_edit.py): each op changes only the affected lines; comments, key order,
quoting, flow style and indentation elsewhere are kept; bad edits are clear errors that change nothing."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from ordo.dsl.errors import DefinitionError
from ordo.dsl.loader import builtin_templates_dir
from ordo.dsl.yaml_edit import apply_edits, definition_location, definition_path
from ordo.dsl.yaml_source import parse_documents

TEXT = """\
# a flow for tests
name: f
label: {en: Test flow, zh: 测试流程}
nodes:
  # the first node
  a:
    type: action
    set: {x: "1"}     # eol a
    next: b   # eol next

  # about b
  b:
    type: condition
    branches:
      - {when: "x > 1", to: c}   # big
      # the second branch
      - {when: "x == 'y'", to: d}
    default: c
  # about c
  c: {type: end}
  # about d
  d: {type: end, outcome: other}
# the end
"""


def diff(a: str, b: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) from a to b."""
    removed, added = [], []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (removed if line.startswith("-") else added).append(line[1:])
    return removed, added


def comments(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if "#" in line:
            out.append(line[line.index("#"):])
    return out


def edit(*edits: dict, text: str = TEXT) -> str:
    out = apply_edits(text, list(edits), file="flows/f.yaml")
    list(yaml.safe_load_all(out))  # still parses
    return out


# -- set -------------------------------------------------------------------------------------------------

def test_set_scalar_changes_one_line_and_keeps_its_comment() -> None:
    out = edit({"op": "set", "path": ["nodes", "a", "next"], "value": "c"})
    assert diff(TEXT, out) == (["    next: b   # eol next"], ["    next: c   # eol next"])


def test_set_inside_a_flow_mapping_keeps_flow_style_and_quotes() -> None:
    out = edit({"op": "set", "path": ["nodes", "b", "branches", 0, "when"], "value": "x > 50000"})
    assert diff(TEXT, out) == (['      - {when: "x > 1", to: c}   # big'], ['      - {when: "x > 50000", to: c}   # big'])
    out = edit({"op": "set", "path": ["label", "zh"], "value": "新名字"})
    assert diff(TEXT, out)[1] == ["label: {en: Test flow, zh: 新名字}"]


def test_new_expression_strings_are_quoted_as_yaml_needs() -> None:
    out = edit({"op": "set", "path": ["nodes", "a", "set", "y"], "value": "status == 'done'"})
    assert diff(TEXT, out)[1] == ["""    set: {x: "1", y: "status == 'done'"}     # eol a"""]
    for value in ("yes", "1.0", "null", "a: b", "#x", "Paid?", "- x", ""):
        out = edit({"op": "set", "path": ["nodes", "a", "next"], "value": value})
        assert yaml.safe_load(out)["nodes"]["a"]["next"] == value


def test_new_key_is_appended_or_placed_and_follows_peers_style() -> None:
    out = edit({"op": "set", "path": ["nodes", "a", "label"], "value": {"en": "A", "zh": "甲"}, "after": "type"})
    assert diff(TEXT, out) == ([], ["    label: {en: A, zh: 甲}"])
    assert out.index("label: {en: A") < out.index("set: {x:")
    out = edit({"op": "set", "path": ["nodes", "e"], "value": {"type": "approval", "approvers": [{"role": "admin"}],
                                                                "next": "c"}, "before": "c"})
    removed, added = diff(TEXT, out)
    assert removed == [] and added == ["  e:", "    type: approval", "    approvers: [{role: admin}]", "    next: c"]
    # the comments above c stay above c
    assert out.index("  e:") < out.index("  # about c") < out.index("  c: {type: end}")


def test_set_a_block_value_replaces_only_its_lines() -> None:
    out = edit({"op": "set", "path": ["nodes", "b", "branches"], "value": [{"when": "x > 2", "to": "c"}]})
    removed, added = diff(TEXT, out)
    assert added == ['      - {when: "x > 2", to: c}']
    assert "    default: c" not in removed and "  # about c" in out


def test_set_list_item_and_mapping_in_block_list() -> None:
    out = edit({"op": "set", "path": ["nodes", "b", "branches", 1], "value": {"when": "x < 0", "to": "d"}})
    assert diff(TEXT, out) == (["      - {when: \"x == 'y'\", to: d}"], ['      - {when: "x < 0", to: d}'])


# -- delete / insert / move / rename -------------------------------------------------------------------

def test_delete_keeps_the_comments_around_the_item() -> None:
    out = edit({"op": "delete", "path": ["nodes", "c"]})
    assert diff(TEXT, out) == (["  c: {type: end}"], [])
    out = edit({"op": "delete", "path": ["nodes", "b"]})
    removed, _ = diff(TEXT, out)
    assert removed[0] == "  b:" and removed[-1] == "    default: c"
    assert "  # about b" in out and "  # about c" in out and "# the end" in out


def test_delete_in_flow_collections_and_last_item() -> None:
    out = edit({"op": "delete", "path": ["nodes", "d", "outcome"]})
    assert diff(TEXT, out) == (["  d: {type: end, outcome: other}"], ["  d: {type: end}"])
    out = edit({"op": "delete", "path": ["nodes", "d"]})
    assert diff(TEXT, out) == (["  d: {type: end, outcome: other}"], [])
    assert out.endswith("# the end\n")


def test_insert_into_block_and_flow_lists() -> None:
    out = edit({"op": "insert", "path": ["nodes", "b", "branches"], "index": 1, "value": {"when": "x < 0", "to": "d"}})
    removed, added = diff(TEXT, out)
    assert removed == [] and added == ['      - {when: "x < 0", to: d}']
    lines = out.splitlines()
    assert lines.index('      - {when: "x < 0", to: d}') == lines.index('      - {when: "x > 1", to: c}   # big') + 1
    out = edit({"op": "insert", "path": ["nodes", "b", "branches"], "value": {"when": "x < 0", "to": "d"}})
    assert out.splitlines()[17] == '      - {when: "x < 0", to: d}'
    text = "name: s\nsections:\n  - fields: [a, b]   # keep\n"
    out = edit({"op": "insert", "path": ["sections", 0, "fields"], "index": 0, "value": "z"}, text=text)
    assert out == "name: s\nsections:\n  - fields: [z, a, b]   # keep\n"


def test_move_list_items_with_their_comments() -> None:
    out = edit({"op": "move", "path": ["nodes", "b", "branches"], "from": 1, "to": 0})
    assert out.splitlines()[14:18] == ["      # the second branch", "      - {when: \"x == 'y'\", to: d}",
                                       '      - {when: "x > 1", to: c}   # big', "    default: c"]
    assert sorted(comments(out)) == sorted(comments(TEXT))
    text = "name: s\nsections:\n  - fields: [a, b, c]\n"
    assert edit({"op": "move", "path": ["sections", 0, "fields"], "from": 0, "to": 2}, text=text) \
        == "name: s\nsections:\n  - fields: [b, c, a]\n"


def test_rename_keeps_position_comment_and_value() -> None:
    out = edit({"op": "rename", "path": ["nodes", "b"], "to": "route"})
    assert diff(TEXT, out) == (["  b:"], ["  route:"])
    out = edit({"op": "rename", "path": ["nodes", "d", "outcome"], "to": "state"})
    assert diff(TEXT, out) == (["  d: {type: end, outcome: other}"], ["  d: {type: end, state: other}"])


def test_indentation_of_the_file_is_kept() -> None:
    text = "name: s\nnodes:\n    a:\n        type: end\nitems:\n-   x: 1\n"
    out = edit({"op": "set", "path": ["nodes", "b"], "value": {"type": "end", "outcome": "x", "more": {"k": "v"}}},
               text=text)
    assert "    b:\n        type: end\n        outcome: x\n        more:\n            k: v\n" in out
    assert out.startswith(text[:40])


def test_several_documents_and_lists_of_definitions() -> None:
    text = "# two\nname: one\nkind: entity\nfields: {}\n---\n# second\nname: two\nkind: flow\nnodes: {x: {type: end}}\n"
    assert definition_location(text, "flow", "two") == (1, [])
    out = edit({"op": "set", "definition": {"kind": "flow", "name": "two"}, "path": ["nodes", "x", "outcome"],
                "value": "done"}, text=text)
    assert diff(text, out) == (["nodes: {x: {type: end}}"], ["nodes: {x: {type: end, outcome: done}}"])
    listed = "- name: a\n  kind: role\n- name: b   # bee\n  kind: role\n"
    assert definition_path(listed, "role", "b") == [1]
    out = edit({"op": "set", "definition": {"kind": "role", "name": "b"}, "path": ["label"], "value": "Bee"},
               text=listed)
    assert out == listed + "  label: Bee\n"
    roles = "roles:\n  admin:\n    label: Admin\n"
    assert definition_path(roles, "role", "admin") == ["roles", "admin"]


def test_null_and_numbers_keep_their_types() -> None:
    out = edit({"op": "set", "path": ["nodes", "a", "timeout"], "value": {"after": "2d", "count": 3, "off": None,
                                                                          "on": True}})
    data = parse_documents(out, "f.yaml")[0].data["nodes"]["a"]["timeout"]
    assert data == {"after": "2d", "count": 3, "off": None, "on": True}


# -- errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bad", "message"), [
    ({"op": "set", "path": ["nodes", "zz", "next"], "value": 1}, "edit 2 (set nodes.zz.next): no key 'zz'"),
    ({"op": "delete", "path": ["nodes", "b", "branches", 5]}, "edit 2 (delete nodes.b.branches[5]): index 5 out of "
                                                              "range (the list has 2 items)"),
    ({"op": "delete", "path": []}, "edit 2 (delete <root>): cannot delete the document root"),
    ({"op": "move", "path": ["nodes", "b", "branches"], "from": 0, "to": 2}, "'to' index 2 out of range"),
    ({"op": "insert", "path": ["nodes", "a"], "value": 1}, "not a list"),
    ({"op": "rename", "path": ["nodes", "a"], "to": "b"}, "key 'b' already exists"),
    ({"op": "frobnicate", "path": []}, "unknown op 'frobnicate'"),
    ({"op": "set", "path": ["nodes", "a"]}, "missing 'value'"),
    ({"op": "set", "path": "nodes.a", "value": 1}, "'path' must be a list"),
    ({"op": "set", "definition": {"kind": "flow", "name": "nope"}, "path": ["x"], "value": 1},
     "flow 'nope' is not defined in this file"),
    ({"op": "set", "path": ["nodes", "c", "type", "x"], "value": 1}, "not a mapping"),
])
def test_bad_edit_names_file_and_edit_and_changes_nothing(bad: dict, message: str) -> None:
    before = TEXT
    with pytest.raises(DefinitionError) as info:
        apply_edits(TEXT, [{"op": "set", "path": ["nodes", "a", "next"], "value": "c"}, bad], file="flows/f.yaml")
    assert TEXT == before
    text = str(info.value)
    assert text.startswith("flows/f.yaml")
    assert message in text
    assert "edit 2" in text


def test_syntax_error_in_the_text_is_located() -> None:
    with pytest.raises(DefinitionError) as info:
        apply_edits("name: x\nnodes: [a\n", [{"op": "delete", "path": ["name"]}], file="flows/x.yaml")
    assert str(info.value).startswith("flows/x.yaml:3:")


def test_edits_must_be_a_list() -> None:
    with pytest.raises(DefinitionError, match="edits must be a list"):
        apply_edits(TEXT, "delete everything", file="f.yaml")  # type: ignore[arg-type]
    assert apply_edits(TEXT, []) == TEXT


def test_every_oms_file_round_trips_unchanged_through_a_no_op_edit() -> None:
    root = builtin_templates_dir() / "oms"
    for path in sorted(Path(root).rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        docs = list(yaml.safe_load_all(text))
        if not isinstance(docs[0], dict) or not docs[0]:
            continue
        key = next(iter(docs[0]))
        value = docs[0][key]
        out = apply_edits(text, [{"op": "set", "path": [key], "value": value}] if not isinstance(value, (dict, list))
                          else [{"op": "rename", "path": [key], "to": "tmp_key"},
                                {"op": "rename", "path": ["tmp_key"], "to": key}], file=str(path))
        assert out == text, path


@pytest.mark.parametrize("text", ["a: " + "[" * 500 + "]" * 500 + "\n", "a: &x [*x]\n", "a: &x {b: *x}\n", "a: 1\na: 2\n"])
def test_hostile_texts_are_refused_before_any_edit(text: str) -> None:
    with pytest.raises(DefinitionError) as info:
        apply_edits(text, [{"op": "set", "path": ["c"], "value": 1}], file="f.yaml")
    assert str(info.value).startswith("f.yaml:")
    assert len(str(info.value)) < 200


def test_a_wrapped_flow_mapping_stays_wrapped_where_it_was() -> None:
    text = ("name: e\nfields:\n  active: {type: boolean, default: true, label: {en: Active, zh: 生效},\n"
            "           help: {en: Keep one active, zh: 保持一个生效}}\n  other: {type: string}\n")
    out = edit({"op": "set", "path": ["fields", "active", "default"], "value": False}, text=text)
    assert diff(text, out) == (["  active: {type: boolean, default: true, label: {en: Active, zh: 生效},"],
                               ["  active: {type: boolean, default: false, label: {en: Active, zh: 生效},"])
    out = edit({"op": "set", "path": ["fields", "active", "help", "zh"], "value": "只保留一个"}, text=text)
    assert diff(text, out) == (["           help: {en: Keep one active, zh: 保持一个生效}}"],
                               ["           help: {en: Keep one active, zh: 只保留一个}}"])


def test_values_must_be_json_like_and_bounded() -> None:
    deep: list = []
    for _ in range(300):
        deep = [deep]
    for value, message in ((deep, "too large"), ({1: "x"}, "keys must be non-empty texts"), ({"a": {1, 2}}, "a set cannot"),
                           (list(range(20_000)), "too large")):
        with pytest.raises(DefinitionError, match=message):
            apply_edits(TEXT, [{"op": "set", "path": ["nodes", "a", "next"], "value": value}], file="f.yaml")


@pytest.mark.parametrize("text", ["a: 1\nb: 'x'\n", 'a: 1\nb: "x"\n', "a: 1\nb: 2\n"])
@pytest.mark.parametrize("new", ["yes", "C:\\new", "it's", "plain_key", "1.0"])
def test_a_renamed_key_reads_back_as_written(text: str, new: str) -> None:
    out = apply_edits(text, [{"op": "rename", "path": ["a"], "to": new}])
    assert yaml.safe_load(out) == {new: 1, "b": yaml.safe_load(text)["b"]}
    assert out.splitlines()[1:] == text.splitlines()[1:]
