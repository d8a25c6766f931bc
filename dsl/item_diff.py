"""Item-by-item differences between two versions of an app (draft vs published, any two versions).

``diff_definitions(before, after)`` compares every definition (kind, name) of two AppDefinitions through
the same item paths ``ordo diff`` uses (``overlay_paths.changes`` over located trees: named list items by
their identity, not their position) and returns :class:`Change` items a person can read:
definition added/removed, flow node added/removed/changed (threshold, approvers, next...), entity field
added/removed/made required/default changed, form section/field moved, and a generic change by key path
for everything else. ``Change.describe(lang)`` renders one in English or Chinese, with the definitions'
labels in that language where they have them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import AppDefinition


@dataclass(frozen=True)
class Change:
    """One item that differs: ``action`` is "added", "removed", "changed" (or "moved", "required",
    "optional" as refinements of "changed"); ``path`` the item path inside the definition."""

    kind: str
    name: str
    action: str
    path: tuple[str, ...] = ()
    old: Any = None
    new: Any = None
    label: dict[str, str] | None = None  # the definition's label per language, where it has one

    def describe(self, lang: str = "en") -> str:
        """One line for people, e.g. ``flow order_lifecycle: node finance_review added``."""
        raise NotImplementedError


def diff_definitions(before: AppDefinition, after: AppDefinition) -> list[Change]:
    """Every item that differs between two versions of an app, definition by definition."""
    raise NotImplementedError
