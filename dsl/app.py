"""An app: its manifest and the validated definitions of every kind."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from .base import IDENT, KINDS, Definition, Label, Model
from .check import CheckContext
from .entity import CHILD_SYSTEM_FIELDS, SYSTEM_FIELDS, EntityDef
from .errors import DefinitionError, DefinitionErrors, ExpressionError, ExpressionErrors
from .expr import Scope, compile_expression
from .expr import types as T
from .yaml_source import SourceDoc


class ExtendsSpec(Model):
    """``extends: {pack: builtin:oms, version: 1.2}``: the base and the version the overlay was written on."""

    pack: str = Field(description="Base app: a folder relative to this one, or 'builtin:NAME'")
    version: str | int | float | None = Field(default=None, description="The base's version this app was "
                                              "written against (see docs/overlays.md: upgrades)")


class AppManifest(Model):
    """``app.yaml``: what the app is called and what it builds on."""

    name: str = Field(pattern=IDENT)
    version: str | int = "0.1.0"
    label: Label | None = None
    description: str | None = None
    extends: str | ExtendsSpec | None = Field(
        default=None, description="Base app: a folder relative to this one, or 'builtin:NAME'; or "
        "{pack: ..., version: ...} pinning the base version the overlay was written against"
    )
    languages: list[str] = Field(default_factory=lambda: ["en"])


@dataclass
class Located:
    """A definition and where it was read from (None when built in Python)."""

    definition: Definition
    source: SourceDoc | None = None
    base: tuple[str | int, ...] = ()
    origin: str = "app"  # "app" or the name of the base app it came from


class AppSchema:
    """The app's entities as the expression checker sees them (a SchemaView)."""

    def __init__(self, app: AppDefinition) -> None:
        self.app = app
        self._cache: dict[str, dict[str, T.Type]] = {}
        # expressions compiled against this schema (see compile_expression): once per loaded app
        self.compiled: OrderedDict[tuple, Any] = OrderedDict()
        self.row_memos: dict[tuple, OrderedDict] = {}  # the same for a report's result rows (report.RowSchema)
        self._decisions: dict[str, Any] = {}

    def decision(self, name: str) -> Any:
        """The compiled decision table ``name`` for ``decide()``: None when unknown or invalid, "cycle"
        while it is being compiled (a table whose cells call itself)."""
        if name not in self._decisions:
            d = self.app.get("decision", name)
            if d is None:
                return None
            from .decision_build import build_table

            self._decisions[name] = "cycle"
            self._decisions[name] = build_table(d, self)
        return self._decisions[name]

    def decision_names(self) -> list[str]:
        return self.app.names("decision")

    def entity_fields(self, entity: str) -> Mapping[str, T.Type] | None:
        if entity in self._cache:
            return self._cache[entity]
        e = self.app.get("entity", entity)
        if e is None:
            return _Anything() if ("entity", entity) in self.app.broken else None
        assert isinstance(e, EntityDef)
        fields: dict[str, T.Type] = dict(CHILD_SYSTEM_FIELDS if e.child else SYSTEM_FIELDS)
        fields.update({name: T.ANY for name in self.app.partial.get(("entity", entity), ())})
        fields.update({name: f.value_type() for name, f in e.fields.items()})
        self._cache[entity] = fields
        # Computed fields get their type from their expression; two rounds settle
        # computed fields that read other computed fields.
        for _ in range(2):
            for name, f in e.fields.items():
                if f.type == "computed" and f.expr:
                    try:
                        fields[name] = compile_expression(f.expr, Scope(self, entity)).type.plain()
                    except (ExpressionError, ExpressionErrors):
                        fields[name] = T.ANY
        return fields


class _Anything(dict):
    """Fields of a definition that failed validation: accept any name (no cascade of errors)."""

    def get(self, key, default=None):  # type: ignore[override]
        return T.ANY


class AppDefinition:
    """All definitions of one app, by kind and name, with their sources."""

    def __init__(self, manifest: AppManifest, root: Path | None = None) -> None:
        self.manifest = manifest
        self.root = root
        self.items: dict[str, dict[str, Located]] = {kind: {} for kind in KINDS}
        self.broken: set[tuple[str, str]] = set()  # (kind, name) that failed schema validation
        # (kind, name) -> keys dropped from a definition that was loaded without its invalid parts
        self.partial: dict[tuple[str, str], set[str]] = {}
        self.schema = AppSchema(self)
        self.overlay: Any = None  # dsl.overlay.OverlayInfo when the app extends a base

    # -- building
    def add(self, located: Located) -> None:
        d = located.definition
        self.items.setdefault(d.kind_name, {})[d.name] = located
        self.schema = AppSchema(self)

    def remove(self, kind: str, name: str) -> None:
        """Drop a definition (an overlay's ``remove: true``)."""
        self.items.get(kind, {}).pop(name, None)
        self.schema = AppSchema(self)

    @classmethod
    def from_definitions(cls, manifest: AppManifest | Mapping[str, Any], definitions: Iterable[Definition]) -> AppDefinition:
        """Build and check an app from definition objects (the embedding API)."""
        m = manifest if isinstance(manifest, AppManifest) else AppManifest.model_validate(manifest)
        app = cls(m)
        for d in definitions:
            app.add(Located(d))
        errors = app.check()
        if errors:
            raise DefinitionErrors(errors)
        return app

    # -- reading
    def get(self, kind: str, name: str) -> Any:
        located = self.items.get(kind, {}).get(name)
        return located.definition if located else None

    def located(self, kind: str, name: str) -> Located | None:
        return self.items.get(kind, {}).get(name)

    def names(self, kind: str) -> list[str]:
        return list(self.items.get(kind, {}))

    def all(self, kind: str) -> list[Any]:
        return [loc.definition for loc in self.items.get(kind, {}).values()]

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return str(self.manifest.version)

    @property
    def entities(self) -> dict[str, EntityDef]:
        return {name: loc.definition for name, loc in self.items.get("entity", {}).items()}  # type: ignore[misc]

    # -- checking
    def check(self) -> list[DefinitionError]:
        """Run every definition's cross-reference checks; return all errors."""
        errors: list[DefinitionError] = []
        for kind_items in self.items.values():
            for loc in kind_items.values():
                ctx = CheckContext(self, loc.definition, loc.source, loc.base)
                loc.definition.check(ctx)
                errors.extend(ctx.errors)
        return errors

    # -- writing
    def to_yaml_files(self) -> dict[str, str]:
        """Relative path -> YAML text for every definition (round-trips through the loader)."""
        import yaml

        files = {"app.yaml": yaml.safe_dump(self.manifest.to_data(), sort_keys=False, allow_unicode=True)}
        for kind, kind_items in self.items.items():
            for name, loc in kind_items.items():
                cls = KINDS[kind]
                files[f"{cls.folder}/{name}.yaml"] = loc.definition.to_yaml()
        return files
