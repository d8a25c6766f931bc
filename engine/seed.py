"""Load records from an app's ``data/`` folder (fixtures): ``<entity>.yaml|json`` lists.

Loading is idempotent: a record whose name already exists is left alone, so the
same data can be loaded on every start. Bad records are reported with their
file and position and nothing from that file is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ordo.dsl.errors import DefinitionError
from ordo.dsl.yaml_source import load_documents

from .actor import UserLike
from .app import App
from .errors import OrdoError, ValidationFailed


@dataclass
class SeedResult:
    created: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _records(path: Path) -> list:
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise DefinitionError(f"invalid JSON: {e}", file=str(path)) from None
    else:
        docs = load_documents(path)
        data = docs[0].data if docs else []
    if not isinstance(data, list):
        raise DefinitionError("a data file must hold a list of records", file=str(path))
    return data


def seed(app: App, folder: Path, user: UserLike, order: list[str] | None = None) -> SeedResult:
    """Create the records in ``folder``; entities follow ``order`` then file name order."""
    result = SeedResult()
    files = {p.stem: p for p in sorted(folder.glob("*")) if p.suffix in (".yaml", ".yml", ".json")}
    names = [n for n in (order or []) if n in files] + [n for n in files if n not in (order or [])]
    for entity in names:
        path = files[entity]
        with app.transaction(user) as tx:
            for i, data in enumerate(_records(path)):
                key = data.get("name") or data.get(_naming_field(app, entity) or "", None)
                if key is not None and tx.find(entity, key) is not None:
                    result.skipped[entity] = result.skipped.get(entity, 0) + 1
                    continue
                try:
                    tx.create(entity, data)
                except ValidationFailed as e:
                    raise OrdoError(f"{path}: record {i + 1}: {e}") from None
                result.created[entity] = result.created.get(entity, 0) + 1
    return result


def _naming_field(app: App, entity: str) -> str | None:
    """The field a ``{field}``-only naming pattern takes the name from."""
    naming = app.compiled.entity(entity).defn.naming or ""
    if naming.startswith("{") and naming.endswith("}") and naming.count("{") == 1 and "#" not in naming:
        return naming[1:-1]
    return None
