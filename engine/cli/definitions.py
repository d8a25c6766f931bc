"""``ordo import-app``, ``export``, ``versions``, ``publish``, ``discard``, ``rollback``: the definitions kept in
the database.

Once ``ordo serve`` (or ``ordo import-app``) stored an app's folder in its database, the published version
is what runs; these commands load a folder as a new draft or version, publish the draft, discard its
changes, roll back, list the versions and write any version back out as the folder layout it came from (or
a ZIP).
"""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from .. import textfmt
from ..db import make_engine
from ..definitions import DefinitionStore, PublishRefused
from ..errors import DefinitionErrors
from .common import CliError, acting_user, add_create_option, add_db_option, add_lang_option, add_user_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-app", help="store the app folder's definitions in the database: version 1 the "
                                          "first time, else the new draft (--publish: the next version)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("--publish", action="store_true", help="publish the imported files as the next version")
    p.add_argument("--note", default="", help="what changed (kept with the version)")
    _common(p, create=True)
    p.set_defaults(func=cmd_import_app)

    p = sub.add_parser("export", help="write a stored version (default: the published one) as an app folder "
                                      "or a .zip, byte for byte as its files were imported or edited")
    p.add_argument("app", help="app folder (or builtin:NAME) the database holds")
    p.add_argument("dest", help="a folder (new, empty or the app's own) or a .zip file")
    p.add_argument("--version", default="published", help="a version number, draft or published (default)")
    _common(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("versions", help="the stored versions of the app's definitions, newest first, and "
                                        "what the draft changes")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--diff", nargs=2, metavar=("FROM", "TO"),
                   help="what changed between two versions (numbers, draft or published), item by item")
    add_lang_option(p)
    _common(p)
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("publish", help="publish the draft as the next version (validated as a whole; "
                                       "schema changes applied; destructive ones refused)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("--note", required=True, help="what changed (kept with the version and in the audit log)")
    _common(p)
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("discard", help="throw the draft's changes away: the draft is the published version again "
                                       "(refused when there is nothing to discard; audited)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("--expect", metavar="DIGEST",
                   help="discard only if the draft is still this one (its digest in `ordo versions --format "
                        "json`); refused when someone changed it since")
    _common(p)
    p.set_defaults(func=cmd_discard)

    p = sub.add_parser("rollback", help="publish an earlier version again (as a new version)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("version", help="the version number to publish again")
    p.add_argument("--note", default="", help="why")
    _common(p)
    p.set_defaults(func=cmd_rollback)


def _common(p: argparse.ArgumentParser, create: bool = False) -> None:
    add_db_option(p)
    add_user_option(p)
    if create:
        add_create_option(p)


def _store(args: argparse.Namespace, need_stored: bool = True) -> DefinitionStore:
    create = bool(getattr(args, "create", False))
    engine = make_engine(args.db, create=create)
    store = DefinitionStore(engine, root=args.app)
    if not store.ready() and not create:
        engine.dispose()
        raise CliError(f"the database {args.db!r} holds no Ordo app yet: create it with `ordo sync {args.app} "
                       f"--db ...`, or pass --create")
    if need_stored and not store.stored():
        engine.dispose()
        raise CliError(f"the database {args.db!r} stores no definitions yet: run `ordo import-app {args.app} "
                       f"--db ...` (or `ordo serve`, which stores them the first time)")
    return store


def _user(args: argparse.Namespace, store: DefinitionStore) -> str:
    """Who the change is recorded as: ``--user NAME`` must be a real, enabled user of the database
    (the command runs with the database owner's authority), else the owner."""
    user = acting_user(args)
    if getattr(args, "user", None):
        from ..users import Directory

        try:
            with store.engine.connect() as conn:
                info = Directory(conn).get(args.user)
        except sa.exc.DBAPIError:
            info = None  # no user tables yet: nobody to act as
        if info is None:
            raise CliError(f"--user {args.user}: no such user in database {args.db!r} (add one with "
                           f"`ordo user add APP {args.user}`)")
        if not info.active:
            raise CliError(f"--user {args.user}: the user is disabled (enable them with `ordo user enable`)")
    return user if isinstance(user, str) else user.name


def _refused(e: DefinitionErrors, what: str) -> int:
    for err in e.errors:
        print(f"error: {err}", file=sys.stderr)
    print(f"{what}: {len(e.errors)} error(s) in the definitions", file=sys.stderr)
    return 1


def cmd_import_app(args: argparse.Namespace) -> int:
    store = _store(args, need_stored=False)
    try:
        first = not store.stored()
        try:
            version = store.import_folder(args.app, _user(args, store), args.note, publish=args.publish)
        except DefinitionErrors as e:  # invalid files (PublishRefused with --publish): the draft is as it was
            return _refused(e, "nothing was imported")
        if version.number == 0:
            changed = store.changed_files("published", "draft")
            print(f"imported {args.app} as the draft ({len(changed)} file(s) differ from the published version "
                  f"v{store.published()}); publish it with `ordo publish {args.app} --note ...`")
            for path, what in changed.items():
                print(f"  {what}: {path}")
        else:
            how = "stored" if first else "published"
            print(f"{how} {args.app} as version {version.number}")
    finally:
        store.engine.dispose()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        label = store.version(args.version).label
        lines = store.export(args.version, args.dest)
    finally:
        store.engine.dispose()
    for line in lines[:-1] if len(lines) > 20 else lines:
        print(line)
    if len(lines) > 20:
        print(lines[-1])
    print(f"exported {label}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.diff:
        return _diff(store, args)
    try:
        versions = store.versions()
        draft = store.version("draft")
        changed = store.changed_files("published", "draft")
        edits = store.draft_edits()
    finally:
        store.engine.dispose()
    rows = [{"version": v.number, "action": v.action + (f" of v{v.based_on}" if v.based_on else ""),
             "by": v.created_by, "at": v.created_at.strftime("%Y-%m-%d %H:%M:%S"), "note": v.note}
            for v in versions]
    if args.format == "json":
        print(textfmt.as_json({"versions": [v.as_dict() for v in versions],
                               "draft": {**draft.as_dict(), "changed": changed,
                                         "edits": [{"at": e.at, "user": e.user, "action": e.action,
                                                    "changes": e.changes} for e in edits]}}))
        return 0
    print(textfmt.table(rows, ["version", "action", "by", "at", "note"]))
    if changed:
        print(f"draft (last edit by {draft.created_by} at {draft.created_at:%Y-%m-%d %H:%M:%S}): "
              f"{len(changed)} file(s) differ from v{versions[0].number}:")
        for path, what in changed.items():
            print(f"  {what}: {path}")
    else:
        print(f"the draft is the published version v{versions[0].number}")
    if edits:
        print(f"draft edits since v{versions[0].number} (newest first):")
        for e in edits:
            what = e.changes.get("file") or [None, ", ".join(e.changes.get("files", [None, []])[1])]
            print(f"  {e.at:%Y-%m-%d %H:%M:%S} {e.user} {e.action} {what[1] or what[0]}")
    return 0


def _diff(store: DefinitionStore, args: argparse.Namespace) -> int:
    a, b = args.diff
    try:
        labels = store.version(a).label, store.version(b).label
        files = store.changed_files(a, b)
        changes = store.diff(a, b)
    finally:
        store.engine.dispose()
    if args.format == "json":
        print(textfmt.as_json({"from": labels[0], "to": labels[1], "files": files, "changes": [
            {"kind": c.kind, "name": c.name, "action": c.action, "path": list(c.path), "old": c.old, "new": c.new,
             "text": c.describe(args.lang)} for c in changes]}))
        return 0
    print(f"{labels[0]} -> {labels[1]}: {len(files)} file(s), {len(changes)} change(s)")
    for path, what in files.items():
        print(f"  {what}: {path}")
    for c in changes:
        print(f"  {c.describe(args.lang)}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        try:
            version = store.publish(_user(args, store), args.note)
        except PublishRefused as e:
            return _refused(e, "nothing was published")
    finally:
        store.engine.dispose()
    print(f"published version {version.number}")
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        discarded = store.discard_draft(_user(args, store), expected=args.expect)
        published = store.published()
    finally:
        store.engine.dispose()
    print(f"discarded the draft's changes to {len(discarded)} file(s): the draft is version {published} again")
    for path, what in discarded.items():
        print(f"  {what} in the draft: {path}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        try:
            version = store.rollback(args.version, _user(args, store), args.note)
        except PublishRefused as e:
            return _refused(e, f"v{args.version} cannot be published again")
    finally:
        store.engine.dispose()
    print(f"published version {args.version} again as version {version.number}")
    return 0
