"""The engine's own words in the languages of the definitions' labels (``--lang`` / ``ORDO_LANG``).

Definitions carry their labels (``{en: ..., zh: ...}``, see :func:`ordo.dsl.base.label_text`);
this module holds the few words the engine itself shows next to them: system field names,
placeholders, yes/no, totals. An unknown language falls back to English.
"""

from __future__ import annotations

import os

DEFAULT_LANG = "en"

_WORDS: dict[str, dict[str, str]] = {
    "id": {"en": "ID", "zh": "ID"},
    "name": {"en": "Name", "zh": "编号"},
    "created_at": {"en": "Created at", "zh": "创建时间"},
    "created_by": {"en": "Created by", "zh": "创建人"},
    "updated_at": {"en": "Updated at", "zh": "更新时间"},
    "updated_by": {"en": "Updated by", "zh": "更新人"},
    "version": {"en": "Version", "zh": "版本"},
    "idx": {"en": "#", "zh": "序号"},
    "no_access": {"en": "(no access)", "zh": "(无权限)"},
    "deleted": {"en": "(deleted)", "zh": "(已删除)"},
    "none": {"en": "(none)", "zh": "(无)"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    "total": {"en": "Total", "zh": "合计"},
    "cohort": {"en": "Cohort", "zh": "同期群"},
    "cohort_size": {"en": "Cohort size", "zh": "群组人数"},
    "rows": {"en": "rows", "zh": "行"},
}


def word(key: str, lang: str = DEFAULT_LANG) -> str:
    """The engine word ``key`` in ``lang`` (English when the language has none)."""
    texts = _WORDS[key]
    return texts.get(lang) or texts[DEFAULT_LANG]


def system_label(name: str, lang: str = DEFAULT_LANG) -> str | None:
    """The label of a system field (``id``, ``name``, ``created_at``, ...), or None."""
    return word(name, lang) if name in ("id", "name", "created_at", "created_by", "updated_at", "updated_by",
                                        "version", "idx") else None


def is_placeholder(value: object) -> bool:
    """Whether ``value`` is the text shown for a link its reader may not read, in any language."""
    return isinstance(value, str) and value in _WORDS["no_access"].values()


def env_lang() -> str:
    """The language from ``ORDO_LANG`` (default English)."""
    return (os.environ.get("ORDO_LANG") or DEFAULT_LANG).strip() or DEFAULT_LANG
