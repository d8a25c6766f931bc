"""The App a server answers with, swapped for a newer one when a version is published, in every process.

Each server holds a :class:`Live`: the App of the published version it serves and the definition store of
its database. Before a request, at most once a second (``interval``), one thread asks the store for the
published version number (one cheap query); when it changed, it builds the App of that version on the same
database connections and swaps it in. A request takes the App once, when it starts (``Ctx.app``), so it
runs wholly on one version; requests that start while another thread rebuilds keep the previous App.
Flow instances already running keep their graph whatever App serves them (engine/flows pins it).
The draft and the other versions (for the designer's simulate and previews) come from ``Live.versions``
(versions.py): built once per content, with the served version's authority.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from ordo.engine.app import App
from ordo.engine.definitions import DefinitionStore
from ordo.engine.definitions.opening import app_of_version
from ordo.engine.errors import OrdoError

from .versions import Versions

log = logging.getLogger("ordo.server")
INTERVAL = 1.0  # seconds between two looks at the published version number


class Live:
    """The served App and where newer versions come from (see the module docstring)."""

    def __init__(self, app: App, *, interval: float = INTERVAL) -> None:
        self.app = app
        self.store = DefinitionStore(app.engine, root=app.definition.root, label=app.name, clock=app.clock)
        self.versions = Versions(self.store)  # the draft and other versions, kept by content
        self.version: int | None = app.features.get("definitions")
        self.interval = interval
        self.checked = time.monotonic()
        self._lock = threading.Lock()

    def due(self) -> bool:
        return time.monotonic() - self.checked >= self.interval

    def refresh(self, force: bool = False) -> App:
        """The App of the published version, rebuilt if it changed (``force``: look now, and wait for a
        rebuild another thread is doing)."""
        if not self._lock.acquire(blocking=force):
            return self.app  # another thread looks: go on with the current App
        try:
            if not force and not self.due():
                return self.app
            self.checked = time.monotonic()
            number = self.store.published() if self.store.ready() or self.version is not None else None
            if number is not None and number != self.version:
                self._swap(number)
        except (OrdoError, OSError) as e:  # keep serving the version we have; the next look tries again
            log.warning("cannot load the published definitions: %s", e)
        except Exception as e:  # a database hiccup (sqlalchemy error): same
            log.warning("cannot look at the published definitions: %s", e)
        finally:
            self._lock.release()
        return self.app

    def app_for(self, ref: int | str) -> App:
        """An App of a version or of the draft (not served: for simulating) with the served version's
        authority, on the same database (see versions.py); the served App for the version it serves."""
        return self.versions.app(ref, self.app)

    def _swap(self, number: int) -> None:
        app = app_of_version(self.store, number, self.app)
        self.app, self.version = app, number
        log.info("serving version %s of %s", number, app.name)


class LiveState(State):
    """``request.app.state`` whose ``ordo`` is the Live's current App."""

    @property
    def ordo(self) -> App:
        return self._state["live"].app


class RefreshMiddleware:
    """Before a request, when due, look for a newer published version (in the thread pool)."""

    def __init__(self, app: Any, live: Live) -> None:
        self.app = app
        self.live = live

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.live.due():
            await run_in_threadpool(self.live.refresh)
        await self.app(scope, receive, send)
