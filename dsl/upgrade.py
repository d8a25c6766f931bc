"""Upgrading an overlay when its base moves: a 3-way merge of base v1 (the pinned version), base v2 (the
installed version) and the overlay.

The overlay is always merged onto v2, so every change of the base the overlay did not touch is taken as
is. Where the base changed an item between v1 and v2 that the overlay also sets (or removes), and the
overlay's value is not the base's new one, the overlay has a :class:`Conflict`: ``ordo validate`` and
``ordo upgrade --check`` report it with both sides and the file:line of each, and the app does not load
until it is resolved (delete your line to take the base's, or ``ordo upgrade --keep-mine`` to keep yours).
``ordo upgrade`` then rewrites the pin in app.yaml.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError
from .merge import Node, is_remove, plain
from .overlay import OverlayInfo, located_tree, pack_versions, version_folder
from .overlay_paths import MISSING, CPath, flat, show_path, touched, value_at, without_placement

if TYPE_CHECKING:
    from .app import AppDefinition


def _show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Conflict:
    """The base and the overlay changed the same item."""

    kind: str
    name: str
    path: CPath
    old: Any  # the base's value in the pinned version (MISSING: absent)
    new: Any  # the base's value now
    old_at: str | None
    new_at: str | None
    mine: Node | None  # what the overlay wrote
    pinned: str
    current: str
    pack: str
    file: str | None = None  # when there is no overlay node: the file to blame
    missing: str | None = None  # the pinned version is not available: the versions the pack keeps

    def describe(self) -> str:
        if self.missing is not None:
            return (f"extends {self.pack} version {self.pinned}, but the installed {self.pack} is {self.current} "
                    f"and keeps no copy of {self.pinned} (kept: {self.missing}): your changes cannot be told "
                    "from the base's")
        what = f"{self.kind} {self.name}" + (f" {show_path(self.path)}" if self.path else "")
        mine = "removes it" if self.mine is not None and is_remove(self.mine) else (
            f"sets {_show(without_placement(plain(self.mine)))}" if self.mine is not None else "changes it")
        old_at = f" ({self.old_at})" if self.old_at else ""
        new_at = f" ({self.new_at})" if self.new_at else ""
        return (f"conflict with {self.pack} {self.current}: {what}: the base changed it from "
                f"{_show(self.old)}{old_at} in {self.pinned} to {_show(self.new)}{new_at} in {self.current}; "
                f"this overlay {mine}")

    def error(self) -> DefinitionError:
        hint = "; take the base's by deleting your change, or keep yours with `ordo upgrade --keep-mine`"
        if self.missing is not None:
            hint = "; compare with `ordo diff`, then pin the installed version with `ordo upgrade --keep-mine`"
        if self.mine is not None:
            o = self.mine.origin
            return o.doc.error(o.path, self.describe() + hint, shown_path=(self.kind, self.name, *self.path))
        return DefinitionError(self.describe() + hint, file=self.file)


def _where(node: Node | None) -> str | None:
    return node.origin.where() if node is not None else None


def conflicts(app: AppDefinition, loader: Any) -> list[Conflict]:
    """The conflicts of an overlay whose pinned base version is older than the installed base."""
    info: OverlayInfo = app.overlay
    pinned, current = str(info.ref.version), info.base_version
    manifest = str((app.root or Path(".")) / "app.yaml")
    old_root = version_folder(info.base_root, current, pinned)
    if old_root is None:
        kept = ", ".join([*pack_versions(info.base_root), current])
        return [Conflict("app", app.name, (), MISSING, MISSING, None, None, None, pinned, current, info.ref.pack,
                         file=manifest, missing=kept)]
    old_loader = type(loader)()
    old_loader.display_base = info.base_root.resolve().parent
    old = old_loader.load(old_root)
    if old is None:
        return [Conflict("app", app.name, (), MISSING, MISSING, None, None, None, pinned, current, info.ref.pack,
                         file=manifest, missing=f"{old_root} unreadable")]
    out: list[Conflict] = []
    for (kind, name), over in info.changed.items():
        l1, l2 = old.located(kind, name), info.base.located(kind, name)
        t1 = located_tree(l1.source, l1.base, "base") if l1 else None
        t2 = located_tree(l2.source, l2.base, "base") if l2 else None
        f1 = flat(kind, t1) if t1 is not None else None
        f2 = flat(kind, t2) if t2 is not None else None
        whole = (kind, name) in info.removed or (kind, name) in info.replaced or t1 is None
        paths = [((), over)] if whole else list(touched(kind, over, f1 or {}))
        for cpath, mine in paths:
            v1, v2 = value_at(f1, cpath), value_at(f2, cpath)
            if v1 == v2:
                continue
            if mine is not None and is_remove(mine) and v2 is MISSING:
                continue
            if not whole and not is_remove(mine) and without_placement(plain(mine)) == v2:
                continue
            out.append(Conflict(kind, name, cpath, v1, v2, _where(f1.get(cpath) if f1 else None),
                                _where(f2.get(cpath) if f2 else None), mine, pinned, current, info.ref.pack))
    return out


_FLOW_PIN = re.compile(r"^(extends:\s*\{[^}\n]*?version:\s*)([^,}\s]+)", re.MULTILINE)
_FLOW_NO_PIN = re.compile(r"^(extends:\s*\{[^}\n]*?)(\s*\})", re.MULTILINE)
_BLOCK_PIN = re.compile(r"^(extends:[ \t]*\n(?:[ \t]+.*\n)*?[ \t]+version:[ \t]*)(\S+)", re.MULTILINE)
_PLAIN = re.compile(r"^extends:[ \t]*(['\"]?)([^'\"\s#{]+)\1[ \t]*(#.*)?$", re.MULTILINE)


def rewrite_pin(text: str, version: str) -> str:
    """app.yaml's text with the base version pinned to ``version`` (comments and layout kept)."""
    for pattern in (_FLOW_PIN, _BLOCK_PIN):
        if pattern.search(text):
            return pattern.sub(lambda m: m.group(1) + str(version), text, count=1)
    if _FLOW_NO_PIN.search(text):
        return _FLOW_NO_PIN.sub(lambda m: f"{m.group(1)}, version: {version}{m.group(2)}", text, count=1)
    m = _PLAIN.search(text)
    if m is None:
        raise ValueError("app.yaml has no 'extends:' to pin")
    comment = f"  {m.group(3)}" if m.group(3) else ""
    return text[:m.start()] + f"extends: {{pack: {m.group(2)}, version: {version}}}{comment}" + text[m.end():]
