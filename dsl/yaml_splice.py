"""Line splices for edits of block-style mappings and lists (under :mod:`ordo.dsl.yaml_edit`).

ruamel.yaml attaches the comment lines below an item to that item (to its deepest last value, or to the end
of a list), so removing, adding or moving items through ruamel can carry comments to the wrong place. For
block-style containers the edit is therefore done on the text: an item's lines run from its key (or dash)
line to its last content line; the comment lines directly above it travel with it; comment lines below it
stay where they are. New items are rendered by ruamel in the file's style and indented to their siblings.
Positions come from ruamel's line/column info of the freshly parsed text.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .yaml_roundtrip import Style

Lines = list[str]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blank_or_comment(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith("#")


def item_start(lines: Lines, parent: Any, key: Any) -> tuple[int, int]:
    """(line, column) where item ``key`` of a block container starts (its key, or its dash)."""
    if isinstance(parent, CommentedMap):
        line, col = parent.lc.key(key)
        return line, col
    line, col = parent.lc.item(key)
    text = lines[line]
    dash = text.rfind("-", 0, col)
    return line, dash if dash >= 0 else col


def item_end(lines: Lines, start: int, col: int, is_key: bool) -> int:
    """The last content line of the item starting at ``start``/``col`` (comments below it excluded)."""
    last = start
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if line.startswith("---") or line.startswith("..."):
            break
        if _blank_or_comment(line):
            i += 1
            continue
        ind = _indent(line)
        if ind > col or (is_key and ind == col and line.lstrip(" ").startswith("-")):
            last = i
            i += 1
            continue
        break
    return last


def above_start(lines: Lines, start: int, col: int) -> int:
    """The first line of the comment lines directly above ``start`` (same column, no blank line between)."""
    i = start
    while i > 0:
        prev = lines[i - 1]
        if prev.strip().startswith("#") and _indent(prev) == col:
            i -= 1
        else:
            break
    return i


def span(lines: Lines, parent: Any, key: Any) -> tuple[int, int, int]:
    """(first line, last line, column) of an item, without the comments above it."""
    start, col = item_start(lines, parent, key)
    return start, item_end(lines, start, col, isinstance(parent, CommentedMap)), col


def render(style: Style, key: Any, node: Any, col: int) -> Lines:
    """The lines of ``key: node`` (``key`` None: a list item ``- node``) indented to ``col``."""
    doc: Any
    if key is None:
        doc = CommentedSeq([node])
    else:
        doc = CommentedMap()
        doc[key] = node
    doc.fa.set_block_style()
    out = io.StringIO()
    style.yaml().dump(doc, out)
    text = out.getvalue().splitlines(keepends=True)
    base = min((_indent(t) for t in text if t.strip()), default=0)
    return [(" " * col + t[base:]) if t.strip() else t for t in text]


def _column(lines: Lines, parent: Any) -> int | None:
    """The column of a non-empty block container's items."""
    if not len(parent):
        return None
    first = next(iter(parent)) if isinstance(parent, CommentedMap) else 0
    return item_start(lines, parent, first)[1]


def delete(lines: Lines, parent: Any, key: Any) -> Lines:
    start, end, _ = span(lines, parent, key)
    return lines[:start] + lines[end + 1:]


def replace(lines: Lines, parent: Any, key: Any, new: Lines) -> Lines:
    """Replace an item's lines (keeping an end-of-line comment of its key line on the new first line)."""
    start, end, _ = span(lines, parent, key)
    old = lines[start]
    hash_at = _comment_at(old)
    if hash_at is not None and new and "#" not in new[0]:
        head = new[0].rstrip("\n")
        pad = max(hash_at - len(head), 1)
        new = [head + " " * pad + old[hash_at:].rstrip("\n") + "\n", *new[1:]]
    return lines[:start] + new + lines[end + 1:]


def _comment_at(line: str) -> int | None:
    """Column of an end-of-line comment (outside quotes), if any."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and i > 0 and line[i - 1] in " \t":
            return i
    return None


def insert(lines: Lines, parent: Any, position: int, make: Any) -> Lines:
    """Insert the lines ``make(col)`` as item ``position`` of a non-empty block container."""
    keys = list(parent) if isinstance(parent, CommentedMap) else list(range(len(parent)))
    col = _column(lines, parent)
    assert col is not None
    new = make(col)
    if position >= len(keys):
        at = span(lines, parent, keys[-1])[1] + 1
    elif position == 0:
        start, c = item_start(lines, parent, keys[0])
        at = above_start(lines, start, c)
    else:
        at = span(lines, parent, keys[position - 1])[1] + 1
    if at >= len(lines) and lines and not lines[-1].endswith("\n"):
        lines = [*lines[:-1], lines[-1] + "\n"]
    return lines[:at] + new + lines[at:]


def move(lines: Lines, seq: Any, src: int, dst: int) -> Lines:
    """Move item ``src`` of a block list to ``dst`` with the comments above it; blank lines between items
    stay where they are."""
    blocks = []
    for i in range(len(seq)):
        start, end, col = span(lines, seq, i)
        blocks.append((above_start(lines, start, col), end))
    order = list(range(len(seq)))
    order.insert(dst, order.pop(src))
    out = lines[:blocks[0][0]]
    for j, k in enumerate(order):
        if j > 0:
            out += lines[blocks[j - 1][1] + 1:blocks[j][0]]
        a, b = blocks[k]
        chunk = lines[a:b + 1]
        if chunk and not chunk[-1].endswith("\n"):
            chunk = [*chunk[:-1], chunk[-1] + "\n"]
        out += chunk
    tail = lines[blocks[-1][1] + 1:]
    if out and tail == [] and not lines[blocks[-1][1]].endswith("\n"):
        out[-1] = out[-1].rstrip("\n")
    return out + tail
