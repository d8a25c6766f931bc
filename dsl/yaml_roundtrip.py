"""ruamel.yaml round trips that keep a file's look: the machinery under :mod:`ordo.dsl.yaml_edit`.

* ``Style.of(text)``: the file's indentation (mapping indent, sequence dash offset) and quote character.
* ``load`` / ``dump``: all ``---`` documents of a text with ruamel's round-trip mode (quotes preserved,
  lines never re-wrapped).
* ``merge3(original, round_trip, edited)``: the edited text with every line ruamel re-formatted without
  being edited taken back from the original, so only edited lines differ.
* (Block mappings and lists are edited on the text by :mod:`ordo.dsl.yaml_splice`, since ruamel attaches
  the comment lines below an item to that item.)
* ``to_node``: a plain Python / JSON value as ruamel nodes in the file's style.
"""

from __future__ import annotations

import difflib
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from .errors import DefinitionError

WIDTH = 1 << 30  # never re-wrap a line
LANGUAGES = {"en", "zh", "zh_tw", "ja", "ko", "de", "fr", "es"}
SMALL = 100  # a mapping or list of scalars this short (as JSON) may be written on one line
_KEY_LINE = re.compile(r"^( *)(- +)?([^\s#'\"\-][^:#]*|'[^']*'|\"[^\"]*\"):(\s|$)")
_NEEDS_QUOTES = re.compile(r"""[:#'"{}\[\],&*!|>%@`=<()?\\]|^[\s\-]|\s$|^$""")


@dataclass(frozen=True)
class Style:
    """How a file is written: mapping indent, sequence dash offset, preferred quote character."""

    indent: int = 2
    offset: int = 2
    quote: str = '"'

    @classmethod
    def of(cls, text: str) -> Style:
        indents: Counter[int] = Counter()
        offsets: Counter[int] = Counter()
        prev: tuple[int, bool] | None = None  # (indent of a "key:" line with no value, is a list item)
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            col = len(line) - len(line.lstrip(" "))
            stripped = line.strip()
            if prev is not None:
                base, item = prev
                step = col - base
                if stripped.startswith("- ") or stripped == "-":
                    if step >= 0:
                        offsets[step - (2 if item else 0)] += 1
                elif step > 0:
                    indents[step - (2 if item else 0)] += 1
            m = _KEY_LINE.match(line)
            if m and line.rstrip().endswith(":") and "#" not in line:
                prev = (col, bool(m.group(2)))
            else:
                prev = None
        indent = max((k for k in indents if k > 0), key=lambda k: indents[k], default=2)
        offset = max((k for k in offsets if k >= 0), key=lambda k: offsets[k], default=2)
        doubles = len(re.findall(r""":\s+"[^"\n]*"\s*(?:[,}#]|$)""", text, re.MULTILINE))
        singles = len(re.findall(r""":\s+'[^'\n]*'\s*(?:[,}#]|$)""", text, re.MULTILINE))
        return cls(indent, offset, "'" if singles > doubles else '"')

    def yaml(self) -> YAML:
        y = YAML(typ="rt")
        y.preserve_quotes = True
        y.width = WIDTH
        y.allow_unicode = True
        y.brace_single_entry_mapping_in_flow_sequence = True
        y.representer.add_representer(type(None), _null)
        y.indent(mapping=self.indent, sequence=self.offset + 2, offset=self.offset)
        return y


