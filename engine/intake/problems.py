"""A failed document's problems as reported: the line (of the CSV row a table field's error is on), the key,
the field and the reason."""

from __future__ import annotations

from ..errors import FieldError, OrdoError, ValidationFailed
from .mapping import MappingError
from .readers import PayloadError, SourceDocument
from .result import IntakeProblem


class RowConflicts(OrdoError):
    """The rows of a CSV document disagree (the problems are on the document)."""


def _row_line(doc: SourceDocument, field: str) -> int:
    """The CSV line of the row a ``table[i].field`` error points at (else the document's line)."""
    if doc.rows and "[" in field:
        try:
            i = int(field.split("[", 1)[1].split("]", 1)[0])
            return doc.rows[i][0]
        except (ValueError, IndexError):
            pass
    return doc.line


def problems(e: OrdoError, doc: SourceDocument, key: str | None) -> list[IntakeProblem]:
    conflicts = [IntakeProblem(line, doc.index, key, column, reason) for line, column, reason in doc.conflicts]
    if isinstance(e, RowConflicts):
        return conflicts
    return conflicts + _error_problems(e, doc, key)


def _error_problems(e: OrdoError, doc: SourceDocument, key: str | None) -> list[IntakeProblem]:
    if isinstance(e, MappingError):
        return [IntakeProblem(e.line if e.line is not None else doc.line, doc.index, key, e.field, e.reason)]
    if isinstance(e, ValidationFailed):
        errors: list[FieldError] = e.errors or [FieldError("", str(e))]
        return [IntakeProblem(_row_line(doc, err.field), doc.index, key, err.field, err.message) for err in errors]
    if isinstance(e, PayloadError):
        return [IntakeProblem(doc.line, doc.index, key, "", str(e))]
    return [IntakeProblem(doc.line, doc.index, key, "", str(e))]
