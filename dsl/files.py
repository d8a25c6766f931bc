"""An app from an in-memory set of files: the layout of an app folder, held as texts.

``files`` maps relative POSIX paths (``app.yaml``, ``flows/order_lifecycle.yaml``) to YAML text, exactly
what an app folder holds (see :func:`read_app_files`). :func:`load_files` loads and checks them as
``load_app`` loads a folder; errors name the relative path (``flows/order_lifecycle.yaml:12:5``).
``extends: builtin:NAME`` works as from a folder; a relative ``extends:`` is resolved from ``root``, the
folder the files stand for (when known). Used by the definition store (``engine/definitions``), which
keeps an app's files in its database.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from .app import AppDefinition
from .errors import DefinitionError, DefinitionErrors
from .loader import AppLoader, extended, fingerprint, is_definition_file, resolve_app_path

MAX_FILE_BYTES = 512 * 1024  # one definition file
MAX_FILES = 1000  # files of one app
MANIFEST = "app.yaml"

_LOADED: OrderedDict[str, AppDefinition] = OrderedDict()  # content digest -> checked definitions
_LOADED_MAX = 16


class FileRefused(DefinitionError):
    """A file path or text the store does not take (outside the app, not YAML, too large, not UTF-8)."""


def check_path(path: str) -> str:
    """``path`` as a normalised relative POSIX path of a definition file of an app, else FileRefused."""
    if not isinstance(path, str) or not path.strip():
        raise FileRefused("a file path is needed (e.g. flows/order_lifecycle.yaml)", file=str(path))
    p = PurePosixPath(path.strip())
    if p.is_absolute() or "\\" in path or any(part in ("..", ".", "") for part in p.parts) \
            or path.startswith("/"):
        raise FileRefused(f"{path!r} is outside the app: give a path relative to the app folder, without '..'",
                          file=path)
    if any(part.startswith(".") for part in p.parts):
        raise FileRefused(f"{path!r}: hidden files and folders are not definitions", file=path)
    if p.suffix not in (".yaml", ".yml"):
        raise FileRefused(f"{path!r} is not a YAML file (.yaml or .yml): only definition files are stored",
                          file=path)
    rel = str(p)
    if rel != MANIFEST and not is_definition_file(Path(rel)):
        raise FileRefused(f"{path!r} is not where definitions live: app.yaml, a top-level .yaml file or a file "
                          f"under a kind folder (entities/, flows/, forms/, rules/, reports/, ...)", file=path)
    return rel


def check_text(path: str, text: object) -> str:
    """The text of a file if the store takes it (a string within :data:`MAX_FILE_BYTES`), else FileRefused."""
    if not isinstance(text, str):
        raise FileRefused(f"{path}: the file's text must be a string", file=path)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise FileRefused(f"{path}: the text holds a lone surrogate (not valid Unicode text)", file=path) from None
    if size > MAX_FILE_BYTES:
        raise FileRefused(f"{path} is {size} bytes: a definition file may hold at most {MAX_FILE_BYTES} bytes",
                          file=path)
    if "\x00" in text:
        before = text[:text.index("\x00")]
        raise FileRefused("the text holds a NUL character (binary data is not a definition)", file=path,
                          line=before.count("\n") + 1, column=len(before) - before.rfind("\n"))
    return text


def check_files(files: Mapping[str, str]) -> tuple[dict[str, str], list[DefinitionError]]:
    """``files`` with normalised paths (those the store takes), and a :class:`FileRefused` naming the file
    (and the line, where there is one) for each it does not take; at most :data:`MAX_FILES` files."""
    out: dict[str, str] = {}
    errors: list[DefinitionError] = []
    for path, text in files.items():
        try:
            out[check_path(path)] = check_text(path, text)
        except FileRefused as e:
            errors.append(e)
    if len(out) > MAX_FILES:
        errors.append(FileRefused(f"{len(out)} files: an app may have at most {MAX_FILES}", file=MANIFEST))
    return out, errors


def read_app_files(folder: str | Path) -> dict[str, str]:
    """The definition files of the app folder (or ``builtin:NAME``), as the loader reads them: relative
    path -> text (exactly as on disk: line endings and a byte-order mark are kept)."""
    root = resolve_app_path(folder)
    if not (root / MANIFEST).is_file():
        raise DefinitionErrors([DefinitionError(f"not an Ordo app: {root / MANIFEST} not found", file=str(root))])
    out: dict[str, str] = {}
    errors: list[DefinitionError] = []
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        if not file.is_file() or (str(rel) != MANIFEST and not is_definition_file(rel)) \
                or any(part.startswith(".") for part in rel.parts):
            continue
        try:
            data = file.read_bytes()
            out[rel.as_posix()] = check_text(rel.as_posix(), data.decode("utf-8"))
        except UnicodeDecodeError:
            errors.append(FileRefused("the file is not UTF-8 text", file=rel.as_posix()))
        except OSError as e:
            errors.append(FileRefused(f"cannot read the file: {e.strerror or e}", file=rel.as_posix()))
        except FileRefused as e:
            errors.append(e)
    if len(out) > MAX_FILES:
        errors.append(FileRefused(f"the app has {len(out)} definition files; at most {MAX_FILES} are stored",
                                  file=str(root)))
    if errors:
        raise DefinitionErrors(errors)
    return out


def _load(files: Mapping[str, str], root: Path | None, label: str) -> tuple[AppDefinition | None,
                                                                             list[DefinitionError]]:
    checked, errors = check_files(files)
    if errors:
        return None, errors
    base = (root or Path(f"/<{label}>")).absolute()
    loader = AppLoader()
    loader.display_base = base
    loader.memory = {base / rel: text for rel, text in checked.items()}
    loader.memory_root = base
    app = loader.load(base)
    errors = list(loader.errors)
    if app is not None:
        app.root = root
        errors.extend(app.check())
    return app, errors


def digest(files: Mapping[str, str]) -> str:
    """A digest of a set of files (paths and texts)."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path].encode("utf-8", errors="surrogatepass") + b"\0")
    return h.hexdigest()


