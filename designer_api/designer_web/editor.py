"""The YAML tab: one file of the draft as text, its errors at their lines, validated as you type, saved to
the draft. Also the expression box's check (an expression type-checked against a flow's entity).

``GET /designer/file?path=P`` shows the file; ``POST /designer/file`` saves it (fields ``path``, ``text``,
``next``: where to go back to, e.g. the flow designer; ``opened``: the digest of the text the page showed:
when someone saved the file meanwhile, nothing is saved and the page shows both texts, 409); the draft keeps a file with errors (the designer
works on it until it validates; publishing refuses it). ``POST /designer/validate`` (``path``, ``text``)
answers the errors the whole draft would have with that text, as JSON, without saving.
``POST /designer/check-expr`` (``flow``, ``text``, ``expect``: boolean or empty) answers ``{ok, type}`` or
``{ok: false, message, column}``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ordo.dsl.errors import ExpressionError, ExpressionErrors
from ordo.dsl.expr import Scope, compile_expression
from ordo.dsl.expr import types as T
from ordo.engine.errors import Conflict

from ..errors import ApiError
from ..web.base import Page, local, redirect
from . import drafts
from .base import designer_page, dword, flash, json_endpoint, lines_of, render

MAX_TEXT = 1_000_000  # characters of one YAML file


def text_field(pg: Page) -> str:
    text = pg.form.get("text")
    if text is None:
        raise ApiError(400, "bad_request", "the form has no 'text' field", field="text")
    if len(text) > MAX_TEXT:
        raise ApiError(413, "too_large", f"the file is longer than {MAX_TEXT} characters", field="text")
    return text.replace("\r\n", "\n")


def preview_links(d: drafts.Draft, path: str) -> list[dict[str, str]]:
    """Previews of the definitions in ``path``: a report's first rows and chart, an allocation's explain."""
    out = []
    for row in drafts.listing(d.definition, "en"):
        if row["file"] == path and row["kind"] in ("report", "allocation"):
            out.append({"kind": row["kind"], "name": row["name"],
                        "href": f"/designer/preview/{row['kind']}/{row['name']}"})
    return out


def file_page(pg: Page) -> Response:
    d = drafts.draft(pg)
    path = drafts.check_path(d.files, pg.params.get("path"))
    return render(pg, "designer/file.html", path=path, text=d.files[path], opened=digest(d.files[path]),
                  conflict=None, errors=lines_of(d.errors, path),
                  other_errors=len(lines_of(d.errors)) - len(lines_of(d.errors, path)),
                  previews=preview_links(d, path), done=flash(pg), next=here_or(pg))


def here_or(pg: Page) -> str:
    return local(pg.params.get("next"), "")


def digest(text: str) -> str:
    """The fingerprint of a file's text the page sends back (``opened``), as the store checks it."""
    from ordo.engine.definitions.store import text_sha

    return text_sha(text)


def save_file(pg: Page) -> Response:
    d = drafts.draft(pg)
    path = drafts.check_path(d.files, pg.form.get("path"))
    text = text_field(pg)
    opened = pg.form.get("opened") or None
    try:
        drafts.store(pg).save_file(path, text, pg.user, expected=opened)
    except Conflict:  # someone saved this file since it was opened: keep both, let the user merge
        now = drafts.store(pg).draft().get(path, "")
        return render(pg, "designer/file.html", 409, path=path, text=text, opened=digest(now), conflict=now,
                      errors=[], other_errors=0, previews=[], done=None, next=local(pg.form.get("next"), ""))
    back = local(pg.form.get("next"), "") or f"/designer/file?path={path}"
    sep = "&" if "?" in back else "?"
    return redirect(f"{back}{sep}done=yaml_saved")


def validate(pg: Page) -> dict[str, Any]:
    d = drafts.draft(pg)
    path = drafts.check_path(d.files, pg.form.get("path"))
    files = {**d.files, path: text_field(pg)}
    errors = list(drafts.store(pg).validate(files))
    return {"errors": lines_of(errors, path), "elsewhere": len(errors) - len(lines_of(errors, path))}


def check_expr(pg: Page) -> dict[str, Any]:
    d = drafts.draft(pg)
    definition = d.definition or drafts.published_definition(pg) or pg.app.definition
    flow = definition.get("flow", pg.form.get("flow") or "")
    if flow is None:
        raise ApiError(404, "not_found", f"no flow {pg.form.get('flow')!r}", field="flow")
    text = pg.form.get("text") or ""
    if not text.strip():
        return {"ok": False, "message": dword("expr_empty", pg.lang), "column": 1}
    if len(text) > 10_000:
        raise ApiError(413, "too_large", "the expression is longer than 10000 characters", field="text")
    from ordo.dsl.flow import ROOTS

    expect = T.BOOLEAN if pg.form.get("expect") == "boolean" else None
    try:
        compiled = compile_expression(text, Scope(definition.schema, flow.entity, roots=dict(ROOTS)), expect)
    except ExpressionErrors as errs:
        e = errs.errors[0]
        return {"ok": False, "message": e.message, "column": e.column}
    except ExpressionError as e:
        return {"ok": False, "message": e.message, "column": e.column}
    return {"ok": True, "type": str(compiled.type)}


def routes() -> list:
    return [designer_page("/designer/file", file_page), designer_page("/designer/file", save_file, ("POST",)),
            json_endpoint("/designer/validate", validate), json_endpoint("/designer/check-expr", check_expr)]
