"""The record page: the entity's form (sections, child-table grids, link pickers) to create or change a
record, validation errors at their fields, optimistic locking (saving over someone else's change says so
and keeps the user's input), and the record's timeline.

Saving goes through the engine exactly like the API (``tx.create`` / ``tx.update`` as the signed-in user,
the browser rules re-checked by ``forms.enforce`` when present); the posted names follow the form's DOM
contract (``FIELD``, ``FIELD.N.SUB`` for child rows, see ``docs/web.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse, Response

from ordo.engine.errors import Conflict, FieldError, NotFound, ValidationFailed
from ordo.engine.present import Presenter, link_target
from ordo.forms.render import FormRenderer

from ..access import entity_actions, field_access, require_action
from ..errors import bad_request
from ..records import key_of
from ..views import title_of
from .base import Page, page, redirect
from .lists import entity_label, entity_of
from .timeline import record_timeline

FORMS_STATIC = Path(__file__).resolve().parents[2] / "forms" / "static"
BROWSER_RULES = ("ordo-expr.js", "ordo-form.js")
SKIP = ("csrf_token", "version")
PICK_LIMIT = 20


def renderer(app: Any) -> FormRenderer:
    """The app's form renderer (built once per opened app)."""
    found = app.features.get("web.forms")
    if found is None:
        found = app.features["web.forms"] = FormRenderer(app.definition)
    return found


def form_for(app: Any, entity: str) -> str:
    """The form a record of ``entity`` is shown with: the first form over it, else the entity's own layout."""
    return next((f.name for f in app.definition.all("form") if f.entity == entity), entity)


def form_fields(app: Any, form: str, entity: str) -> list[str]:
    fdef = app.definition.get("form", form)
    if fdef is None:
        return [n for n, f in app.definition.get("entity", entity).fields.items() if f.type != "related"]
    return [n for s in fdef.sections for n in s.fields]


def scripts() -> list[str]:
    """The browser-rules scripts that ship with this installation (none before they exist)."""
    return [f"/static/forms/{n}" for n in BROWSER_RULES if (FORMS_STATIC / n).exists()]


def _rules_available() -> bool:
    try:
        import ordo.forms.rules  # noqa: F401
    except ImportError:
        return False
    return bool(scripts())


# -- reading what was posted


def posted(tx: Any, entity: str, form: str, pg: Page, *, creating: bool) -> dict[str, Any]:
    """The record data of the posted form: the fields the form shows and the user may set, typed by the
    engine on save; blank inputs are no value (on create: the field's default). A name the form does not
    have (or a field hidden from the user) is refused like an unknown field."""
    ce = tx.app.compiled.entity(entity)
    access = field_access(tx, entity)
    shown = [n for n in form_fields(tx.app, form, entity) if n not in access.hidden and n in ce.fields]
    top: dict[str, str | list[str]] = {}
    rows: dict[str, dict[int, dict[str, str]]] = {}
    unknown: list[str] = []
    for key, value in pg.form.items():
        if key in SKIP:
            continue
        parts = key.split(".")
        if len(parts) == 1 and parts[0] in shown:
            top[parts[0]] = value
        elif len(parts) == 3 and parts[0] in shown and parts[1].isdigit() and len(parts[1]) < 6 \
                and ce.fields[parts[0]].child is not None:
            rows.setdefault(parts[0], {}).setdefault(int(parts[1]), {})[parts[2]] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValidationFailed(entity, [FieldError(k[:80], f"unknown field of {entity}") for k in unknown[:20]])
    data: dict[str, Any] = {}
    for name in shown:
        cf = ce.fields[name]
        if name in access.read_only:
            continue
        if cf.child is not None:
            data[name] = _rows(tx, cf.child.name, rows.get(name, {}), name)
        elif cf.defn.type == "boolean":
            data[name] = top.get(name) == "true"
        elif name in top:
            value = top[name]
            if value == "" or value is None:
                if not creating:
                    data[name] = None
            else:
                data[name] = value
    return data


def _rows(tx: Any, child: str, rows: dict[int, dict[str, str]], field: str) -> list[dict[str, Any]]:
    ce = tx.app.compiled.entities[child]
    access = field_access(tx, child)
    out = []
    for i in sorted(rows):
        row: dict[str, Any] = {}
        for sub, value in rows[i].items():
            if sub == "id" and value.isdigit():
                row["id"] = int(value)
                continue
            cf = ce.fields.get(sub)
            if cf is None or sub in access.hidden:
                raise ValidationFailed(field, [FieldError(f"{field}.{i}.{sub[:40]}", f"unknown field of {child}")])
            if sub in access.read_only:
                continue
            if cf.defn.type == "boolean":
                row[sub] = value == "true"
            elif value != "":
                row[sub] = value
        if any(k != "id" for k in row) or "id" in row:
            out.append(row)
    return out


