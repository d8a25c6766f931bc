"""``ordo form``: render a form as HTML, or print the JSON Schema of an entity's records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import CliError, acting_user, add_db_option, add_lang_option, add_user_option, open_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("form", help="render a form as HTML, or an entity's JSON Schema (--json-schema)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("name", help="form name, or entity name (default layout)")
    p.add_argument("--record", help="fill the form from this record (id or name); needs --db")
    add_lang_option(p)
    p.add_argument("--json-schema", action="store_true", help="print the JSON Schema of the entity's records "
                                                              "(with --user: the fields that user may see)")
    p.add_argument("--rules-js", action="store_true", help="print the form's live rules as the script pages "
                                                           "serve (visible_if, required_if, read_only_if, "
                                                           "computed fields compiled to JavaScript)")
    p.add_argument("--out", help="write to this file instead of printing")
    add_db_option(p)
    add_user_option(p)
    p.set_defaults(func=cmd_form)


def cmd_form(args: argparse.Namespace) -> int:
    from ordo.dsl.loader import load_app
    from ordo.forms import FormRenderer, entity_json_schema

    definition = load_app(args.app)
    if args.rules_js:
        from ordo.forms.rules import form_script

        form = definition.get("form", args.name)
        entity = definition.get("entity", args.name)
        if form is None and (entity is None or entity.child):
            raise CliError(f"unknown form or entity '{args.name}' (forms: {', '.join(definition.names('form'))})")
        user = permissions = None
        if args.user:  # the rules of the fields that user may see (needs --db)
            with open_for(args, definition) as app, app.reader(acting_user(args)) as tx:
                user, permissions = tx.user, app.permissions
        text = form_script(definition, args.name, user=user, permissions=permissions)
    elif args.json_schema:
        form = definition.get("form", args.name)
        entity = form.entity if form is not None else args.name
        if definition.get("entity", entity) is None:
            raise CliError(f"unknown entity or form '{args.name}'")
        user = permissions = None
        if args.user:  # as that user may see and write records (needs --db)
            with open_for(args, definition) as app, app.reader(acting_user(args)) as tx:
                user, permissions = tx.user, app.permissions
        schema = entity_json_schema(definition, entity, args.lang, user=user, permissions=permissions)
        text = json.dumps(schema, indent=2, ensure_ascii=False)
    else:
        if definition.get("form", args.name) is None and definition.get("entity", args.name) is None:
            raise CliError(f"unknown form or entity '{args.name}' (forms: {', '.join(definition.names('form'))})")
        record = titles = user = permissions = None
        if args.record:
            from ..present import Presenter

            form = definition.get("form", args.name)
            entity = form.entity if form is not None else args.name
            with open_for(args, definition) as app, app.reader(acting_user(args)) as tx:
                rec = tx.get(entity, int(args.record) if args.record.isdigit() else args.record)
                shown = Presenter(tx, entity, lang=args.lang)
                record, titles = shown.data([rec])[0], shown.text([rec])[0]  # links: names to edit, titles
                user, permissions = tx.user, app.permissions  # the reader's field rules shape the form
        text = FormRenderer(definition).render(args.name, record, lang=args.lang, titles=titles, user=user,
                                               permissions=permissions)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0
