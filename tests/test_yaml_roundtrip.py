"""Issue 14 acceptance (round trip): a commented YAML app (a copy of builtin_templates/oms) gets 20 random
structured edits through yaml_edit / flow_edit; then every comment survives, ``git diff`` shows only the
edited lines, and the app still loads."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ordo.dsl.flow_edit import edges, insert_node, set_node
from ordo.dsl.loader import builtin_templates_dir, load_app
from ordo.dsl.yaml_edit import apply_edits
from ordo.dsl.yaml_source import parse_documents
from ordo.dsl.yaml_splice import _comment_at

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "core.autocrlf=false",
                           *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def comments(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for line in text.splitlines():
        if line.strip().startswith("#"):
            out[line.strip()] += 1
        elif (at := _comment_at(line)) is not None:
            out[line[at:].strip()] += 1
    return out


def one_line(line: str) -> bool:
    """Does this line hold whole flow collections (nothing continues on the next line)?"""
    depth, quote = 0, None
    for ch in line.split(" #")[0]:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth == 0


def diff_lines(a: str, b: str) -> tuple[list[str], list[str]]:
    import difflib

    removed, added = [], []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0):
        if not line.startswith(("---", "+++", "@@")):
            (removed if line.startswith("-") else added).append(line[1:])
    return removed, added


class Edits:
    """Random structured edits of an app folder, each checked to change only its own lines."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root, self.rng = root, rng
        self.files = {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.yaml"))}
        self.removed: Counter[str] = Counter()
        self.added: Counter[str] = Counter()
        self.log: list[str] = []
        self.changed = 0

    def docs(self, file: str):
        return parse_documents(self.files[file], file)

    def commit(self, file: str, new: str, expect: Callable[[list[str], list[str]], bool], what: str) -> None:
        removed, added = diff_lines(self.files[file], new)
        assert expect(removed, added), (what, removed, added)
        self.removed.update(removed)
        self.added.update(added)
        self.changed += len(removed) + len(added)
        self.files[file] = new
        self.log.append(what)

    # -- the kinds of edit ------------------------------------------------------------------------------
    def label(self) -> None:
        """Change the zh text of a label somewhere (entities, flows, forms, reports ...)."""
        found = []
        for file in self.files:
            for d, doc in enumerate(self.docs(file)):
                lines = self.files[file].splitlines()
                for path, pos in doc.values.items():
                    if len(path) >= 2 and path[-2] in ("label", "title") and path[-1] == "zh" \
                            and one_line(lines[pos.line - 1]):
                        found.append((file, d, list(path)))
        file, d, path = self.rng.choice(found)
        new = apply_edits(self.files[file], [{"op": "set", "document": d, "path": path,
                                              "value": f"改{self.rng.randint(1, 999)}"}], file=file)
        self.commit(file, new, lambda r, a: len(r) == len(a) == 1, f"label {file} {path}")

    def node_label(self) -> None:
        """Give a flow node without a label one (a new key line)."""
        found = [(file, doc.data["name"], name) for file in self.files if file.startswith("flows/")
                 for doc in self.docs(file) for name, node in doc.data["nodes"].items()
                 if isinstance(node, dict) and "label" not in node and
                 doc.values[("nodes", name)].line != doc.keys[("nodes", name)].line]  # a block mapping
        file, flow, name = self.rng.choice(found)
        new = set_node(self.files[file], flow, name, {"label": {"en": f"Step {name}", "zh": f"步骤{name}"}}, file=file)
        self.commit(file, new, lambda r, a: r == [] and len(a) == 1 and "label: {en:" in a[0],
                    f"node label {flow}.{name}")

    def field_move(self) -> None:
        """Reorder the fields of a form section (a one-line list)."""
        found = [(file, i, len(s["fields"])) for file in self.files if file.startswith("forms/")
                 for doc in self.docs(file) for i, s in enumerate(doc.data.get("sections") or [])
                 if len(s.get("fields", [])) > 1 and doc.values[("sections", i, "fields")].line
                 == doc.values[("sections", i, "fields", len(s["fields"]) - 1)].line]
        file, i, n = self.rng.choice(found)
        src, dst = self.rng.sample(range(n), 2)
        new = apply_edits(self.files[file], [{"op": "move", "path": ["sections", i, "fields"], "from": src, "to": dst}],
                          file=file)
        self.commit(file, new, lambda r, a: len(r) == len(a) == 1, f"move field {file} {i} {src}->{dst}")

    def section_move(self) -> None:
        """Reorder the sections of a form (block list items of several lines)."""
        found = [(file, len(doc.data["sections"])) for file in self.files if file.startswith("forms/")
                 for doc in self.docs(file) if len(doc.data.get("sections") or []) > 1]
        file, n = self.rng.choice(found)
        src, dst = self.rng.sample(range(n), 2)
        new = apply_edits(self.files[file], [{"op": "move", "path": ["sections"], "from": src, "to": dst}], file=file)
        self.commit(file, new, lambda r, a: sorted(r) == sorted(a) and 0 < len(r), f"move section {file} {src}->{dst}")

    def drop_columns(self) -> None:
        """Delete a section's 'columns' line."""
        found = [(file, i) for file in self.files if file.startswith("forms/")
                 for doc in self.docs(file) for i, s in enumerate(doc.data.get("sections") or []) if "columns" in s]
        if not found:
            return self.label()
        file, i = self.rng.choice(found)
        new = apply_edits(self.files[file], [{"op": "delete", "path": ["sections", i, "columns"]}], file=file)
        self.commit(file, new, lambda r, a: len(r) == 1 and a == [] and "columns:" in r[0], f"columns {file} {i}")

    def approval(self) -> None:
        """Insert an approval node before a node of a flow (every edge into it re-pointed)."""
        found = []
        for file in self.files:
            if not file.startswith("flows/"):
                continue
            text = self.files[file].splitlines()
            for doc in self.docs(file):
                nodes = doc.data["nodes"]
                for target in nodes:
                    into = [(n, p) for n, node in nodes.items() for p, to in edges(node) if to == target]
                    lines = [doc.values[("nodes", n, *p)].line for n, p in into]
                    if into and len(set(lines)) == len(lines) and all(one_line(text[ln - 1]) for ln in lines):
                        found.append((file, doc.data["name"], target, len(into), set(nodes)))
        file, flow, target, n_into, names = self.rng.choice(found)
        name = next(f"approve_{k}" for k in range(100) if f"approve_{k}" not in names)
        new = insert_node(self.files[file], flow, name, {"type": "approval", "approvers": [{"role": "admin"}]},
                          before=target, file=file)
        # n_into edge lines changed and four new lines (a diff may pair an old "next: X" with the new node's)
        self.commit(file, new, lambda r, a: len(r) <= n_into and len(a) - len(r) == 4 and len(a) <= n_into + 4,
                    f"approval before {flow}.{target}")

    def run(self, count: int) -> None:
        kinds = [self.label, self.label, self.node_label, self.field_move, self.section_move, self.drop_columns,
                 self.approval, self.approval]
        for _ in range(count):
            self.rng.choice(kinds)()


@pytest.mark.parametrize("seed", [14, 2026] + [int(s) for s in __import__("os").environ.get("ORDO_EXTRA_SEEDS", "").split(",") if s])
def test_twenty_random_structured_edits_keep_comments_and_touch_only_their_lines(tmp_path: Path, seed: int) -> None:
    root = tmp_path / "oms"
    shutil.copytree(builtin_templates_dir() / "oms", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    originals = {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in root.rglob("*.yaml")}

    edits = Edits(root, random.Random(seed))
    edits.run(20)
    assert len(edits.log) == 20
    for file, text in edits.files.items():
        (root / file).write_text(text, encoding="utf-8")

    # every comment survives
    for file, text in originals.items():
        lost = comments(text) - comments(edits.files[file])
        assert not lost, (file, lost)
    # git shows only the edited lines
    numstat = [line.split("\t") for line in git(root, "diff", "--numstat").splitlines()]
    assert numstat, "the edits changed nothing"
    unified = git(root, "diff", "-U0")
    removed = Counter(line[1:] for line in unified.splitlines() if line.startswith("-") and not line.startswith("---"))
    added = Counter(line[1:] for line in unified.splitlines() if line.startswith("+") and not line.startswith("+++"))
    # (a diff tool may pair lines differently: compare what is really gone and really new)
    assert not (removed - added) - (edits.removed - edits.added), (removed - added) - (edits.removed - edits.added)
    assert not (added - removed) - (edits.added - edits.removed), (added - removed) - (edits.added - edits.removed)
    assert sum(int(a) + int(r) for a, r, _ in numstat) <= edits.changed + 2 * len(edits.log)
    # and the edited app is still a valid app
    load_app(root)
