"""Structured edits of one YAML file's text that change only the affected lines.

``apply_edits(text, edits, file=...)`` applies JSON-shaped edits (the designer's and the
``/api/v1/designer/edit`` endpoint's) with ruamel.yaml's round-trip mode: comments, key order, quoting,
flow-style mappings and indentation elsewhere stay as the file has them. Lines ruamel would re-format
although the edit did not touch them are restored from the original text (a three-way merge of the
original, its unedited round trip and the edited round trip), so a ``git diff`` shows only the edit.

Edit ops (each a mapping)::

    {"op": "set", "path": [...], "value": V}                 # mapping key or list index; a new key is
                                                             # appended, or placed "after"/"before": KEY
    {"op": "delete", "path": [...]}
    {"op": "insert", "path": [...list...], "index": i, "value": V}   # index omitted or -1: append
    {"op": "move", "path": [...list...], "from": i, "to": j}
    {"op": "rename", "path": [...mapping key...], "to": NEW}

Paths are keys and list indexes from the root of the document. An edit may instead carry
``"definition": {"kind": K, "name": N}`` and a path relative to that definition (a file may hold several
``---`` documents, a list of definitions, or ``roles:``); ``definition_path(text, kind, name)`` finds it.
``"document": i`` picks the ``---`` document of a plain path (default 0).

Values are plain Python / JSON; they are written in the file's style: small mappings and lists of
scalars in flow style where the parent or their peers use flow style, block style otherwise; strings that
YAML would misread (expressions, ``yes``, ``1.0``) are quoted with the file's quote character.

A bad edit (path not found, index out of range, deleting the root, a result that no longer parses)
raises :class:`~ordo.dsl.errors.DefinitionError` naming the file and the edit (its index, op and path);
the text given is never changed (edits are applied to a fresh parse, all or nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import yaml_splice as splice
from .errors import DefinitionError, format_path
from .yaml_edit_args import (
    Bad,
    insert_args,
    items_text,
    key_text,
    move_args,
    need,
    rename_args,
    styled_node,
)
from .yaml_find import PathT, definition_location, definition_path, find_definition
from .yaml_roundtrip import (
    Style,
    dump,
    keep_comment_columns,
    load,
    merge3,
    rewrap,
    scalar,
)
from .yaml_source import parse_documents

OPS = ("set", "delete", "insert", "move", "rename")
# the work of one batch is bounded: every edit reads the whole file again (ruamel, in round-trip mode)
MAX_EDITS = 100  # edits in one batch
MAX_EDIT_BYTES = 256 * 1024  # the file's size
MAX_EDIT_WORK = 1024 * 1024  # edits x the file's size


class EditsTooLarge(DefinitionError):
    """A batch of edits beyond the limits (:data:`MAX_EDITS`, :data:`MAX_EDIT_BYTES`, :data:`MAX_EDIT_WORK`)."""


def check_batch(text: str, count: int, file: str = "<text>") -> None:
    """Refuse (EditsTooLarge, naming the limit) a batch of ``count`` edits of ``text`` beyond the limits."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if count > MAX_EDITS:
        raise EditsTooLarge(f"{count} edits: a batch may hold at most {MAX_EDITS} edits (send them in several "
                            f"batches)", file=file)
    if size > MAX_EDIT_BYTES:
        raise EditsTooLarge(f"the file is {size} bytes: structured edits work on files of at most {MAX_EDIT_BYTES} "
                            f"bytes (change its text instead, or split it)", file=file)
    if count * size > MAX_EDIT_WORK:
        most = max(1, MAX_EDIT_WORK // max(size, 1))
        raise EditsTooLarge(f"{count} edits of a file of {size} bytes: at most {most} edits at once for a file "
                            f"this size (edits x bytes <= {MAX_EDIT_WORK})", file=file)


def apply_edits(text: str, edits: Sequence[Mapping[str, Any]], *, file: str = "<text>", parsed: bool = False) -> str:
    """The text with every edit applied in order (all or nothing); raises DefinitionError on a bad edit
    (EditsTooLarge beyond the limits). ``parsed``: the caller has just checked ``text`` with
    ``parse_documents`` (edit_target.Target), so it is not checked again."""
    if not isinstance(edits, Sequence) or isinstance(edits, (str, bytes)):
        raise DefinitionError("edits must be a list of edit objects", file=file)
    check_batch(text, len(edits), file)
    if not parsed:
        parse_documents(text, file)  # syntax errors, nesting and alias expansion bounded, before any edit
    style = Style.of(text)
    current = text
    for i, edit in enumerate(edits):
        try:
            current = _apply(current, edit, style, file)
        except Bad as e:
            line = _line_of(e.node)
            raise DefinitionError(f"{_label(i, edit)}: {e.message}", file=file, line=line) from None
        except DefinitionError as e:
            raise DefinitionError(f"{_label(i, edit)}: {e.message}", file=file, line=e.line,
                                  column=e.column) from None
    if current != text:
        try:
            parse_documents(current, file)
        except DefinitionError as e:
            raise DefinitionError(f"the edits would leave invalid YAML: {e.message}", file=file,
                                  line=e.line, column=e.column) from None
    return current


def _line_of(node: Any) -> int | None:
    line = getattr(getattr(node, "lc", None), "line", None)
    return line + 1 if isinstance(line, int) else None


# --- applying one edit ----------------------------------------------------------------------------

def _label(i: int, edit: Any) -> str:
    if not isinstance(edit, Mapping):
        return f"edit {i + 1}"
    path = edit.get("path")
    shown = format_path(path) if isinstance(path, list) and all(isinstance(p, (str, int)) for p in path) else ""
    definition = edit.get("definition")
    where = f"{definition.get('kind')} {definition.get('name')}: " if isinstance(definition, Mapping) else ""
    return f"edit {i + 1} ({edit.get('op')} {where}{shown or '<root>'})"


def _explicit_start(text: str) -> bool:
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.rstrip() == "---" or line.startswith("--- ")
    return False


def _target(docs: list[Any], edit: Mapping[str, Any], file: str) -> tuple[Any, PathT]:
    """(document data, full path from its root) an edit addresses."""
    path = edit.get("path", [])
    if not isinstance(path, list) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in path):
        raise Bad("'path' must be a list of keys and list indexes")
    definition = edit.get("definition")
    if definition is not None:
        if not isinstance(definition, Mapping) or not isinstance(definition.get("kind"), str) \
                or not isinstance(definition.get("name"), str):
            raise Bad("'definition' must be {kind: K, name: N}")
        found = find_definition(docs, definition["kind"], definition["name"], file)
        if found is None:
            raise Bad(f"{definition['kind']} '{definition['name']}' is not defined in this file")
        return docs[found[0]], [*found[1], *path]
    index = edit.get("document", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(docs):
        raise Bad(f"no document {index} (the file has {len(docs)})")
    return docs[index], list(path)


def _step(node: Any, part: str | int) -> Any:
    if isinstance(node, CommentedMap):
        for key in node:
            if str(key) == str(part):
                return key
        raise Bad(f"no key '{part}'", node)
    if isinstance(node, CommentedSeq):
        index = _index(part, node)
        if not 0 <= index < len(node):
            raise Bad(f"index {part} out of range ({items_text(len(node))})", node)
        return index
    raise Bad(f"'{part}' is inside a {type(node).__name__ if node is not None else 'null'} value, "
               "not a mapping or list", node)


def _index(part: str | int, node: Any) -> int:
    if isinstance(part, int):
        return part
    if re.fullmatch(r"-?\d+", part):
        return int(part)
    raise Bad(f"'{part}' is not a list index", node)


def _walk(data: Any, path: PathT) -> tuple[Any, Any, list[Any]]:
    """(node, its parent, the chain of nodes from the root) at ``path``."""
    chain = [data]
    node, parent = data, None
    for part in path:
        key = _step(node, part)
        parent, node = node, node[key]
        chain.append(node)
    return node, parent, chain


def _peers(chain: list[Any], key: Any) -> list[Any]:
    """The values at ``key`` of the parent's siblings (the same property of the neighbouring items)."""
    if len(chain) < 2:
        return []
    grand = chain[-2]
    siblings = grand.values() if isinstance(grand, CommentedMap) else grand
    out = []
    for sib in siblings:
        if sib is chain[-1] or not isinstance(sib, CommentedMap):
            continue
        for k, v in sib.items():
            if str(k) == str(key):
                out.append(v)
    return out


def _block(node: Any) -> bool:
    """A non-empty block-style mapping or list (edited on the text, see yaml_splice)."""
    return isinstance(node, (CommentedMap, CommentedSeq)) and not node.fa.flow_style() and len(node) > 0


def _apply(text: str, edit: Any, style: Style, file: str) -> str:
    """One edit: block containers are spliced line by line; flow collections and scalars go through a
    ruamel round trip (merged back so that only the edited lines change)."""
    if not isinstance(edit, Mapping):
        raise Bad("an edit must be an object with 'op' and 'path'")
    op = edit.get("op")
    if op not in OPS:
        raise Bad(f"unknown op '{op}' (one of: {', '.join(OPS)})")
    docs = load(text, file, style)
    data, path = _target(docs, edit, file)
    lines = text.splitlines(keepends=True)
    if op in ("insert", "move"):
        seq, _, _ = _walk(data, path)
        if not isinstance(seq, CommentedSeq):
            raise Bad("not a list", seq)
        if op == "insert":
            index, node = insert_args(seq, edit, style)
            if _block(seq):
                return "".join(splice.insert(lines, seq, index, lambda col: splice.render(style, None, node, col)))
            seq.insert(index, node)
        else:
            src, dst = move_args(seq, edit)
            if _block(seq):
                return "".join(splice.move(lines, seq, src, dst))
            seq.insert(dst, seq.pop(src))
        return _round_trip(text, docs, style, file)
    if not path:
        raise Bad(f"cannot {op} the document root (name a key inside it)")
    parent, _, chain = _walk(data, path[:-1])
    if op == "set":
        return _set(text, docs, lines, parent, path[-1], edit, style, chain, file)
    key = _step(parent, path[-1])
    if op == "delete":
        if _block(parent) and len(parent) > 1:
            return "".join(splice.delete(lines, parent, key))
        del parent[key]
        return _round_trip(text, docs, style, file)
    new = rename_args(parent, key, edit)
    if _block(parent):
        start, col = splice.item_start(lines, parent, key)
        line = lines[start]
        colon = _key_end(line, col)
        lines[start] = line[:col] + key_text(new, scalar(new, style)) + line[colon:]
        return "".join(lines)
    keys = list(parent)
    position = keys.index(key)
    entry = parent.ca.items.pop(key, None)
    value = parent[key]
    del parent[key]
    parent.insert(position, new, value)
    if entry is not None:
        parent.ca.items[new] = entry
    return _round_trip(text, docs, style, file)


def _key_end(line: str, col: int) -> int:
    """Where the key starting at ``col`` ends (before its colon)."""
    if line[col:col + 1] in ("'", '"'):
        close = line.find(line[col], col + 1)
        return close + 1 if close > 0 else col
    colon = line.find(":", col)
    return colon if colon > 0 else len(line.rstrip())


def _round_trip(text: str, docs: list[Any], style: Style, file: str) -> str:
    start = _explicit_start(text)
    before = dump(load(text, file, style), style, start)
    return keep_comment_columns(text, rewrap(text, merge3(text, before, dump(docs, style, start))))


def _same_key(data: Any, key: Any, limit: int = 50) -> list[Any]:
    """Values found under ``key`` anywhere in the document (how this file writes such a value)."""
    out: list[Any] = []
    stack = [data]
    seen: set[int] = set()
    while stack and len(out) < limit and len(seen) < 100_000:
        node = stack.pop()
        if id(node) in seen:  # an alias met again
            continue
        seen.add(id(node))
        if isinstance(node, CommentedMap):
            for k, v in node.items():
                if str(k) == str(key):
                    out.append(v)
                if isinstance(v, (CommentedMap, CommentedSeq)):
                    stack.append(v)
        elif isinstance(node, CommentedSeq):
            stack.extend(v for v in node if isinstance(v, (CommentedMap, CommentedSeq)))
    return out


def _set(text: str, docs: list[Any], lines: list[str], parent: Any, part: str | int, edit: Mapping[str, Any],
         style: Style, chain: list[Any], file: str) -> str:
    value = need(edit, "value")
    if isinstance(parent, CommentedSeq):
        key: Any = _step(parent, part)
        old = parent[key]
        node = styled_node(value, style, old, [p for p in parent if p is not old], parent)
        if _block(parent) and (_block(old) or _block(node)):
            return "".join(splice.replace(lines, parent, key, splice.render(style, None, node,
                                                                            splice.item_start(lines, parent, key)[1])))
        parent[key] = node
        return _round_trip(text, docs, style, file)
    if not isinstance(parent, CommentedMap):
        raise Bad("the value holding this key is not a mapping", parent)
    existing = [k for k in parent if str(k) == str(part)]
    peers = _peers(chain, part) or _same_key(chain[0], part)
    if existing:
        key = existing[0]
        node = styled_node(value, style, parent[key], peers, parent)
        if _block(parent) and (_block(parent[key]) or _block(node)):
            col = splice.item_start(lines, parent, key)[1]
            return "".join(splice.replace(lines, parent, key, splice.render(style, key, node, col)))
        parent[key] = node
        return _round_trip(text, docs, style, file)
    if not peers and parent and all(isinstance(v, CommentedMap) for v in parent.values()):
        peers = list(parent.values())  # a new item of a named collection (a node, a field): like the others
    keys = list(parent)
    position = len(keys)
    for where in ("after", "before"):
        if edit.get(where) is not None:
            anchor = _step(parent, edit[where])
            position = keys.index(anchor) + (1 if where == "after" else 0)
    node = styled_node(value, style, None, peers, parent)
    name = str(part)
    if _block(parent):
        return "".join(splice.insert(lines, parent, position, lambda col: splice.render(style, name, node, col)))
    parent.insert(position, name, node)
    return _round_trip(text, docs, style, file)


__all__ = ["MAX_EDITS", "MAX_EDIT_BYTES", "MAX_EDIT_WORK", "DefinitionError", "EditsTooLarge", "apply_edits",
           "check_batch", "definition_location", "definition_path", "find_definition"]