def load_files(files: Mapping[str, str], *, label: str = "app", root: str | Path | None = None) -> AppDefinition:
    """Load and fully check the app the files hold; raise :class:`DefinitionErrors` listing every problem.

    Checked definitions are kept per process by content (a server's workers rebuild the same version), and
    on disk with the content of the app they extend (dsl/cache.py: the next command opens them unparsed)."""
    from . import cache

    folder = resolve_app_path(root) if root is not None else None
    content = digest(files)
    key = f"{folder}\0{label}\0{content}"
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    place, stamp = f"files\0{folder}\0{label}", _with_base(files, folder, label, content)
    app = cache.load(place, stamp) if stamp is not None else None
    if app is None:
        app, errors = _load(files, folder, label)
        if errors or app is None:
            raise DefinitionErrors(errors or [DefinitionError("the app could not be loaded", file=MANIFEST)])
        if stamp is not None:
            cache.store(place, stamp, app)
    _LOADED[key] = app
    if len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return app


def _with_base(files: Mapping[str, str], folder: Path | None, label: str, content: str) -> str | None:
    """``content`` and the fingerprint of the app the files extend (None: it cannot be read)."""
    manifest = files.get(MANIFEST)
    if not isinstance(manifest, str):
        return None
    base = extended(manifest, (folder or Path(f"/<{label}>")).absolute())
    if base is None:
        return content
    inner = fingerprint(base)
    return None if inner is None else f"{content}\0{inner}"


def validate_files(files: Mapping[str, str], *, label: str = "app",
                   root: str | Path | None = None) -> list[DefinitionError]:
    """Every problem of the app the files hold, sorted by file, line and column (empty when valid)."""
    try:
        load_files(files, label=label, root=root)
    except DefinitionErrors as e:
        return e.errors
    return []
