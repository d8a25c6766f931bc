"""The designer's home: the app's definitions by kind (label, file, changed since published), the draft's
errors, the changes of the draft item by item, publish with a note, discard the draft's changes, the
versions (who, when, note) and rollback to one of them.

``POST /designer/publish`` (``note``) publishes the draft: refused with every error listed at its
file:line:column (linked to the YAML tab at that line) and nothing changed. ``POST /designer/rollback``
(``version``, ``note``) publishes an earlier version again as a new version. ``POST /designer/discard``
(``draft``: the digest of the draft the page showed; ``confirm=yes``: the box ticked) makes the draft the
published version again: refused (the page again, 409, nothing changed) when someone changed the draft
since the page was loaded or when there is nothing to discard; 400 without the confirmation.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ordo.engine.definitions import NothingToDiscard
from ordo.engine.errors import Conflict, OrdoError

from ..errors import ApiError
from ..web.base import Page, redirect
from . import drafts
from .base import designer_page, dword, flash, is_number, lines_of, render
from .words import WORDS

# where a kind is edited: the flow designer and form designer; every other kind in the YAML tab
EDITORS = {"flow": "/designer/flow/{name}", "form": "/designer/form/{name}"}
MAX_NOTE = 2000


def changed_items(st: Any, d: drafts.Draft, published: int | None, changed_files: set[str],
                  lang: str) -> tuple[list[str], set]:
    """The draft's changes against the published version (each described in ``lang``) and the
    (kind, name) of the definitions they touch."""
    if published is None or d.definition is None or not changed_files:
        return [], set()
    changes = st.diff(published, "draft")
    return [c.describe(lang) for c in changes], {(c.kind, c.name) for c in changes}


def definition_rows(d: drafts.Draft, touched: set, changed_files: set[str], lang: str) -> dict[str, list]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in drafts.listing(d.definition, lang):
        editor = EDITORS.get(row["kind"], "/designer/file?path={file}")
        row["href"] = editor.format(name=row["name"], file=row["file"] or "")
        row["yaml"] = f"/designer/file?path={row['file']}" if row["file"] else None
        row["changed"] = (row["kind"], row["name"]) in touched or row["file"] in changed_files
        by_kind.setdefault(row["kind"], []).append(row)
    return by_kind


def home(pg: Page, code: int = 200, refused: list[Any] | None = None, alert: str | None = None) -> Response:
    st = drafts.store(pg)
    d = drafts.draft(pg)
    published = st.published()
    old = st.files(published) if published is not None else {}
    changed_files = {p for p in set(d.files) | set(old) if d.files.get(p) != old.get(p)}
    changes, touched = changed_items(st, d, published, changed_files, pg.lang)
    versions = sorted(st.versions(), key=lambda v: v.number, reverse=True)
    kinds = [(dword(f"kind_{k}", pg.lang) if f"kind_{k}" in WORDS else k, rows)
             for k, rows in sorted(definition_rows(d, touched, changed_files, pg.lang).items())]
    return render(pg, "designer/home.html", code, kinds=kinds,
                  compared=compare(pg, st),
                  files=sorted(d.files), changed_files=sorted(changed_files), errors=lines_of(d.errors),
                  changes=changes, published=published, versions=versions, refused=refused or [],
                  draft_digest=d.key, alert=alert, done=flash(pg), n=pg.params.get("n", ""), v=pg.params.get("v", ""))


def compare(pg: Page, st: Any) -> dict[str, Any] | None:
    """``?from=A&to=B`` (version numbers or ``draft``): the changes between two versions, item by item."""
    a, b = pg.params.get("from"), pg.params.get("to")
    if not a or not b:
        return None
    refs = []
    for ref in (a, b):
        if ref != "draft" and not is_number(ref):
            raise ApiError(400, "bad_request", f"compare versions by number or 'draft', not {ref[:40]!r}",
                           field="from")
        refs.append(ref if ref == "draft" else int(ref))
    return {"from": a, "to": b, "changes": [c.describe(pg.lang) for c in st.diff(refs[0], refs[1])]}


def served_now(pg: Page) -> None:
    """This process serves the new version from the next request on (others within a second: live.py)."""
    live = getattr(pg.request.app.state, "live", None)
    if live is not None:
        live.refresh(force=True)


def _note(pg: Page) -> str:
    note = (pg.form.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        raise ApiError(400, "bad_request", f"the note is longer than {MAX_NOTE} characters", field="note")
    return note


def publish(pg: Page) -> Response:
    note = _note(pg)
    try:
        version = drafts.store(pg).publish(pg.user, note)
    except OrdoError as e:
        errors = getattr(e, "errors", None)
        if not errors:
            raise
        return home(pg, 422, refused=lines_of(errors))
    served_now(pg)
    return redirect(f"/designer?done=published_ok&n={version.number}")


def rollback(pg: Page) -> Response:
    raw = pg.form.get("version") or ""
    if not is_number(raw):
        raise ApiError(400, "bad_request", f"version must be a version number, not {raw!r}", field="version")
    version = drafts.store(pg).rollback(int(raw), pg.user, _note(pg))
    served_now(pg)
    return redirect(f"/designer?done=rolled_back&v={raw}&n={version.number}")


def discard(pg: Page) -> Response:
    """The draft's changes thrown away (confirmed, and only those the page showed)."""
    if pg.form.get("confirm") != "yes":
        return home(pg, 400, alert="discard_unconfirmed")
    seen = pg.form.get("draft") or ""
    if not seen or len(seen) > 64:
        raise ApiError(400, "bad_request", "the form has no 'draft' field (the digest of the draft it showed)",
                       field="draft")
    st = drafts.store(pg)
    try:
        st.discard_draft(pg.user, expected=seen)
    except NothingToDiscard:
        return home(pg, 409, alert="nothing_to_discard")
    except Conflict:  # someone changed the draft since the page was loaded: show it as it is now
        return home(pg, 409, alert="discard_conflict")
    return redirect(f"/designer?done=discarded&n={st.published()}")


def routes() -> list:
    return [designer_page("/designer", home), designer_page("/designer/publish", publish, ("POST",)),
            designer_page("/designer/rollback", rollback, ("POST",)),
            designer_page("/designer/discard", discard, ("POST",))]
