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

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import DefinitionError

PathT = list[str | int]


def apply_edits(text: str, edits: Sequence[Mapping[str, Any]], *, file: str = "<text>") -> str:
    """The text with every edit applied in order (all or nothing); raises DefinitionError on a bad edit."""
    raise NotImplementedError


def definition_location(text: str, kind: str, name: str, *, file: str = "<text>") -> tuple[int, PathT]:
    """(document index, path from that document's root) of the definition ``kind``/``name`` in ``text``.

    A definition matches by ``name`` and by ``kind`` where the mapping has one (a file in a kind folder
    leaves ``kind`` out). Raises DefinitionError when it is not in the text."""
    raise NotImplementedError


def definition_path(text: str, kind: str, name: str, *, file: str = "<text>") -> PathT:
    """The path from its document's root of the definition ``kind``/``name`` (see definition_location)."""
    return definition_location(text, kind, name, file=file)[1]



__all__ = ["DefinitionError", "apply_edits", "definition_location", "definition_path"]
