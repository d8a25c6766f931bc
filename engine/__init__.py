"""Ordo's runtime: app registry, record store, validation, audit and the CLI."""

from .actor import SYSTEM, User
from .app import App, open_app
from .db import TransactionConflict
from .errors import (
    Conflict,
    DefinitionErrors,
    FieldError,
    NotFound,
    OrdoError,
    PermissionDenied,
    SchemaChangeRefused,
    UsageError,
    ValidationFailed,
)

__all__ = [
    "SYSTEM",
    "App",
    "Conflict",
    "DefinitionErrors",
    "FieldError",
    "NotFound",
    "OrdoError",
    "PermissionDenied",
    "SchemaChangeRefused",
    "TransactionConflict",
    "UsageError",
    "User",
    "ValidationFailed",
    "open_app",
]
