"""What an import did: documents created, duplicates skipped, problems with their lines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class IntakeProblem:
    """Why a document was not imported: the payload line, the document's key, the field and the reason."""

    line: int | None
    document: int
    key: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"document {self.document}"
        who = f" ({self.key})" if self.key else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{who}: {what}{self.reason}"


@dataclass(frozen=True)
class Duplicate:
    """A document whose key already exists: nothing was changed."""

    line: int | None
    document: int
    key: str
    existing: str  # name of the record that already has this key

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"document {self.document}"
        return f"{where} ({self.key}): already imported as {self.existing}"


@dataclass
class IntakeResult:
    intake: str
    shape: str
    channel: str | None
    source: str | None = None
    documents: int = 0
    created: list[str] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    errors: list[IntakeProblem] = field(default_factory=list)
    dry_run: bool = False

    def mark(self) -> tuple[int, int, int]:
        """Where the lists stand now (see :meth:`reset`)."""
        return len(self.created), len(self.duplicates), len(self.errors)

    def reset(self, mark: tuple[int, int, int]) -> None:
        """Forget what was reported after ``mark`` (a batch rolled back to be run again)."""
        del self.created[mark[0]:], self.duplicates[mark[1]:], self.errors[mark[2]:]

    @property
    def failed(self) -> int:
        """Documents with at least one problem."""
        return len({e.document for e in self.errors})

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        verb = "would create" if self.dry_run else "created"
        return (f"{self.documents} document(s): {verb} {len(self.created)}, {len(self.duplicates)} duplicate(s), "
                f"{self.failed} with errors")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}
