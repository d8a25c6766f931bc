"""What the runtime services need of an open app, as protocols: the record store, the job runner and the
outbox depend on these, not on :class:`ordo.engine.app.App` (no import cycle: app imports them, never the
other way round)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa

from ordo.dsl.expr import Clock


class Runtime(Protocol):
    """The database and the clock (jobs, outbox)."""

    engine: sa.Engine
    clock: Clock


class AppRuntime(Runtime, Protocol):
    """What a :class:`~ordo.engine.records.Transaction` uses of its app."""

    compiled: Any  # CompiledApp
    plans: Any  # write_plan.Plans
    permissions: Any  # permissions.Permissions
    filters: Any  # query.FilterCache
    related_statements: Any  # related_aggregates.RelatedAggregates
    listeners: list[Callable[..., None]]
    before_insert: list[Callable[..., None]]  # (tx, compiled entity, record) before a create's INSERT
    rewrites_created: set[str]  # entities whose create's listeners may write the new record (see held_inserts)
    features: dict[str, Any]
    jobs: Any
