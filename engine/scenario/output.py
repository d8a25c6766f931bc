"""What a scenario shows its reader: headings, tables, progress bars."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from .. import textfmt


class Printer:
    def __init__(self, out: TextIO | None = None, lang: str = "en") -> None:
        self.out = out or sys.stdout
        self.lang = lang
        self._last_draw = 0.0

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def heading(self, text: str) -> None:
        self.line()
        self.line(text)
        self.line("=" * min(len(text), 78) if text.isascii() else "=" * min(len(text) * 2, 78))

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
              title: str | None = None) -> None:
        if title:
            self.line()
            self.line(title)
        self.line(textfmt.table(rows, columns))

    def progress(self, label: str):
        """A ``(done, total)`` callback drawing a bar (redrawn in place on a terminal)."""
        tty = self.out.isatty()
        state = {"shown": -1}

        def update(done: int, total: int) -> None:
            total = max(total, 1)
            pct = int(100 * done / total)
            now = time.monotonic()
            if tty:
                if done < total and now - self._last_draw < 0.1:
                    return
                self._last_draw = now
                bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
                end = "\n" if done >= total else ""
                print(f"\r  {label} [{bar}] {pct:3d}% {done}/{total}", end=end, file=self.out, flush=True)
            elif pct // 25 > state["shown"] or done >= total:
                state["shown"] = pct // 25
                print(f"  {label}: {done}/{total} ({pct}%)", file=self.out)

        return update
