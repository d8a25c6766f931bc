"""A disk cache of loaded and checked apps, so opening an app in a new process does not parse and check
its definitions again.

An entry is the :class:`~ordo.dsl.app.AppDefinition` as ``load_app`` (a folder) or ``load_files`` (a
stored version) returns it, after the loader and the checker, pickled with its schema's compiled
expressions (their functions as marshalled code and constants: ``to_python.frozen`` / ``revive``). Its key
is a digest of the definition files' content (with the apps they extend, ``loader.fingerprint``), of where
they were opened from, and of the code that builds it: the size and modification time of Ordo's own source
files and the versions of Python, pydantic, PyYAML and lark. Any change to one of them is another key;
only apps that loaded without errors are stored.

Where: ``$ORDO_CACHE_DIR``, else ``$XDG_CACHE_HOME/ordo``, else ``~/.cache/ordo``; ``ORDO_CACHE=0`` turns
the cache off. Entries run code when loaded (pickle, marshal), so a folder not owned by the current user,
or writable by its group or by others, is never used (the app is then loaded without a cache, silently).
Entries are written whole (a temporary file renamed into place); one that cannot be read is deleted and
the app built again; at most :data:`MAX_ENTRIES` are kept, the least recently used are deleted first.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import os
import pickle
import stat
import sys
import tempfile
import time
import weakref
from pathlib import Path
from types import FunctionType
from typing import Any

from .app import AppDefinition
from .expr.to_python import frozen, revive

FORMAT = 1  # of an entry: raise when what is pickled changes shape
MAX_ENTRIES = 64
PREFIX = "app-"
SUFFIX = ".pickle"

# definition -> (its entry file, how many compiled expressions the entry holds): see remember()
_STORED: weakref.WeakKeyDictionary[AppDefinition, tuple[Path, int]] = weakref.WeakKeyDictionary()


def enabled() -> bool:
    return os.environ.get("ORDO_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def folder() -> Path | None:
    """The cache folder (created if missing), or None: the cache is off or the folder is not safe to use."""
    if not enabled():
        return None
    raw = os.environ.get("ORDO_CACHE_DIR")
    if raw:
        path = Path(raw).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME")
        path = (Path(base) if base else Path.home() / ".cache") / "ordo"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    return path if safe(st) else None


def safe(st: os.stat_result) -> bool:
    """Whether a folder with these attributes is ours alone: a folder, owned by the current user, not
    writable by its group or by others."""
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


@functools.cache
def code_stamp() -> str:
    """A digest of what builds an entry: Ordo's source files (path, size, mtime) and library versions (lark's
    and PyYAML's by their installed files, not imported: opening a cached app never parses an expression nor
    reads YAML)."""
    import pydantic

    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{pydantic.VERSION}\0".encode())
    for name in ("lark", "yaml"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            with contextlib.suppress(OSError):
                st = os.stat(spec.origin)  # its __init__.py holds __version__
                digest.update(f"{spec.origin}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    packages = sorted({Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "engine"})
    for top in packages:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith((".py", ".lark")):
                    st = os.stat(os.path.join(dirpath, name))
                    digest.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def place_of(path: str | Path) -> str:
    """Where an app folder is opened from, as part of a key: the path as given and as resolved (the loaded
    app holds paths: its root, the folder a relative ``extends:`` names)."""
    where = str(path)
    if where.startswith("builtin:"):
        return where
    try:
        return f"{where}\0{Path(where).resolve()}"
    except (OSError, RuntimeError):
        return where


def entry_key(place: str, content: str) -> str:
    """The key of the app opened from ``place`` (see :func:`place_of`) whose files' digest is ``content``."""
    return hashlib.sha256(f"{code_stamp()}\0{content}\0{place}".encode()).hexdigest()[:40]


def load(place: str, content: str) -> AppDefinition | None:
    """The cached app opened from ``place`` with files of digest ``content``, or None (not cached, cache off,
    unreadable entry: that one is deleted)."""
    where = folder()
    if where is None:
        return None
    key = entry_key(place, content)
    file = where / f"{PREFIX}{key}{SUFFIX}"
    try:
        with open(file, "rb") as f:
            st = os.fstat(f.fileno())
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                return None  # not written by this user: never read
            data = f.read()
    except OSError:
        return None
    try:
        stamp, stored_key, app = pickle.loads(data)  # noqa: S301 - our own entry in a folder only we can write
        if stamp != FORMAT or stored_key != key or not isinstance(app, AppDefinition):
            raise ValueError("not an entry of this key")
    except Exception:  # a corrupt, truncated or foreign entry: build the app again
        with contextlib.suppress(OSError):
            file.unlink()
        return None
    with contextlib.suppress(OSError):
        os.utime(file)  # recently used (see _trim)
    _STORED[app] = (file, compiled_count(app))
    return app


def store(place: str, content: str, app: AppDefinition) -> None:
    """Keep ``app`` (loaded and checked without errors) for the next process; failures are ignored."""
    where = folder()
    if where is None:
        return
    _write(where / f"{PREFIX}{entry_key(place, content)}{SUFFIX}", app)
    _trim(where)


def remember(app: AppDefinition) -> None:
    """Store ``app``'s entry again when expressions were compiled against its schema since it was stored
    (opening it on a database compiles its computed fields and rules): the next process finds them too."""
    known = _STORED.get(app)
    if known is not None and compiled_count(app) > known[1] and folder() is not None:
        _write(known[0], app)


class _Pickler(pickle.Pickler):
    """Pickles the functions compiled from expressions as their marshalled code (see to_python.frozen)."""

    def reducer_override(self, obj: object) -> Any:
        if type(obj) is FunctionType:
            parts = frozen(obj)
            if parts is not None:
                return revive, parts
        return NotImplemented


def dumps(app: AppDefinition, key: str) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump((FORMAT, key, app))
    return out.getvalue()


def compiled_count(app: AppDefinition) -> int:
    """How many expressions were compiled against the app's schema (and its reports' result rows)."""
    schema = app.schema
    return len(schema.compiled) + sum(len(memo) for memo in getattr(schema, "row_memos", {}).values())


def _write(file: Path, app: AppDefinition) -> None:
    key = file.name[len(PREFIX):-len(SUFFIX)]
    try:
        data = dumps(app, key)
    except Exception:  # something in the definitions that does not pickle: no entry
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=SUFFIX)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, file)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    _STORED[app] = (file, compiled_count(app))


def _trim(where: Path) -> None:
    """Delete the least recently used entries beyond :data:`MAX_ENTRIES` (and temporary files left behind
    by a process that stopped while writing one, after an hour)."""
    try:
        found = [(e.name, e.stat().st_mtime_ns, e.path) for e in os.scandir(where) if e.name.endswith(SUFFIX)]
    except OSError:
        return
    stale = time.time_ns() - 3600 * 10**9
    for name, mtime, tmp in found:
        if name.startswith(".tmp-") and mtime < stale:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    entries = [(mtime, p) for name, mtime, p in found if name.startswith(PREFIX)]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort()
    for _, old in entries[:len(entries) - MAX_ENTRIES]:
        with contextlib.suppress(OSError):
            os.unlink(old)


def clear() -> int:
    """Delete every entry of the cache folder; return how many."""
    where = folder()
    if where is None:
        return 0
    n = 0
    for e in os.scandir(where):
        if e.name.startswith(PREFIX) and e.name.endswith(SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(e.path)
                n += 1
    return n
