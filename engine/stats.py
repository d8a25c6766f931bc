"""Counting what a piece of work costs the database: statements and commits.

    with count_statements(app.engine) as counts:
        app.create("order", {...}, user="alice")
    counts.statements, counts.commits, counts.texts

Used by the statement-budget tests (the write path cannot silently regress) and by the benches.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event


@dataclass
class Counts:
    statements: int = 0  # one per execute / executemany
    commits: int = 0
    texts: list[str] = field(default_factory=list)  # the SQL of each statement, in order
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def by_kind(self) -> dict[str, int]:
        """Statements by their first word (SELECT, INSERT, UPDATE, DELETE, SAVEPOINT, ...)."""
        out: dict[str, int] = {}
        for text in self.texts:
            word = text.lstrip().split(None, 1)[0].upper() if text.strip() else "?"
            out[word] = out.get(word, 0) + 1
        return out


@contextlib.contextmanager
def count_statements(engine: sa.Engine) -> Iterator[Counts]:
    """Count every statement and commit ``engine`` runs inside the block (all threads)."""
    counts = Counts()

    def on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                   executemany: bool) -> None:
        with counts._lock:
            counts.statements += 1
            counts.texts.append(statement)

    def on_commit(conn: Any) -> None:
        with counts._lock:
            counts.commits += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
