"""Read a payload into source documents, remembering the line each comes from.

JSON: the file is a list of documents, one document, or (with a ``documents``
path) an object holding the list; each document's line is found by decoding
the text element by element. JSON lines: one document per line. CSV: rows
grouped into documents by a column, each row keeping its own line number; the
columns read for the document as a whole take the first non-blank value of its
rows, and rows that disagree on one are a conflict of the document (unless the
shape's ``on_conflict`` says which row wins).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ordo.dsl.intake import ShapeDef, parse_path

from ..coerce import CoercionError, parse_json
from ..errors import OrdoError


class PayloadError(OrdoError):
    """The payload cannot be read at all (not JSON, missing columns, ...)."""


@dataclass
class SourceDocument:
    """One document: its data, its position in the payload and (CSV) its rows with their lines."""

    index: int  # 1-based position among the documents
    line: int  # first line in the payload
    data: Any
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # CSV: (line, row)
    error: str | None = None  # the document could not be read
    conflicts: list[tuple[int, str, str]] = field(default_factory=list)  # CSV: (line, column, reason)
    sources: dict[str, int] = field(default_factory=dict)  # CSV: document column -> line its value is from


_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _line_of(text: str, pos: int, cache: list[int]) -> int:
    # cache[0]: last position, cache[1]: its line (positions are visited in increasing order)
    if pos < cache[0]:
        cache[0], cache[1] = 0, 1
    cache[1] += text.count("\n", cache[0], pos)
    cache[0] = pos
    return cache[1]


def _find(text: str, pos: int, parts: tuple[str | int, ...]) -> int:
    """Position of the value at ``parts`` starting from the value at ``pos``."""
    for part in parts:
        pos = _skip(text, pos)
        if isinstance(part, int):
            if text[pos:pos + 1] != "[":
                raise PayloadError(f"expected a list at [{part}]")
            pos = _skip(text, pos + 1)
            for _ in range(part):
                _, pos = _DECODER.raw_decode(text, pos)
                pos = _skip(text, pos)
                if text[pos:pos + 1] != ",":
                    raise PayloadError(f"the list has no item [{part}]")
                pos = _skip(text, pos + 1)
            continue
        if text[pos:pos + 1] != "{":
            raise PayloadError(f"expected an object holding '{part}'")
        pos = _skip(text, pos + 1)
        while True:
            if text[pos:pos + 1] == "}":
                raise PayloadError(f"no key '{part}'")
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            pos = _skip(text, pos + 1)  # ':'
            if key == part:
                break
            _, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos:pos + 1] == ",":
                pos = _skip(text, pos + 1)
    return pos


def read_json(text: str, shape: ShapeDef) -> list[SourceDocument]:
    try:
        parse_json(text, values=False)  # valid, and nested within bounds (the decoding below recurses)
    except CoercionError as e:
        raise PayloadError(str(e)) from None
    pos = _skip(text, 0)
    if shape.documents:
        _, parts = parse_path(shape.documents)
        try:
            pos = _find(text, pos, parts)
        except PayloadError as e:
            raise PayloadError(f"documents path {shape.documents!r}: {e}") from None
    cache = [0, 1]
    if text[pos:pos + 1] != "[":
        if shape.documents:
            raise PayloadError(f"documents path {shape.documents!r} does not hold a list")
        data, _ = _DECODER.raw_decode(text, pos)
        return [SourceDocument(1, _line_of(text, pos, cache), data)]
    docs: list[SourceDocument] = []
    pos = _skip(text, pos + 1)
    while text[pos:pos + 1] != "]":
        data, end = _DECODER.raw_decode(text, pos)
        docs.append(SourceDocument(len(docs) + 1, _line_of(text, pos, cache), data))
        pos = _skip(text, end)
        if text[pos:pos + 1] == ",":
            pos = _skip(text, pos + 1)
    return docs


def read_jsonl(text: str) -> list[SourceDocument]:
    docs: list[SourceDocument] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            docs.append(SourceDocument(len(docs) + 1, n, parse_json(line, values=False)))
        except CoercionError as e:
            docs.append(SourceDocument(len(docs) + 1, n, None, error=str(e)))
    return docs


def read_csv(text: str, shape: ShapeDef, columns: dict[str, list[str]] | None = None) -> list[SourceDocument]:
    """Rows grouped into documents by ``shape.group_by``. ``columns`` (default: the shape's document
    columns, with the target fields they feed) are read for the document as a whole."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=shape.delimiter)
    header = reader.fieldnames or []
    group = shape.group_by or ""
    if group not in header:
        shown = ", ".join(header[:12]) or "none"
        raise PayloadError(f"the CSV has no column '{group}' (columns: {shown})")
    if columns is None:
        columns = shape.document_columns()
    shared = [c for c in columns if c in header and c != group]
    groups: dict[str, SourceDocument] = {}
    docs: list[SourceDocument] = []
    line = 1  # the header
    for row in reader:
        start, line = line + 1, reader.line_num
        if None in row:  # more cells than columns
            docs.append(SourceDocument(len(docs) + 1, start, None,
                                       error=f"{len(header) + len(row[None])} cells, but {len(header)} columns"))
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # blank line
        key = (row.get(group) or "").strip()
        if not key:
            docs.append(SourceDocument(len(docs) + 1, start, None, error=f"column '{group}' is empty"))
            continue
        doc = groups.get(key)
        if doc is None:
            doc = groups[key] = SourceDocument(len(docs) + 1, start, dict(row))
            doc.sources = {c: start for c in shared if (row.get(c) or "").strip()}
            docs.append(doc)
        else:
            _combine(doc, start, row, shared, shape, columns)
        doc.rows.append((start, row))
    return docs


def _combine(doc: SourceDocument, line: int, row: dict[str, Any], shared: list[str], shape: ShapeDef,
             columns: dict[str, list[str]]) -> None:
    """Fold a further row's document columns into the document: a blank cell adds nothing, a first value
    fills the document, a different value is a conflict unless ``on_conflict`` picks a row."""
    seen = doc.sources
    for c in shared:
        value = (row.get(c) or "").strip()
        if not value:
            continue
        if c not in seen:
            doc.data[c], seen[c] = value, line
            continue
        before = (doc.data.get(c) or "").strip()
        if _same(before, value):
            continue
        rule = shape.conflict_rule(c)
        if rule == "last":
            doc.data[c], seen[c] = value, line
        elif rule == "error":
            doc.conflicts.append((line, c, f"{value!r} here, but {before!r} on line {seen[c]}: the rows of one "
                                           f"document must agree (read for {', '.join(columns[c])})"))


def _same(a: str, b: str) -> bool:
    """Cells agree when equal as text or as numbers ('8' and '8.00')."""
    if a == b:
        return True
    try:
        return Decimal(a) == Decimal(b)
    except (InvalidOperation, ValueError):
        return False


def read_documents(text: str, shape: ShapeDef, columns: dict[str, list[str]] | None = None) -> list[SourceDocument]:
    if shape.format == "csv":
        return read_csv(text, shape, columns)
    if shape.format == "jsonl":
        return read_jsonl(text)
    return read_json(text, shape)


def get_path(data: Any, parts: tuple[str | int, ...]) -> Any:
    """The value at ``parts`` inside ``data``, or None when any step is missing."""
    for part in parts:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[part] if isinstance(part, int) else data.get(part)
    return data


def iter_items(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value
