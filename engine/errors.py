"""Errors the runtime raises; all derive from the one root, ``OrdoError``."""

from __future__ import annotations

from dataclasses import dataclass

from ordo.dsl.errors import DefinitionError, DefinitionErrors, OrdoError

__all__ = [
    "Conflict",
    "DefinitionError",
    "DefinitionErrors",
    "FieldError",
    "NotFound",
    "OrdoError",
    "PermissionDenied",
    "SchemaChangeRefused",
    "UsageError",
    "ValidationFailed",
]


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, e.g. "lines[2].qty"; "" for the whole record
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationFailed(OrdoError):
    """A write was refused; nothing was stored. ``errors`` lists every problem."""

    def __init__(self, entity: str, errors: list[FieldError]) -> None:
        self.entity = entity
        self.errors = errors
        super().__init__(f"{entity}: " + "; ".join(str(e) for e in errors))


class NotFound(OrdoError):
    """No record (or entity, flow, ...) with that name or id."""


class Conflict(OrdoError):
    """The record changed since it was read (stale ``expected_version``) or is in use."""


class PermissionDenied(OrdoError):
    """The acting user may not do this."""


class SchemaChangeRefused(OrdoError):
    """Schema sync found destructive changes the definitions do not declare."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("schema change refused:\n  " + "\n  ".join(problems))


class UsageError(OrdoError):
    """A call was made with a bad parameter (unknown entity, bad order_by, ...)."""


def integrity_message(e: Exception) -> str:
    """What a write the database refused (``sa.exc.IntegrityError``) broke: a unique value, a reference, a
    required value."""
    text = str(getattr(e, "orig", e)).lower()
    if "unique" in text or "duplicate" in text:
        return "a record with the same unique value already exists"
    if "foreign key" in text:
        return "refers to a record that does not exist or is still referenced"
    if "not null" in text or "null value" in text:
        return "a required value is missing"
    return "the database refused the change"