def _enforce(tx: Any, form: str, before: dict[str, Any] | None, data: dict[str, Any], entity: str,
             lang: str) -> None:
    """The form's browser rules checked again on the server (``forms.enforce``, when installed): a value
    posted for a field hidden by ``visible_if`` or read-only by ``read_only_if`` is refused, ``required_if``
    enforced, each error at its field."""
    try:
        from ordo.forms.enforce import check_posted
    except ImportError:
        return
    errors = check_posted(tx.app.definition, form, before, data, tx=tx, lang=lang)
    if errors:
        raise ValidationFailed(entity, list(errors))


# -- showing


def _titles(tx: Any, entity: str, data: dict[str, Any], lang: str) -> dict[str, Any]:
    """Link titles of posted (unsaved) data: each linked record the user may read, by its title."""
    ce = tx.app.compiled.entities[entity]
    out: dict[str, Any] = {}
    for name, value in data.items():
        cf = ce.fields.get(name)
        if cf is None:
            continue
        target = link_target(cf)
        if target is not None and isinstance(value, str) and value:
            found = tx.find(target, value)
            out[name] = title_of(tx, target, [found], lang)[0] if found is not None else value
        elif cf.child is not None and isinstance(value, list):
            out[name] = [_titles(tx, cf.child.name, row, lang) for row in value if isinstance(row, dict)]
    return out


def _render(pg: Page, tx: Any, entity: str, form: str, values: dict[str, Any], titles: dict[str, Any], *,
            record: dict[str, Any] | None, errors: list[Any] = (), code: int = 200, notice: str | None = None,
            alert: str | None = None, version: int | None = None) -> Response:
    actions = entity_actions(tx, entity)
    editable = ("update" in actions and tx.allowed(entity, "update", tx.load(entity, record["id"]))) \
        if record is not None else ("create" in actions)
    action = f"/app/{entity}/new" if record is None else f"/app/{entity}/{record['id']}"
    hidden_inputs = {"csrf_token": pg.identity.csrf if pg.identity else ""}
    if record is not None:
        hidden_inputs["version"] = version if version is not None else record["version"]
    html = renderer(pg.app).render(form, values, errors, pg.lang, titles=titles, user=tx.user,
                                   permissions=tx.app.permissions, action=action if editable else None,
                                   hidden_inputs=hidden_inputs, new=record is None)
    timeline = record_timeline(tx, entity, record["id"], pg.lang) if record is not None else None
    rules = f"/forms/{form}/rules.js" if _rules_available() else None
    return pg.render("record.html", code, entity=entity, label=entity_label(tx, entity, pg.lang), form_html=html,
                     editable=editable, record=record, timeline=timeline, notice=notice, alert=alert,
                     rules=rules, scripts=scripts() if rules else [],
                     title=title_of(tx, entity, [record], pg.lang)[0] if record is not None else None)


def new_form(pg: Page) -> Response:
    entity = entity_of(pg)
    with pg.app.reader(pg.actor) as tx:
        require_action(tx, entity, "create")
        return _render(pg, tx, entity, form_for(pg.app, entity), {}, {}, record=None)


def create(pg: Page) -> Response:
    entity = entity_of(pg)
    form = form_for(pg.app, entity)

    def work(tx: Any) -> dict[str, Any]:
        require_action(tx, entity, "create")
        data = posted(tx, entity, form, pg, creating=True)
        _enforce(tx, form, None, data, entity, pg.lang)
        return tx.create(entity, data)

    try:
        rec = pg.app.run(pg.actor, work, f"creating a {entity}")
    except ValidationFailed as e:
        with pg.app.reader(pg.actor) as tx:
            values = _safe_values(tx, entity, form, pg, creating=True)
            return _render(pg, tx, entity, form, values, _titles(tx, entity, values, pg.lang), record=None,
                           errors=list(e.errors), code=422, alert=pg.t("not_saved"))
    return redirect(f"/app/{entity}/{rec['id']}?done=created")


def _safe_values(tx: Any, entity: str, form: str, pg: Page, *, creating: bool) -> dict[str, Any]:
    """The user's input to show again after a refused save (unknown names dropped)."""
    try:
        return posted(tx, entity, form, pg, creating=creating)
    except ValidationFailed:
        return {}


def _record_key(pg: Page) -> int | str:
    return key_of(pg)  # type: ignore[arg-type]  # reads pg.path and pg.app like a Ctx


