"""System tables of the definition store (created by schema sync like every ``ordo_*`` table).

* ``ordo_def_version``: one row per published version (``number`` 1, 2, ...: who, when, note, what made
  it: ``import``, ``publish`` or ``rollback`` of ``based_on``), plus the draft as ``number`` 0 (its last
  editor and time, ``based_on`` the version it started from). Published versions are never changed.
* ``ordo_def_file``: the text of every file of every version (and of the draft, ``version`` 0), by its
  path relative to the app folder (``flows/order_lifecycle.yaml``), exactly as written.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..tables import SYSTEM_METADATA

DRAFT = 0  # the version number of the draft

version_table = sa.Table(
    "ordo_def_version",
    SYSTEM_METADATA,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("action", sa.String(20), nullable=False),  # draft, import, publish, rollback
    sa.Column("based_on", sa.Integer, nullable=True),
    sa.Column("created_by", sa.String(140), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("digest", sa.String(64), nullable=False),
)

file_table = sa.Table(
    "ordo_def_file",
    SYSTEM_METADATA,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("path", sa.String(400), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)

PUBLISHED = sa.select(sa.func.max(version_table.c.number)).where(version_table.c.number > DRAFT)
FILES = sa.select(file_table.c.path, file_table.c.text).where(file_table.c.version == sa.bindparam("v"))
