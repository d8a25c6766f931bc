"""What a scenario shows its reader: headings, tables, progress bars."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from .. import textfmt

_MESSAGES: dict[str, dict[str, str]] = {
    "created": {"en": "created {entity} {name}", "zh": "已创建{entity} {name}"},
    "updated": {"en": "updated {entity} {name}", "zh": "已更新{entity} {name}"},
    "updated_many": {"en": "updated {count} {entity}: {names}", "zh": "已更新 {count} 条{entity}：{names}"},
    "clock": {"en": "clock: {at}", "zh": "时钟：{at}"},
    "worker": {"en": "worker: {jobs} job(s) run, {sent} notification(s) delivered",
               "zh": "后台任务：运行 {jobs} 个任务，发送 {sent} 条通知"},
    "user": {"en": "user {name}: roles {roles}; groups {groups}", "zh": "用户 {name}：角色 {roles}；组 {groups}"},
    "flow_started": {"en": "started flow {flow} on {record}", "zh": "已在 {record} 上启动流程 {flow}"},
    "flow_acted": {"en": "{user}: {action} {record} ({flow}/{node})", "zh": "{user}：{action} {record}（{flow}/{node}）"},
    "loaded": {"en": "loaded {count} record(s)", "zh": "已载入 {count} 条记录"},
    "already": {"en": ", {count} already there", "zh": "，{count} 条已存在"},
    "importing": {"en": "import {file}", "zh": "导入 {file}"},
    "imported": {"en": "{documents} document(s): created {created}, {duplicates} duplicate(s), {failed} with errors",
                 "zh": "{documents} 份单据：新建 {created}，重复 {duplicates}，有错误 {failed}"},
    "generated": {"en": "dataset {dataset} (seed {seed}): created {created}",
                  "zh": "数据集 {dataset}（种子 {seed}）：新建 {created}"},
    "generated_dups": {"en": "; duplicates refused: {items}", "zh": "；拒绝重复：{items}"},
    "generated_errors": {"en": "; refused: {items}", "zh": "；拒绝：{items}"},
    "count_of": {"en": "{count} {entity}", "zh": "{count} 条{entity}"},
    "nothing": {"en": "nothing", "zh": "无"},
}
# what a person did to a task, as the timeline and the scenario output name it
_ACTIONS: dict[str, dict[str, str]] = {
    "approve": {"en": "approved", "zh": "批准"},
    "reject": {"en": "rejected", "zh": "驳回"},
    "send_back": {"en": "sent back", "zh": "退回"},
    "transfer": {"en": "transferred", "zh": "转交"},
    "add_approver": {"en": "added an approver to", "zh": "加签"},
    "comment": {"en": "commented on", "zh": "评论"},
}

_NUMBER = re.compile(r"^\s*\d+\s*[.、)]\s*")


class Printer:
    def __init__(self, out: TextIO | None = None, lang: str = "en") -> None:
        self.out = out or sys.stdout
        self.lang = lang
        self.sections = 0
        self._last_draw = 0.0

    def say(self, key: str, **values: object) -> None:
        """One indented line of the runner's own words, in the printer's language."""
        self.line("  " + self.words(key, **values))

    def words(self, key: str, **values: object) -> str:
        """The runner's own words ``key`` in the printer's language."""
        texts = _MESSAGES[key]
        return (texts.get(self.lang) or texts["en"]).format(**values)

    def action(self, name: str) -> str:
        """A task action as people say it (``approve`` -> approved / 批准)."""
        texts = _ACTIONS.get(name)
        return (texts.get(self.lang) or texts["en"]) if texts else name

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def heading(self, text: str) -> None:
        self.line()
        self.line(text)
        self.line("=" * min(len(text), 78) if text.isascii() else "=" * min(len(text) * 2, 78))

    def section(self, text: str) -> None:
        """A numbered heading: sections are numbered 1, 2, 3 in the order played (a number written
        in the text is replaced, so that every language of a label numbers alike)."""
        self.sections += 1
        self.heading(f"{self.sections}. {_NUMBER.sub('', text, count=1)}")

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
              title: str | None = None, headers: Sequence[str] | None = None) -> None:
        if title:
            self.line()
            self.line(title)
        self.line(textfmt.table(rows, columns, headers=headers))

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
