"""JSON Schema of every definition kind, for editors (VS Code YAML extension)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import kinds  # noqa: F401 - registers every kind
from .app import AppManifest
from .base import KINDS


def kind_schema(kind: str) -> dict[str, Any]:
    schema = KINDS[kind].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", f"Ordo {kind}")
    return schema


def any_definition_schema() -> dict[str, Any]:
    """One schema accepting a definition of any kind, or a list of them (a shared file)."""
    defs: dict[str, Any] = {}
    refs = []
    for kind in KINDS:
        s = kind_schema(kind)
        defs.update(s.pop("$defs", {}))
        s.pop("$schema", None)
        defs[f"kind_{kind}"] = s
        refs.append({"$ref": f"#/$defs/kind_{kind}"})
    one = {"oneOf": refs}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Ordo definitions",
            "$defs": defs, "anyOf": [one, {"type": "array", "items": one}]}


def write_schemas(out: Path) -> list[Path]:
    """Write ``<kind>.schema.json`` for every kind, ``app.schema.json`` and ``definitions.schema.json``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    items = {f"{kind}.schema.json": kind_schema(kind) for kind in KINDS}
    app = AppManifest.model_json_schema()
    app["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    items["app.schema.json"] = app
    items["definitions.schema.json"] = any_definition_schema()
    for name, schema in items.items():
        path = out / name
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
