"""System tables of the flow runtime (created by schema sync like every ``ordo_*`` table).

* ``ordo_flow_version``: each flow definition version ever started (its JSON), so a
  running instance keeps the graph it started with.
* ``ordo_flow_instance``: one run of a flow on one record; ``rev`` increases with every
  change (optimistic check on top of the row lock).
* ``ordo_flow_token``: where the instance is (one active token per parallel branch).
* ``ordo_flow_task``: a human task (pending, waiting, approved, rejected, ...); only pending tasks are in the
  inbox's (partial) indexes.
* ``ordo_flow_history``: the timeline: who did what, when, with which comment.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..tables import SYSTEM_METADATA, PartialIndex, id_column

version_table = sa.Table(
    "ordo_flow_version",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("flow", sa.String(140), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("declared", sa.String(40)),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("flow", "hash", name="ux_ordo_flow_version"),
)

instance_table = sa.Table(
    "ordo_flow_instance",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("flow", sa.String(140), nullable=False),
    sa.Column("version_id", sa.BigInteger, nullable=False),
    sa.Column("entity", sa.String(140), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # running, completed, rejected, withdrawn, cancelled
    sa.Column("outcome", sa.String(140)),
    sa.Column("current", sa.String(500), nullable=False, default=""),
    sa.Column("started_by", sa.String(140), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("rev", sa.Integer, nullable=False, default=1),
    sa.Column("data", sa.Text, nullable=False, default="{}"),
    sa.Index("ix_ordo_flow_instance_record", "entity", "record_id"),
)

token_table = sa.Table(
    "ordo_flow_token",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("instance_id", sa.BigInteger, nullable=False),
    sa.Column("node", sa.String(140), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # active, done, cancelled
    sa.Column("splits", sa.Text, nullable=False, default="[]"),  # stack of split keys (for joins)
    sa.Column("arrived_at", sa.DateTime, nullable=False),
    sa.Column("data", sa.Text, nullable=False, default="{}"),
    # an instance's tokens (a few) by instance_id alone: a token finishing (status) moves no index entry
    sa.Index("ix_ordo_flow_token_instance_id", "instance_id"),
    info={"retired_indexes": ("ix_ordo_flow_token_instance",)},
)

# A task's status changes (pending -> approved ...) touch only the indexes that hold it: the inbox reads pending
# tasks through two partial indexes, one per way a task is assigned (exactly one of them holds a pending task,
# none a closed one), and an instance's tasks are found by instance_id alone (a few per instance)
PENDING = "status = 'pending'"  # literally in the indexes' WHERE and in the inbox's (a bound value would not match)
_FOR_USER, _FOR_ROLE = f"{PENDING} AND assignee IS NOT NULL", f"{PENDING} AND assignee IS NULL"

task_table = sa.Table(
    "ordo_flow_task",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("instance_id", sa.BigInteger, nullable=False),
    sa.Column("token_id", sa.BigInteger, nullable=False),
    sa.Column("flow", sa.String(140), nullable=False),
    sa.Column("node", sa.String(140), nullable=False),
    sa.Column("entity", sa.String(140), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("assignee", sa.String(140)),
    sa.Column("assignee_role", sa.String(140)),
    # pending, waiting, approved, rejected, transferred, cancelled, skipped
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, default="main"),  # main, before, after
    sa.Column("seq", sa.Integer, nullable=False, default=0),
    sa.Column("ref_task", sa.BigInteger),  # add-sign: the task this one was added to
    sa.Column("visit", sa.Integer, nullable=False, default=1),  # which visit of the token to the node
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("due_at", sa.DateTime),
    sa.Column("acted_at", sa.DateTime),
    sa.Column("acted_by", sa.String(140)),
    sa.Column("comment", sa.Text),
    PartialIndex("ix_ordo_flow_task_pending_user", "assignee", where=_FOR_USER),
    PartialIndex("ix_ordo_flow_task_pending_role", "assignee_role", where=_FOR_ROLE),
    sa.Index("ix_ordo_flow_task_instance_id", "instance_id"),
    info={"retired_indexes": ("ix_ordo_flow_task_assignee", "ix_ordo_flow_task_role", "ix_ordo_flow_task_instance")},
)

history_table = sa.Table(
    "ordo_flow_history",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("instance_id", sa.BigInteger, nullable=False),
    sa.Column("entity", sa.String(140), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("user", sa.String(140), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("node", sa.String(140)),
    sa.Column("task_id", sa.BigInteger),
    sa.Column("comment", sa.Text),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Index("ix_ordo_flow_history_record", "entity", "record_id"),  # the timeline's; nothing reads by instance
    info={"retired_indexes": ("ix_ordo_flow_history_instance",)},
)
