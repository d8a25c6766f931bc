"""App-level commands: validate, schema, new, sync, demo."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from ordo.dsl.loader import builtin_templates_dir, load_app, validate_app

from ..actor import OWNER, SYSTEM
from .common import CliError, add_db_option, add_lang_option
from .serve import add_listen_options, serve

DEMO_APP = "builtin:oms"  # the app whose "demo" scenario `ordo demo` plays
DEMO_DB = "ordo-demo.db"
DEMO_PASSWORD = "ordo-demo"  # the demo database's users only: printed, never used elsewhere


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check an app's definitions; print every error as file:line:column")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="write the JSON Schema of every definition kind (for editors)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("new", help="create a new app folder from the starter template")
    p.add_argument("app", help="folder to create")
    p.add_argument("--name", help="app name (default: the folder name)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("sync", help="create or alter the database tables of an app (of its published version "
                                    "when the database stores its definitions, else of the folder)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    add_db_option(p)
    p.add_argument("--dry-run", action="store_true", help="only print what would change")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("demo", help=f"play the demo scenario of {DEMO_APP} on ./ordo-demo.db")
    add_db_option(p, default=DEMO_DB)
    p.add_argument("--seed", type=int, default=7, help="random seed of the sample data")
    add_lang_option(p)
    p.add_argument("--serve", action="store_true",
                   help=f"then serve the demo over HTTP; every demo user signs in with the password "
                        f"'{DEMO_PASSWORD}'")
    add_listen_options(p)
    p.set_defaults(func=cmd_demo)


def cmd_validate(args: argparse.Namespace) -> int:
    errors = validate_app(args.app)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} error(s)")
        return 1
    app = load_app(args.app)
    counts = ", ".join(f"{len(app.names(k))} {k}(s)" for k in app.items if app.names(k))
    print(f"{app.name} {app.version}: OK ({counts or 'no definitions'})")
    if app.overlay is not None:
        from .overlays import overlay_note

        print(overlay_note(app))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ordo.dsl.schema_export import write_schemas

    written = write_schemas(Path(args.out))
    for path in written:
        print(path)
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    target = Path(args.app)
    if target.exists() and any(target.iterdir()):
        raise CliError(f"{target} already exists and is not empty")
    name = (args.name or target.resolve().name).lower().replace("-", "_").replace(" ", "_")
    if not name.isidentifier():
        raise CliError(f"app name {name!r} must be letters, digits and _ (use --name)")
    shutil.copytree(builtin_templates_dir() / "starter", target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    manifest = target / "app.yaml"
    text = manifest.read_text(encoding="utf-8").replace("name: starter", f"name: {name}", 1)
    manifest.write_text(text, encoding="utf-8")
    print(f"created app '{name}' in {target}")
    print(f"next: ordo validate {target}  |  ordo sync {target} --db {name}.db")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """The schema of what opening the app runs: the published version when the database stores the app's
    definitions (engine/definitions/opening.py), else the folder; the output says which."""
    from ..definitions.opening import open_stored

    app = open_stored(args.app, args.db, sync=False, check=False, say=print)
    try:
        number = app.features.get("definitions")
        print(f"the published version v{number} stored in the database" if number is not None
              else f"the definitions of {args.app} (the database stores none)")
        changes = app.sync_schema(dry_run=args.dry_run)
    finally:
        app.close()
    verb = "would apply" if args.dry_run else "applied"
    print(json.dumps(changes, indent=2) if changes else "schema is up to date")
    if changes:
        print(f"{verb} {len(changes)} change(s)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..app import open_app
    from ..scenario import run_scenario

    if args.db == DEMO_DB and Path(DEMO_DB).exists():  # the demo's own file: start afresh
        for suffix in ("", "-wal", "-shm"):
            Path(DEMO_DB + suffix).unlink(missing_ok=True)
        print(f"(starting from a fresh {DEMO_DB})")
    with open_app(DEMO_APP, args.db) as app:
        if app.audit_log(user=OWNER, limit=1):  # any record ever written
            raise CliError(f"{args.db} already holds data; the demo needs an empty database (use another --db)")
        result = run_scenario(app, "demo", lang=args.lang, variables={"seed": args.seed})
        if args.lang == "zh":
            print(f"\n演示完成：共 {result.steps} 步；数据在 {args.db} "
                  f"（可试：ordo query {DEMO_APP} <实体> --db {args.db} --lang zh）")
        else:
            print(f"\ndemo done: {result.steps} steps; the data is in {args.db} "
                  f"(try: ordo query {DEMO_APP} <entity> --db {args.db})")
        if not args.serve:
            return 0
        users = demo_passwords(app)
    from ordo.designer_api.server import open_for_serving
    from ordo.designer_api.settings import Settings

    settings = Settings.load({"app": DEMO_APP, "db": args.db, "host": args.host, "port": args.port, "workers": 1})
    print(f"sign in as {', '.join(users)} with the password '{DEMO_PASSWORD}'")
    serve(open_for_serving(settings), settings)
    return 0


def demo_passwords(app: Any) -> list[str]:
    """Give every user of the demo database the demo password; return their names."""
    from ..credentials import Credentials

    with app.transaction(SYSTEM) as tx:
        names = [u.name for u in tx.users.all() if u.active]
        creds = Credentials(tx.conn)
        for name in names:
            creds.set_password(name, DEMO_PASSWORD, tx.now)
    return names