def view(pg: Page) -> Response:
    entity = entity_of(pg)
    key = _record_key(pg)
    with pg.app.reader(pg.actor) as tx:
        require_action(tx, entity, "read")
        rec = tx.get(entity, key)
        shown = Presenter(tx, entity, lang=pg.lang)
        values, titles = shown.data([rec])[0], shown.text([rec])[0]
        done = pg.params.get("done")
        notice = pg.t("created") if done == "created" else pg.t("saved") if done == "saved" else None
        return _render(pg, tx, entity, form_for(pg.app, entity), values, titles, record=rec, notice=notice)


def save(pg: Page) -> Response:
    entity = entity_of(pg)
    key = _record_key(pg)
    form = form_for(pg.app, entity)
    raw_version = pg.form.get("version") or ""
    if not (raw_version.isascii() and raw_version.isdigit()) or len(raw_version) > 18:
        raise bad_request("the form lost the record's version; reload the page", "version")
    expected = int(raw_version)

    def work(tx: Any) -> dict[str, Any]:
        require_action(tx, entity, "update")
        before = tx.get(entity, key)
        data = posted(tx, entity, form, pg, creating=False)
        _enforce(tx, form, before, data, entity, pg.lang)
        return tx.update(entity, key, data, expected)

    try:
        rec = pg.app.run(pg.actor, work, f"updating {entity} {key}")
    except (ValidationFailed, Conflict) as e:
        with pg.app.reader(pg.actor) as tx:
            current = tx.get(entity, key)
            values = {**Presenter(tx, entity, lang=pg.lang).data([current])[0],
                      **_safe_values(tx, entity, form, pg, creating=False)}
            titles = {**Presenter(tx, entity, lang=pg.lang).text([current])[0], **_titles(tx, entity, values, pg.lang)}
            if isinstance(e, Conflict) and current["version"] != expected:
                return _render(pg, tx, entity, form, values, titles, record=current, code=409,
                               alert=pg.t("stale").format(v=current["version"]), version=current["version"])
            if isinstance(e, Conflict):
                raise
            return _render(pg, tx, entity, form, values, titles, record=current, errors=list(e.errors), code=422,
                           alert=pg.t("not_saved"), version=expected)
    return redirect(f"/app/{entity}/{rec['id']}?done=saved")


def pick(pg: Page) -> Response:
    """Search-as-you-type for link pickers: readable records of the entity whose name or title contains
    the term, as ``{"items": [{"name", "title"}]}``."""
    entity = str(pg.path.get("entity", ""))
    ce = pg.app.compiled.entities.get(entity)
    if ce is None or ce.defn.child:
        raise NotFound(f"no entity '{entity[:60]}'")
    term = (pg.params.get("term") or "").strip()[:100]
    with pg.app.reader(pg.actor) as tx:
        require_action(tx, entity, "read")
        tf = ce.defn.title_field
        hidden = tx.app.permissions.hidden(tx.user, entity)
        where, params = None, {}
        if term:
            title = f" or contains(lower({tf}), lower(:t))" if tf and tf in ce.fields and tf not in hidden \
                and ce.fields[tf].kind == "string" else ""
            where, params = f"contains(lower(name), lower(:t)){title}", {"t": term}
        found = tx.query(entity, where, params, "name", PICK_LIMIT)
        titles = title_of(tx, entity, found, pg.lang)
    return JSONResponse({"items": [{"name": r["name"], "title": t} for r, t in zip(found, titles, strict=True)]})


def rules_js(pg: Page) -> Response:
    """The form's browser rules as a script from this origin (cached by content)."""
    form = str(pg.path.get("form", ""))
    if pg.app.definition.get("form", form) is None and (
            pg.app.definition.get("entity", form) is None or pg.app.definition.get("entity", form).child):
        raise NotFound(f"no form '{form[:60]}'")
    try:
        from ordo.forms.rules import FormScripts
    except ImportError:
        raise NotFound("browser rules are not installed") from None
    scripts_of = pg.app.features.get("web.rules")
    if scripts_of is None:
        scripts_of = pg.app.features["web.rules"] = FormScripts(pg.app.definition)
    with pg.app.reader(pg.actor) as tx:
        entity = renderer(pg.app).entity_of(form).name
        require_action(tx, entity, "read")
        source, digest = scripts_of.get(form, user=tx.user, permissions=tx.app.permissions)
    tag = f'"{digest}"'
    if pg.request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(source, media_type="text/javascript; charset=utf-8",
                    headers={"ETag": tag, "Cache-Control": "private, no-cache"})


def routes() -> list:
    return [page("/pick/{entity}", pick), page("/forms/{form}/rules.js", rules_js),
            page("/app/{entity}/new", new_form), page("/app/{entity}/new", create, ["POST"]),
            page("/app/{entity}/{key}", view), page("/app/{entity}/{key}", save, ["POST"])]
