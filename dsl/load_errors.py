"""Validation errors of a definition, as the loader reports them: pydantic's errors turned into located
``DefinitionError`` items (``file:line:column``, the path, "did you mean" for unknown keys), and the
definition salvaged without its invalid parts so that its other mistakes are still found."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from .base import Definition
from .errors import DefinitionError
from .yaml_source import SourceDoc


def pydantic_errors(exc: ValidationError, doc: SourceDoc, base: tuple, data: Any,
                    model: type[BaseModel], shown_prefix: tuple = ()) -> list[DefinitionError]:
    """Turn pydantic errors into located definition errors."""
    out: list[DefinitionError] = []
    seen: set[tuple] = set()
    for err in exc.errors():
        path, node = [], data
        for part in err["loc"]:  # keep only the parts that index into the data (drop union tags)
            if isinstance(node, dict) and part in node:
                node = node[part]
                path.append(part)
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
                path.append(part)
            elif err["type"] in ("extra_forbidden", "missing") and part == err["loc"][-1]:
                path.append(part)
        etype, msg = err["type"], err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        key = False
        if etype == "extra_forbidden":
            known = _known_keys(model, path[:-1], data)
            close = difflib.get_close_matches(str(path[-1]), known, n=1)
            msg = f"unknown key '{path[-1]}'" + (f" (did you mean '{close[0]}'?)" if close else "")
            key = True
        elif etype == "missing":
            msg = f"missing required key '{path[-1]}'"
            path = path[:-1] + [path[-1]]
        sig = (tuple(path), msg)
        if sig in seen:
            continue
        seen.add(sig)
        loc_path = tuple(path[:-1]) if etype == "missing" else tuple(path)
        e = doc.error((*base, *loc_path), msg, key=key, shown_path=(*shown_prefix, *path))
        out.append(e)
    return out


def _known_keys(model: type[BaseModel], path: list, data: Any) -> list[str]:
    """Field names of the model at ``path`` (best effort, for suggestions)."""
    current: Any = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            current = None
            continue
        current = _inner_model(field.annotation)
    return list(getattr(current, "model_fields", {}) or [])


def _inner_model(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def salvage(cls: type[Definition], data: dict, exc: ValidationError,
             rounds: int = 4) -> tuple[Definition, set[str]] | None:
    """The definition without its invalid parts, so that its other mistakes are still found.

    Unknown keys are dropped; an invalid entry of a mapping (e.g. one field) is dropped
    whole and its key returned, so references to it are not reported again."""
    import copy

    data = copy.deepcopy(data)
    dropped: set[str] = set()
    for _ in range(rounds):
        for err in exc.errors():
            loc = list(err["loc"])
            if err["type"] == "missing":
                loc = loc[:-1]
            if len(loc) < 2 or loc[0] in ("name", "kind"):
                return None
            parent, key = _container(data, loc[:2])
            if parent is None:
                continue
            if err["type"] == "extra_forbidden" and len(loc) > 2:
                parent, key = _container(data, loc)
            if isinstance(parent, dict):
                parent.pop(key, None)
                if err["type"] != "extra_forbidden" or len(loc) == 2:
                    dropped.add(str(key))
            elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
                parent[key] = None
        for value in data.values():
            if isinstance(value, list):
                value[:] = [v for v in value if v is not None]
        try:
            return cls.model_validate(data), dropped
        except ValidationError as e:
            exc = e
    return None


def _container(data: Any, loc: list) -> tuple[Any, Any]:
    """The container holding ``loc`` and the key in it (None if the path is not in the data)."""
    node = data
    for part in loc[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None, None
    return node, loc[-1]
