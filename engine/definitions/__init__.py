"""The definitions of a served app in its database: a draft and numbered, immutable published versions.

* ``tables.py``: ``ordo_def_version`` and ``ordo_def_file`` (system tables, created by schema sync);
* ``store.py``: :class:`DefinitionStore` (import, draft edits and discard, versions, files, diff);
* ``publish.py``: publish and rollback (validate everything, schema sync, record, audit);
* ``export.py``: a version written back as an app folder or a ZIP file, byte for byte.

No ``install(app)``: the store is per database, not per App (``designer_api/live.py`` serves its
published version; ``engine/cli/definitions.py`` is its command line).
"""

from __future__ import annotations

from .publish import AUDIT_ENTITY, PublishRefused
from .store import DRAFT, DefinitionStore, FileRejected, NothingToDiscard, Version

__all__ = ["AUDIT_ENTITY", "DRAFT", "DefinitionStore", "FileRejected", "NothingToDiscard", "PublishRefused", "Version"]
