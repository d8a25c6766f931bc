"""Approval flows: the runtime of ``flow`` definitions.

``install(app)`` compiles every flow once, starts flows from record writes and
runs their timers as ``flow.timer`` jobs. The runtime object is
``app.features["flows"]`` (:class:`FlowRuntime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import start_state
from .compile import FlowCompileError
from .people import FlowFailed
from .runtime import FlowRuntime

if TYPE_CHECKING:
    from ..app import App

__all__ = ["FlowCompileError", "FlowFailed", "FlowRuntime", "install"]


def install(app: App) -> None:
    runtime = FlowRuntime(app)
    app.features["flows"] = runtime
    app.on_write(runtime.on_write)
    start_state.install(runtime)  # a flow started by a create: its first state in the INSERT
    app.rewrites_created.update(f.entity for f in runtime.flows.values()  # what it sets: into the INSERT
                                if f.defn.trigger.on in ("create", "create_or_update"))
    app.jobs.register("flow.timer", runtime.on_timer)
