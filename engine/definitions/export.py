"""Writing a stored version (or the draft) back out as an app folder or a ZIP file.

The files are written byte for byte as they are stored: a definition nobody changed comes out exactly as
it was imported, so ``git diff`` of an exported app shows only what was changed in the designer.

* a folder: created when it does not exist (its parent must); an existing folder must be empty or hold an
  Ordo app (``app.yaml``), whose definition files are replaced: the version's files are written and
  definition files it does not have are removed (other files, such as ``samples/``, are left alone);
* ``*.zip``: the files at the top of the archive (``app.yaml``, ``flows/...``), in path order with a fixed
  timestamp, so the same version always gives the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

from ordo.dsl.files import MANIFEST
from ordo.dsl.loader import is_definition_file

from ..errors import UsageError

ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def zip_bytes(files: Mapping[str, str]) -> bytes:
    """The files as a ZIP archive (deterministic)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, files[path].encode("utf-8"))
    return out.getvalue()


def write_files(files: Mapping[str, str], dest: str | Path) -> list[str]:
    """Write ``files`` to a folder or a ``.zip`` file (see the module docstring); return what was written
    and removed, as lines for a person."""
    target = Path(dest)
    if target.suffix.lower() == ".zip":
        if not target.parent.is_dir():
            raise UsageError(f"cannot write {target}: the folder {target.parent} does not exist")
        if target.is_dir():
            raise UsageError(f"cannot write {target}: it is a folder")
        try:
            target.write_bytes(zip_bytes(files))
        except OSError as e:
            raise UsageError(f"cannot write {target}: {e.strerror or e}") from None
        return [f"wrote {len(files)} file(s) to {target}"]
    if target.exists() and not target.is_dir():
        raise UsageError(f"cannot export to {target}: it is a file (give a folder or a .zip path)")
    if not target.exists() and not target.parent.is_dir():
        raise UsageError(f"cannot export to {target}: the folder {target.parent} does not exist")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise UsageError(f"{target} is not empty and holds no Ordo app (app.yaml): export to an empty or new "
                         f"folder, or to the app's own folder")
    out: list[str] = []
    try:
        target.mkdir(exist_ok=True)
        if (target / MANIFEST).is_file():
            for file in sorted(target.rglob("*")):
                rel = file.relative_to(target)
                if file.is_file() and is_definition_file(rel) and rel.as_posix() not in files \
                        and not any(p.startswith(".") for p in rel.parts):
                    file.unlink()
                    out.append(f"removed {rel.as_posix()}")
        written = 0
        for path, text in sorted(files.items()):
            file = target.joinpath(*path.split("/"))
            data = text.encode("utf-8")
            if file.is_file() and file.read_bytes() == data:
                continue
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data)
            written += 1
            out.append(f"wrote {path}")
    except OSError as e:
        raise UsageError(f"cannot write to {target}: {e.strerror or e}") from None
    out.append(f"{written} file(s) written to {target}, {len(files) - written} unchanged")
    return out
