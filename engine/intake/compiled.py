"""An intake definition ready to run: every shape's mappings and expressions compiled once, and the
choice of shape for a payload (named, from the channel record, or from the file's extension)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ordo.dsl.intake import IntakeDef, parse_path

from ..errors import UsageError
from .mapping import CompiledValue, compile_value

if TYPE_CHECKING:
    from ..app import App

_FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "csv"}


class CompiledTable:
    def __init__(self, rows: str | None, fields: dict[str, CompiledValue]) -> None:
        self.rows = parse_path(rows) if rows else None
        self.fields = fields


class CompiledShape:
    def __init__(self, app: App, intake: IntakeDef, name: str) -> None:
        shape = intake.shapes[name]
        csv = shape.format == "csv"
        d = app.definition
        self.name = name
        self.defn = shape
        self.fields = {f: compile_value(d, intake, f, s, csv) for f, s in shape.fields.items()}
        self.tables = {t: CompiledTable(m.rows, {f: compile_value(d, intake, f, s, csv) for f, s in m.fields.items()})
                       for t, m in shape.tables.items()}
        self.document_columns = shape.document_columns() if csv else {}


class CompiledIntake:
    """An intake definition ready to run: every mapping and expression compiled once."""

    def __init__(self, app: App, defn: IntakeDef) -> None:
        self.app = app
        self.defn = defn
        self.name = defn.name
        self.entity = app.compiled.entities[defn.entity]
        self.shapes = {name: CompiledShape(app, defn, name) for name in defn.shapes}
        self.reads: dict[str, Any] = {}  # shape -> what a batch reads ahead (prefetch.shape_reads), on first use

    # -- choosing a shape
    def choose_shape(self, shape: str | None, channel: dict[str, Any] | None, file: str | None) -> CompiledShape:
        if shape is None and channel is not None and self.defn.channel and self.defn.channel.shape_field:
            shape = channel.get(self.defn.channel.shape_field) or None
        if shape is None:
            fmt = _FORMATS.get(Path(file).suffix.lower()) if file else None
            matching = [s for s in self.shapes.values() if fmt is None or s.defn.format == fmt]
            if len(matching) != 1:
                raise UsageError(f"intake '{self.name}': say which shape to use (shapes: {', '.join(self.shapes)})")
            return matching[0]
        found = self.shapes.get(shape)
        if found is None:
            raise UsageError(f"intake '{self.name}' has no shape '{shape}' (shapes: {', '.join(self.shapes)})")
        fmt = _FORMATS.get(Path(file).suffix.lower()) if file else None
        if fmt is not None and fmt != found.defn.format and not (fmt == "csv" and found.defn.format == "csv"):
            raise UsageError(f"shape '{shape}' of intake '{self.name}' reads {found.defn.format} files, "
                             f"not {Path(file or '').name}")
        return found
