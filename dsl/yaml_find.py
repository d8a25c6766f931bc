"""Where a definition is in a YAML file's text: its ``---`` document and its path from that document's root.

A file may hold several ``---`` documents, a list of definitions, or ``roles:``; a definition matches by
``name`` and by ``kind`` where the mapping has one (a file in a kind folder leaves ``kind`` out).
Structured edits (``yaml_edit``, ``edit_target``) address definitions through it.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .errors import DefinitionError
from .yaml_roundtrip import Style, load
from .yaml_source import parse_documents

PathT = list[str | int]


def definition_location(text: str, kind: str, name: str, *, file: str = "<text>") -> tuple[int, PathT]:
    """(document index, path from that document's root) of the definition ``kind``/``name`` in ``text``.

    A definition matches by ``name`` and by ``kind`` where the mapping has one (a file in a kind folder
    leaves ``kind`` out; ``roles:`` entries are roles named by their key). Raises DefinitionError when it
    is not in the text."""
    parse_documents(text, file)  # bounded before ruamel reads it
    found = find_definition(load(text, file, Style.of(text)), kind, name, file)
    if found is None:
        raise DefinitionError(f"{kind} '{name}' is not defined in this file", file=file)
    return found


def definition_path(text: str, kind: str, name: str, *, file: str = "<text>") -> PathT:
    """The path from its document's root of the definition ``kind``/``name`` (see definition_location)."""
    return definition_location(text, kind, name, file=file)[1]


def _folder_kind(file: str) -> str | None:
    """The kind a file's folder implies (``flows/x.yaml`` -> flow; ``roles.yaml`` -> role), None: any."""
    from . import kinds  # noqa: F401 - registers every definition kind
    from .base import KINDS

    parts = file.replace("\\", "/").split("/")
    if len(parts) >= 2:
        found = [k for k, cls in KINDS.items() if cls.folder in parts[:-1]]
        return found[0] if len(found) == 1 else None
    return "role" if parts[-1] in ("roles.yaml", "roles.yml") else None


def find_definition(docs: list[Any], kind: str, name: str, file: str = "<text>") -> tuple[int, PathT] | None:
    implied = _folder_kind(file)

    def match(data: Any) -> bool:
        if not isinstance(data, CommentedMap) or str(data.get("name")) != name:
            return False
        return str(data["kind"]) == kind if "kind" in data else implied in (None, kind)

    for d, data in enumerate(docs):
        if isinstance(data, CommentedSeq):
            for i, item in enumerate(data):
                if match(item):
                    return d, [i]
        elif isinstance(data, CommentedMap):
            if match(data):
                return d, []
            roles = data.get("roles")
            if kind == "role" and set(data) == {"roles"} and isinstance(roles, CommentedMap):
                for key, body in roles.items():
                    if str(key) == name and (body is None or isinstance(body, CommentedMap)):
                        return d, ["roles", key]
    return None
