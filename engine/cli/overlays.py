"""Customer overlays: ``ordo clone``, ``ordo effective``, ``ordo diff``, ``ordo upgrade`` (docs/overlays.md)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ordo.dsl.app import AppDefinition
from ordo.dsl.base import KINDS
from ordo.dsl.effective import diff_lines, effective_lines
from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import BUILTIN_PREFIX, AppLoader, load_app, resolve_app_path
from ordo.dsl.upgrade import rewrite_pin

from .common import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clone", help="create a customer app that extends a template pack (an overlay)")
    p.add_argument("base", help="the pack to build on: builtin:NAME or an app folder")
    p.add_argument("app", help="folder to create")
    p.add_argument("--name", help="app name (default: the folder name)")
    p.set_defaults(func=cmd_clone)

    p = sub.add_parser("effective", help="print an overlay's merged definitions, each line with its origin")
    p.add_argument("app", help="app folder")
    p.add_argument("kind", nargs="?", help="only definitions of this kind (entity, flow, ...)")
    p.add_argument("name", nargs="?", help="only this definition")
    p.set_defaults(func=cmd_effective)

    p = sub.add_parser("diff", help="list what an overlay changes against its base, item by item")
    p.add_argument("app", help="app folder")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("upgrade", help="take the installed version of an overlay's base: report conflicts "
                                       "(base and overlay changed the same item), then pin the new version")
    p.add_argument("app", help="app folder")
    p.add_argument("--check", action="store_true", help="only report; change nothing (exit 1 on conflicts)")
    p.add_argument("--keep-mine", action="store_true",
                   help="resolve every conflict in favour of the overlay's values and pin the new version")
    p.set_defaults(func=cmd_upgrade)
    register_migrations(sub)


def _load(path: str) -> AppDefinition:
    """The app with its overlay merged; structural errors raise, conflicts are left to the caller."""
    loader = AppLoader()
    app = loader.load(path)
    conflicts = {id(e) for e in (app.overlay.conflict_errors if app is not None and app.overlay else [])}
    errors = [e for e in loader.errors if id(e) not in conflicts]
    if errors or app is None:
        raise DefinitionErrors(errors)
    return app


def _overlay(path: str) -> AppDefinition:
    app = _load(path)
    if app.overlay is None:
        raise CliError(f"{path}: app '{app.name}' extends nothing (add `extends: builtin:NAME` to app.yaml)")
    return app


def overlay_note(app: AppDefinition) -> str:
    """One line on what an overlay builds on (for ``ordo validate``)."""
    info = app.overlay
    changed = len(info.changed) + len({k for k in info.own if k not in info.changed})
    text = f"extends {info.ref.pack} {info.base_version}: {changed} definition(s) of its own or changed (ordo diff)"
    if info.ref.version is None:
        return text + "; not pinned: `ordo upgrade` pins the version, so that later upgrades are checked"
    if info.behind:
        return text + f"; written against {info.ref.version}: `ordo upgrade` pins {info.base_version}"
    return text


@dataclass
class Clone:
    """A new app extending a pack: its name, how it names the base, the files and folders to write."""

    name: str
    pack: str
    base_version: str
    files: dict[str, str]
    folders: list[str]


def clone_files(base_ref: str, name: str, pack: str | None = None) -> Clone:
    """The files (relative path -> text) and folders of a new app ``name`` extending ``base_ref`` (an
    overlay holding only its differences): what ``ordo clone`` writes and the designer's clone offers.
    ``pack`` is how app.yaml names the base (default ``base_ref``). The base must be valid."""
    base = load_app(base_ref)
    name = name.lower().replace("-", "_").replace(" ", "_")
    if not name.isidentifier() or not name[0].isalpha() or not name.isascii():
        raise CliError(f"app name {name!r} must start with a letter and hold letters, digits and _ (use --name)")
    pack = pack or base_ref
    folders = sorted({KINDS[k].folder for k in base.items if base.names(k)})
    langs = ", ".join(base.manifest.languages)
    files = {"app.yaml": f"# {name}: {pack} plus this app's differences (see README.md)\n"
                         f"name: {name}\nversion: 0.1.0\nextends: {{pack: {pack}, version: {base.version}}}\n"
                         f"languages: [{langs}]\n",
             "README.md": _readme(name, pack, base, folders)}
    return Clone(name, pack, str(base.version), files, folders)


def cmd_clone(args: argparse.Namespace) -> int:
    target = Path(args.app)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CliError(f"{target} already exists and is not empty")
    pack = args.base if str(args.base).startswith(BUILTIN_PREFIX) else \
        os.path.relpath(resolve_app_path(args.base).resolve(), target.resolve())
    clone = clone_files(args.base, args.name or target.resolve().name, pack)
    target.mkdir(parents=True, exist_ok=True)
    (target / "app.yaml").write_text(clone.files["app.yaml"], encoding="utf-8")
    for folder in clone.folders:
        (target / folder).mkdir(exist_ok=True)
    (target / "README.md").write_text(clone.files["README.md"], encoding="utf-8")
    print(f"created app '{clone.name}' in {target}, extending {pack} {clone.base_version}")
    print(f"next: ordo validate {target}  |  ordo diff {target}  |  ordo effective {target} KIND NAME")
    return 0


def _example(base: AppDefinition, kind: str) -> str:
    names = base.names(kind)
    return names[0] if names else f"my_{kind}"


def _readme(name: str, pack: str, base: AppDefinition, folders: list[str]) -> str:
    entity, flow = _example(base, "entity"), _example(base, "flow")
    return f"""# {name}

