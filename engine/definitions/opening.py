"""Opening an app on a database that may keep its definitions: the published version wins over the folder.

Once a database holds stored definitions (``ordo serve`` imports the folder as version 1 the first time),
the published version is what runs: ``ordo serve``, ``ordo worker`` and every command that opens the app
use it, so a change published in the designer is never undone by an older folder. The folder is only read
again when someone asks (``ordo import-app``); when it differs from the published version a note says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.files import read_app_files
from ordo.dsl.loader import load_app

from ..db import make_engine
from ..errors import Conflict
from .publish import publish
from .store import DefinitionStore

Say = Callable[[str], None]


def open_stored(folder: str | Path, db_url: str | None, *, sync: bool = True, create: bool = True,
                check: bool = True, import_first: bool = False, say: Say | None = None, clock=None):  # -> App
    """The app on ``db_url``: its published version when the database stores definitions, else the folder's
    (``import_first``: the folder is then stored as version 1). ``sync`` / ``create`` / ``check`` as for
    ``open_app``. ``app.features["definitions"]`` is the version opened (None: the folder)."""
    from ..app import App

    engine = make_engine(db_url, create=create)
    try:
        store = DefinitionStore(engine, root=folder, clock=clock)
        if store.stored():
            number = store.published()
            assert number is not None
            app = App(store.definition(number), db_url, engine=engine, clock=clock, sync=sync, check=check)
            app.features["definitions"] = number
            if say is not None:
                _note_folder(store, folder, number, say)
            return app
        app = App(load_app(folder), db_url, engine=engine, clock=clock, sync=sync, check=check)
        if import_first:
            try:
                version = publish(store, "system", f"imported from {folder}", files=read_app_files(folder),
                                  action="import", app=app)
                app.features["definitions"] = version.number
                if say is not None:
                    say(f"stored the definitions of {folder} in the database as version {version.number}; "
                        f"from now on the published version is served (ordo versions / ordo export)")
            except Conflict:  # another process imported it first
                app.features["definitions"] = store.published()
        return app
    except BaseException:
        engine.dispose()
        raise


def _note_folder(store: DefinitionStore, folder: str | Path, number: int, say: Say) -> None:
    try:
        differs = read_app_files(folder) != store.files(number)
    except DefinitionErrors:
        differs = True
    if differs:
        say(f"note: the folder {folder} differs from the published version v{number}, which is served; to load "
            f"the folder as a new draft run `ordo import-app {folder} --db ...` (add --publish to publish it)")


def follow(app, *, start: bool = False):  # App -> App
    """``app``, or the App of a newer published version on the same connections when one was published
    since ``app`` was opened (``ordo worker`` asks between rounds; servers use designer_api/live.py).
    ``start``: run the new App's start hooks (recurring schedules)."""
    current = app.features.get("definitions")
    if current is None:
        return app
    store = DefinitionStore(app.engine, root=app.definition.root, clock=app.clock)
    number = store.published()
    if number is None or number == current:
        return app
    new = app_of_version(store, number, app)
    if start:
        new.start()
    return new


def app_of_version(store: DefinitionStore, number: int, like):  # -> App
    """The App of published version ``number`` on the connections (and clock) of the App ``like``; the
    schema is in line already (publishing synced it)."""
    from ..app import App

    new = App(store.definition(number), engine=like.engine, clock=like.clock, sync=False, check=False)
    new.db_label = like.db_label
    new.features["definitions"] = number
    return new
