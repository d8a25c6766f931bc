"""One error root for everything Ordo reports to a user.

Every error a user can cause derives from :class:`OrdoError`. Errors that point
into a source (a YAML file or an expression) carry ``file``, ``line`` and
``column`` and render as ``file:line:column: path: message``; expression errors
can also draw a caret under the offending text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class OrdoError(Exception):
    """Root of every error Ordo raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def format_path(path: Sequence[str | int]) -> str:
    """Render a location path such as ``fields.amount.type`` or ``lines[2].qty``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class DefinitionError(OrdoError):
    """An error in a definition, located at ``file:line:column`` and a path inside it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: Sequence[str | int] = (),
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.column = column
        self.path = tuple(path)

    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            parts.append(str(self.column or 1))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.location()
        path = format_path(self.path)
        return f"{where}: {path}: {self.message}" if path else f"{where}: {self.message}"

    def sort_key(self) -> tuple:
        return (self.file or "", self.line or 0, self.column or 0, self.message)


class DefinitionErrors(OrdoError):
    """Several definition errors reported together (loading reports all, not the first)."""

    def __init__(self, errors: Iterable[DefinitionError]) -> None:
        self.errors = sorted(errors, key=DefinitionError.sort_key)
        super().__init__("\n".join(str(e) for e in self.errors))

    def __len__(self) -> int:
        return len(self.errors)


class ExpressionError(OrdoError):
    """An error in an expression: syntax, unknown name, type mismatch, limits.

    ``line``/``column`` are 1-based positions inside the expression text.
    """

    def __init__(self, message: str, text: str = "", line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.text = text
        self.line = line
        self.column = column

    def context(self, span: int = 40) -> str:
        """The source line around the error with a caret under the column (like lark's)."""
        lines = self.text.splitlines() or [""]
        src = lines[min(self.line, len(lines)) - 1]
        start = max(0, self.column - 1 - span)
        before = src[start : self.column - 1]
        after = src[self.column - 1 : self.column - 1 + span]
        return f"{before}{after}\n{' ' * len(before)}^"

    def __str__(self) -> str:
        return f"{self.message} (at {self.line}:{self.column})"


class ExpressionErrors(OrdoError):
    """All errors found while checking one expression."""

    def __init__(self, errors: Sequence[ExpressionError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))