This app extends `{pack}` (version {base.version}). Its folders ({", ".join(folders)}) hold only what
{name} changes: a file names a definition of the base and writes its differences; everything else comes
from the base and follows its upgrades. The merge rules are in Ordo's docs/overlays.md.

```yaml
# entities/{entity}.yaml: add a field after an existing one, relabel one in Chinese, change a default
name: {entity}
fields:
  my_field: {{type: string, label: {{en: My field, zh: 我的字段}}, after: {next(iter(base.get("entity", entity).fields), "name") if base.get("entity", entity) else "name"}}}
```

```yaml
# flows/{flow}.yaml: insert a node after an existing one (the edges are rewired), remove another
name: {flow}
nodes:
  my_check: {{type: approval, approvers: [{{role: admin}}], after: SOME_NODE}}
  OLD_NODE: {{remove: true}}
```

* `remove: true` deletes an item (a field, a node, a named list item) or, at the top of a file, a whole
  definition; `disabled: true` does the same for a rule or report; `replace: true` replaces the base's
  definition with this file's whole.
* A new definition (a new name) is added as it is.

Commands:

```bash
ordo validate .                     # every error, with the file:line that wrote the value (base or yours)
ordo diff .                         # what this app changes, item by item
ordo effective . entity {entity}    # the merged definition, each line with its origin
ordo upgrade . --check              # after installing a newer {pack}: conflicts with your changes
ordo upgrade .                      # take the new version (rewrites the pin in app.yaml)
```
"""


def cmd_effective(args: argparse.Namespace) -> int:
    app = _load(args.app)
    kinds = [args.kind] if args.kind else list(app.items)
    if args.kind and args.kind not in KINDS:
        raise CliError(f"unknown kind '{args.kind}' (known: {', '.join(KINDS)})")
    printed = 0
    for kind in kinds:
        names = [args.name] if args.name else app.names(kind)
        for name in names:
            if app.located(kind, name) is None:
                known = ", ".join(app.names(kind)[:12])
                raise CliError(f"no {kind} '{name}' in {app.name}" + (f" (known: {known})" if known else ""))
            if printed:
                print("---")
            print("\n".join(effective_lines(app, kind, name)))
            printed += 1
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    app = _overlay(args.app)
    info = app.overlay
    pin = f" (written against {info.ref.version})" if info.behind else ""
    lines = diff_lines(app)
    print(f"{app.name} against {info.ref.pack} {info.base_version}{pin}: "
          + (f"{sum(1 for x in lines if not x.startswith('    '))} definition(s) changed" if lines else "no changes"))
    for line in lines:
        print(line)
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    app = _overlay(args.app)
    info = app.overlay
    manifest = (app.root or Path(args.app)) / "app.yaml"
    if info.ref.version is not None and not info.behind:
        print(f"{app.name} is up to date with {info.ref.pack} {info.base_version}")
        return 0
    for c in info.conflicts:
        print(c.error())
    if info.ref.version is None:
        print(f"{app.name} extends {info.ref.pack} without a version: pinning {info.base_version} "
              "(later upgrades are then checked for conflicts)")
    elif info.conflicts:
        print(f"{len(info.conflicts)} conflict(s) between {info.ref.pack} {info.ref.version} -> {info.base_version} "
              f"and {app.name}")
    else:
        print(f"no conflicts: {info.ref.pack} {info.ref.version} -> {info.base_version} keeps every change of "
              f"{app.name}")
    if args.check:
        return 1 if info.conflicts else 0
    if info.conflicts and not args.keep_mine:
        print("nothing changed: resolve the conflicts (delete your change to take the base's, or "
              "--keep-mine to keep yours), then run `ordo upgrade` again")
        return 1
    errors = _check(app)
    if errors:
        raise DefinitionErrors(errors)
    text = manifest.read_text(encoding="utf-8")
    try:
        manifest.write_text(rewrite_pin(text, info.base_version), encoding="utf-8")
    except ValueError as e:
        raise CliError(f"{manifest}: {e}") from None
    print(f"{manifest}: now extends {info.ref.pack} version {info.base_version}")
    return 0


def _check(app: AppDefinition) -> list[Any]:
    return app.check()


def register_migrations(sub: argparse._SubParsersAction) -> None:
    from .common import add_db_option

    p = sub.add_parser("migrations", help="list the data migrations schema sync has run on a database "
                                          "(renames, conversions, value mappings, drops)")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    add_db_option(p)
    p.set_defaults(func=cmd_migrations)


def cmd_migrations(args: argparse.Namespace) -> int:
    from ..app import open_app
    from ..migrations import history

    app = open_app(args.app, args.db, sync=False, check=False)
    try:
        with app.engine.connect() as conn:
            rows = history(conn)
    finally:
        app.close()
    if not rows:
        print("no data migrations recorded")
    for r in rows:
        where = r["table_name"] + (f".{r['field']}" if r["field"] else "")
        count = "" if r["rows"] is None else f" ({r['rows']} row(s))"
        print(f"{r['applied_at']:%Y-%m-%d %H:%M:%S}  {r['kind']:<8} {where}: {r['detail']}{count}")
    return 0
