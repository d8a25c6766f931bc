"""Clone a template into a new customer app from the designer (``builtin:oms`` -> ``acme``).

The new app is an overlay (``extends: {pack: builtin:oms, version: ...}``) holding only its differences,
exactly what ``ordo clone`` writes (``engine/cli/overlays.clone_files``). The server writes it nowhere (no
folder or database the user did not ask for): ``POST /designer/clone`` (``base``, ``name``) answers the
app's folder as ``NAME.zip``; unzip it and serve it (``ordo serve NAME --db ... --create``): its first
serve stores it as version 1 of its own database, and its designer edits it from there.
"""

from __future__ import annotations

import io
import zipfile

from starlette.responses import Response

from ordo.dsl.loader import BUILTIN_PREFIX, builtin_templates_dir

from ..errors import ApiError
from ..web.base import Page
from .base import designer_page, render


def packs() -> list[str]:
    """The template packs shipped with Ordo, as ``builtin:NAME``."""
    root = builtin_templates_dir()
    return sorted(BUILTIN_PREFIX + p.name for p in root.iterdir() if (p / "app.yaml").is_file())


def clone_page(pg: Page) -> Response:
    return render(pg, "designer/clone.html", packs=packs(), error=None, name="", pack="builtin:oms")


def clone(pg: Page) -> Response:
    from ordo.engine.cli.common import CliError
    from ordo.engine.cli.overlays import clone_files

    base, name = pg.form.get("base") or "", (pg.form.get("name") or "").strip()
    if base not in packs():
        raise ApiError(400, "bad_request", f"template must be one of {', '.join(packs())}", field="base")
    try:
        made = clone_files(base, name)
    except CliError as e:
        return render(pg, "designer/clone.html", 400, packs=packs(), error=e.message, name=name, pack=base)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for folder in made.folders:
            z.writestr(f"{made.name}/{folder}/", "")
        for path, text in made.files.items():
            z.writestr(f"{made.name}/{path}", text)
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{made.name}.zip"'})


def routes() -> list:
    return [designer_page("/designer/clone", clone_page), designer_page("/designer/clone", clone, ("POST",))]
