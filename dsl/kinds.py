"""Import every module of the definition language so that each kind registers itself.

A new kind is a module in ``dsl/`` with a ``@register_kind`` class; nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

_SKIP = {"kinds", "loader", "files", "schema_export", "cache", "yaml_parse"}  # yaml_parse: at the first read


def load_all() -> None:
    package = __name__.rsplit(".", 1)[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if not info.ispkg and info.name not in _SKIP | _TEXT_EDITS and not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


# the designer's text edits and diffs: no kinds (and ruamel.yaml is imported only when they are used)
_TEXT_EDITS = {"yaml_edit", "yaml_edit_args", "yaml_find", "yaml_roundtrip", "yaml_splice", "edit_target", "flow_edit",
               "form_edit", "item_diff"}

load_all()