def _null(representer: Any, data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def load(text: str, file: str, style: Style) -> list[Any]:
    """Every document of ``text`` as ruamel round-trip data; a syntax error is a DefinitionError."""
    try:
        return [d for d in style.yaml().load_all(text)]
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or getattr(e, "context", None) or "invalid YAML"
        raise DefinitionError(f"YAML syntax error: {problem}", file=file,
                              line=mark.line + 1 if mark else None,
                              column=mark.column + 1 if mark else None) from None


def dump(docs: list[Any], style: Style, explicit_start: bool) -> str:
    y = style.yaml()
    y.explicit_start = explicit_start
    out = io.StringIO()
    y.dump_all(docs, out)
    return out.getvalue()


def merge3(original: str, round_trip: str, edited: str) -> str:
    """Apply the change ``round_trip -> edited`` to ``original`` (a diff3 merge on lines).

    Where ruamel re-formatted a line the edit did not touch, the original line is kept; where both
    differ on the same lines, the edited version wins (the edit's own lines)."""
    if original == round_trip:
        return edited
    base = round_trip.splitlines(keepends=True)
    ours = original.splitlines(keepends=True)
    theirs = edited.splitlines(keepends=True)
    mine = _hunks(base, ours)
    their = _hunks(base, theirs)
    hunks = sorted([(a, b, lines, 0) for a, b, lines in mine] + [(a, b, lines, 1) for a, b, lines in their],
                   key=lambda h: (h[0], h[1]))
    out: list[str] = []
    pos = 0
    i = 0
    while i < len(hunks):
        lo, hi = hunks[i][0], hunks[i][1]
        group = [hunks[i]]
        i += 1
        while i < len(hunks) and (hunks[i][0] < hi or hunks[i][0] == lo or (hunks[i][0] == hi and lo == hi)):
            hi = max(hi, hunks[i][1])
            group.append(hunks[i])
            i += 1
        out.extend(base[pos:lo])
        sides = {h[3] for h in group}
        if len(sides) == 1:
            cur = lo
            for a, b, lines, _ in group:
                out.extend(base[cur:a])
                out.extend(lines)
                cur = b
            out.extend(base[cur:hi])
        else:  # both changed here: take the edited version of the whole region
            cur = lo
            for a, b, lines, side in group:
                if side == 1:
                    out.extend(base[cur:a])
                    out.extend(lines)
                    cur = b
            out.extend(base[cur:hi])
        pos = hi
    out.extend(base[pos:])
    return "".join(out)


def keep_comment_columns(original: str, edited: str) -> str:
    """Where an edited line kept its end-of-line comment, put the comment back at its original column."""
    from .yaml_splice import _comment_at

    a, b = original.splitlines(keepends=True), edited.splitlines(keepends=True)
    out = list(b)
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "replace" or i2 - i1 != j2 - j1:
            continue
        for old, k in zip(a[i1:i2], range(j1, j2), strict=True):
            new = b[k]
            oc, nc = _comment_at(old), _comment_at(new)
            if oc is None or nc is None or old[oc:] != new[nc:] or oc == nc:
                continue
            head = new[:nc].rstrip(" \t")
            gap = oc - len(old[:oc].rstrip(" \t"))  # the column where it fits, else the original gap
            out[k] = head + " " * (oc - len(head) if len(head) < oc else gap) + new[nc:]
    return "".join(out)


def rewrap(original: str, edited: str) -> str:
    """Where several original lines (a wrapped flow mapping) became one edited line, break the edited line
    where the original broke: before the same key (or list item), at the same indentation."""
    a, b = original.splitlines(keepends=True), edited.splitlines(keepends=True)
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "replace" and j2 - j1 == 1 and i2 - i1 > 1:
            out.extend(_wrap_like(b[j1], a[i1:i2]))
        else:
            out.extend(b[j1:j2])
    return "".join(out)


def _wrap_like(line: str, lines: list[str]) -> list[str]:
    end = "\n" if line.endswith("\n") else ""
    text = line.rstrip("\n")
    pieces, pos = [], 0
    for cont in lines[1:]:
        head = cont.strip()
        if not head:
            return [line]
        word = re.split(r"[:,\]}]", head, maxsplit=1)[0].strip()
        found = text.find(", " + word, pos)
        if not word or found < 0:
            return [line]
        pieces.append(text[pos:found + 1])
        pos = found + 2
        pieces.append(" " * (len(cont) - len(cont.lstrip(" "))))
    pieces.append(text[pos:])
    heads = pieces[0::2]
    pads = [""] + pieces[1::2]
    return [pad + head + "\n" for pad, head in zip(pads[:-1], heads[:-1], strict=True)] + [pads[-1] + heads[-1] + end]


def _hunks(a: list[str], b: list[str]) -> list[tuple[int, int, list[str]]]:
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [(i1, i2, b[j1:j2]) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal"]


# --- values ---------------------------------------------------------------------------------------

def is_small(value: Any) -> bool:
    import json

    if isinstance(value, dict):
        inner = value.values()
    elif isinstance(value, list):
        inner = value
    else:
        return True
    if any(isinstance(v, (dict, list)) and not is_small(v) for v in inner):
        return False
    try:
        return len(json.dumps(value, ensure_ascii=False, default=str)) <= SMALL
    except (TypeError, ValueError):
        return False


def scalar(value: Any, style: Style, like: Any = None) -> Any:
    """A string as a ruamel scalar quoted as YAML needs (like ``like``'s quoting when it had one)."""
    if not isinstance(value, str):
        return value
    if "\n" in value:
        return LiteralScalarString(value)
    if isinstance(like, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(value)
    if isinstance(like, SingleQuotedScalarString):
        return SingleQuotedScalarString(value)
    if _NEEDS_QUOTES.search(value) or _resolves_other(value):
        if style.quote == "'" and '"' not in value and "\\" not in value:
            return SingleQuotedScalarString(value)
        return DoubleQuotedScalarString(value)
    return value


def _resolves_other(text: str) -> bool:
    """Would YAML (PyYAML, as the loader reads it) take this unquoted text for something else, in a
    block or a flow context?"""
    import yaml

    try:
        return yaml.safe_load(f"k: {text}") != {"k": text} or yaml.safe_load(f"[{text}]") != [text]
    except yaml.YAMLError:
        return True


def to_node(value: Any, style: Style, flow: bool, like: Any = None, peers: list[Any] | tuple = ()) -> Any:
    """``value`` as ruamel data: mappings/lists in flow style when ``flow``, else block; nested values
    follow ``peers`` (the same property of neighbouring items) for their style and quoting."""
    if isinstance(value, dict):
        m = CommentedMap()
        for k, v in value.items():
            sub = [p[k] for p in peers if isinstance(p, CommentedMap) and k in p]
            sub_like = like.get(k) if isinstance(like, dict) else None
            if sub_like is None:
                sub_like = next((p for p in sub if isinstance(p, str)), None)
            m[str(k)] = to_node(v, style, flow or choose_flow(v, None, sub), sub_like, sub)
        m.fa.set_flow_style() if flow else m.fa.set_block_style()
        return m
    if isinstance(value, (list, tuple)):
        s = CommentedSeq()
        items = [i for p in peers if isinstance(p, CommentedSeq) for i in p]
        item_like = next((p for p in items if isinstance(p, str)), None)
        for v in value:
            s.append(to_node(v, style, flow or choose_flow(v, None, items), item_like, items))
        s.fa.set_flow_style() if flow else s.fa.set_block_style()
        return s
    return scalar(value, style, like)


def choose_flow(value: Any, old: Any, peers: list[Any] | tuple, parent: Any = None) -> bool:
    """Should a new container ``value`` be written in flow style? In a flow parent always; else when
    small and the value it replaces, or most of its peers of the same shape, are in flow style (a
    short list of scalars with nothing to go by is too)."""
    if not isinstance(value, (dict, list, tuple)):
        return False
    if isinstance(parent, CommentedBase) and parent.fa.flow_style():
        return True
    if not is_small(value):
        return False
    if isinstance(old, (CommentedMap, CommentedSeq)) and type(old) is _kind(value):
        return bool(old.fa.flow_style())
    same = [p for p in peers if isinstance(p, (CommentedMap, CommentedSeq)) and type(p) is _kind(value)]
    if same:
        return sum(1 for p in same if p.fa.flow_style()) * 2 > len(same)
    if isinstance(value, (list, tuple)):  # nothing to go by: a short list on one line
        return True
    return bool(value) and set(value) <= LANGUAGES  # a label {en: ..., zh: ...}


def _kind(value: Any) -> type:
    return CommentedMap if isinstance(value, dict) else CommentedSeq
