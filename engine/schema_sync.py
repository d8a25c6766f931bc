"""Bring the database schema in line with the entity definitions.

On start the store compares the tables it needs with a snapshot of what it
created last time (``ordo_schema``): it creates tables, adds columns and indexes,
and widens types. Destructive changes (a removed field, a type change) are
refused with a clear message unless the definition declares them
(``dropped_fields``, ``renamed_from``, ``converted_from``). Generated columns (report time
buckets) are added and dropped as definitions ask (``schema_generated``). The whole plan is
checked before anything runs and applied in one transaction under a lock, so
several processes starting together do it once.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from . import directory_cache, schema_rebuild
from . import schema_steps as steps
from .compiled import CompiledApp
from .db import advisory_lock, write_connection
from .errors import SchemaChangeRefused, UsageError
from .migrations import applied_maps, count_mapped, map_action, map_detail, record, value_map
from .schema_generated import drop_generated, index_names, indexes_on, plan_generated
from .tables import SYSTEM_METADATA, TableSpec, build_table, index_name

schema_table = sa.Table(
    "ordo_schema",
    SYSTEM_METADATA,
    sa.Column("table_name", sa.String(140), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
)
# facts about the database itself: which app it holds ("app"), written by schema sync
meta_table = sa.Table(
    "ordo_meta",
    SYSTEM_METADATA,
    sa.Column("key", sa.String(140), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


class SchemaNotReady(UsageError):
    """The database does not hold this app's schema (yet): another app, none, or an older one."""


@dataclass
class Plan:
    create: list[TableSpec] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # human-readable summary
    actions: list = field(default_factory=list)  # callables(conn)
    refused: list[str] = field(default_factory=list)
    snapshots: dict[str, dict] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)  # data migrations, for ordo_migrations


def _widening(old: str, new: str) -> bool:
    if old.startswith("string(") and new == "string":
        return True
    if old.startswith("string(") and new.startswith("string("):
        return int(new[7:-1]) >= int(old[7:-1])
    if old.startswith("decimal(") and new.startswith("decimal("):
        op, os_ = map(int, old[8:-1].split(","))
        np_, ns = map(int, new[8:-1].split(","))
        return ns == os_ and np_ >= op
    return old in ("string", "text") and new in ("string", "text")


def plan_sync(conn: sa.Connection, compiled: CompiledApp) -> Plan:
    plan = Plan()
    snaps = {r.table_name: json.loads(r.spec) for r in conn.execute(sa.select(schema_table))}
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    entities = {e.name: e for e in compiled.entities.values()}
    maps_done = applied_maps(conn)
    ddl_meta = sa.MetaData()  # the tables as the database holds them: with their generated columns

    def ddl(spec: TableSpec) -> sa.Table:  # built only for a generated column or an index to create
        found = ddl_meta.tables.get(spec.name)
        return found if found is not None else build_table(spec, ddl_meta)
    for spec in compiled.specs:
        table = compiled.metadata.tables[spec.name]
        plan.snapshots[spec.name] = spec.to_json()
        if spec.name not in existing:
            plan.create.append(spec)
            plan.statements.append(f"create table {spec.name}")
            _plan_maps(conn, plan, spec, table, entities, {}, maps_done)
            continue
        snap = snaps.get(spec.name)
        if snap is None:  # table made outside Ordo or before snapshots: compare names only
            cols = {c["name"] for c in inspector.get_columns(spec.name)}
            made = cols & set(spec.generated)
            snap = {"columns": {c: spec.columns.get(c, "?") for c in cols - made}, "indexes": [],
                    "generated": {g: spec.generated[g].snapshot() for g in made}}
        old_cols: dict[str, str] = dict(snap["columns"])
        start = len(plan.actions)  # where generated columns a column change affects are dropped
        changed: set[str] = set()  # columns renamed, converted or dropped
        entity = entities.get(spec.entity)
        field_defs = entity.defn.fields if entity is not None else {}
        dropped = set(entity.defn.dropped_fields) if entity is not None and spec.parent is None else set()
        if spec.parent is not None:
            dropped = set(entities[spec.entity].defn.dropped_fields)
        renamed: set[str] = set()
        for cname, sig in spec.columns.items():
            f = field_defs.get(cname)
            if cname in old_cols:
                old = old_cols[cname]
                if old not in (sig, "?") and not _widening(old, sig):
                    if f is not None and f.converted_from is not None:
                        values, bad = steps.converted_values(conn, spec.name, cname, f)
                        if bad:
                            plan.refused.append(f"{spec.name}.{cname}: cannot convert {old} -> {sig}: "
                                                f"{len(bad)} value(s) do not convert, e.g. {'; '.join(bad[:3])}; "
                                                f"correct them first (nothing was changed)")
                        else:
                            changed.add(cname)
                            plan.actions.append(steps.convert(spec.name, table.c[cname], values))
                            plan.statements.append(f"convert {spec.name}.{cname}: {old} -> {sig}")
                            plan.records.append({"table_name": spec.name, "field": cname, "kind": "convert",
                                                 "detail": f"{old} -> {sig}" + (f" by {f.convert}" if f.convert
                                                                                 else ""), "rows": len(values)})
                    else:
                        plan.refused.append(
                            f"{spec.name}.{cname}: type change {old} -> {sig} would rewrite stored values; "
                            f"declare 'converted_from: <old type>' on the field to convert them"
                        )
                elif old != sig and old != "?":
                    plan.actions.append(steps.alter_type(spec.name, table.c[cname]))
                    plan.statements.append(f"widen {spec.name}.{cname}: {old} -> {sig}")
            elif f is not None and f.renamed_from and f.renamed_from in old_cols:
                renamed.add(f.renamed_from)
                changed.add(f.renamed_from)
                plan.actions.append(steps.rename(spec.name, f.renamed_from, cname))
                plan.statements.append(f"rename {spec.name}.{f.renamed_from} -> {cname}")
                plan.records.append({"table_name": spec.name, "field": cname, "kind": "rename",
                                     "detail": f"{f.renamed_from} -> {cname}", "rows": None})
            else:
                plan.actions.append(steps.add_column(spec.name, table.c[cname], spec.links.get(cname)))
                plan.statements.append(f"add column {spec.name}.{cname}")
        for cname in old_cols:
            if cname in spec.columns or cname in renamed:
                continue
            if cname in dropped:
                changed.add(cname)
                plan.actions.append(steps.drop_column(spec.name, cname))
                plan.statements.append(f"drop column {spec.name}.{cname}")
                plan.records.append({"table_name": spec.name, "field": cname, "kind": "drop",
                                     "detail": f"drop column {cname}", "rows": None})
            else:
                plan.refused.append(
                    f"{spec.name}.{cname}: field removed but its column holds data; add it to the entity's "
                    f"'dropped_fields' to drop it, or set 'renamed_from: {cname}' on the field that replaces it"
                )
        _plan_maps(conn, plan, spec, table, entities, old_cols, maps_done)
        have = index_names(conn, spec.name)
        old_generated = plan_generated(plan, spec, functools.partial(ddl, spec), snap, start, changed, have)
        for cols, unique in spec.indexes:
            name = index_name(spec.name, cols, unique)
            if name not in have and unique and all(c in old_cols for c in cols):
                dups = steps.duplicates(conn, spec.name, cols)
                if dups:
                    plan.refused.append(f"{spec.name}.{', '.join(cols)}: cannot make unique: existing records "
                                        f"share values ({'; '.join(dups)}); correct them first (nothing was changed)")
                    continue
            if name not in have:
                plan.actions.append(steps.create_index(ddl(spec), name))
                plan.statements.append(f"create index {name}")
        wanted_indexes = {index_name(spec.name, cols, unique) for cols, unique in spec.indexes}
        for cols, unique in snap.get("indexes", []):  # created by an earlier sync, no longer asked for
            name = index_name(spec.name, tuple(cols), unique)
            if name in have and name not in wanted_indexes and \
                    all(c in spec.columns or c in spec.generated for c in cols):
                plan.actions.append(steps.drop_index(spec.name, name))
                plan.statements.append(f"drop index {name}")
        for gname in old_generated:  # no report groups by it any more: it holds nothing but derived values
            if gname not in spec.generated:
                plan.actions.append(drop_generated(spec.name, gname, indexes_on(spec, snap, gname)))
                plan.statements.append(f"drop generated column {spec.name}.{gname} (no report groups by it)")
    # child tables of removed table fields
    wanted = {s.name for s in compiled.specs}
    for tname in snaps:
        if tname in wanted or "__" not in tname or tname not in existing:
            continue
        parent, fname = tname.split("__", 1)
        if parent not in entities:
            continue
        if fname in entities[parent].defn.dropped_fields:
            plan.actions.append(steps.drop_table(tname))
            plan.statements.append(f"drop table {tname}")
            plan.records.append({"table_name": tname, "field": None, "kind": "drop", "detail": "drop table",
                                 "rows": None})
        else:
            plan.refused.append(
                f"{tname}: table field '{fname}' of {parent} was removed but its rows remain; add '{fname}' to "
                f"'dropped_fields' of {parent} to drop them"
            )
    return plan


def _plan_maps(conn: sa.Connection, plan: Plan, spec: TableSpec, table: sa.Table, entities: dict,
               old_cols: dict, done: set) -> None:
    """Value mappings (``map_values``) not yet run on this database: rewrite the stored values once."""
    entity = entities.get(spec.entity)
    for cname, f in (entity.defn.fields.items() if entity is not None else ()):
        if not f.map_values or cname not in spec.columns:
            continue
        detail = map_detail(f.map_values)
        if (spec.name, cname, detail) in done:
            continue
        mapping, bad = value_map(f)
        if bad:
            plan.refused.append(f"{spec.name}.{cname}: map_values do not fit the field: {'; '.join(bad[:3])}")
            continue
        stored = cname if cname in old_cols else f.renamed_from if f.renamed_from in old_cols else None
        rows = count_mapped(conn, spec.name, stored, list(mapping)) if stored and mapping else 0
        if rows:
            plan.actions.append(map_action(spec.name, table.c[cname], mapping))
            shown = ", ".join(f"{k} -> {v}" for k, v in list(mapping.items())[:5])
            plan.statements.append(f"map values of {spec.name}.{cname}: {shown} ({rows} row(s))")
        plan.records.append({"table_name": spec.name, "field": cname, "kind": "map", "detail": detail,
                             "rows": rows})


def _owner(conn: sa.Connection, tables: set[str]) -> str | None:
    """The app a database holds, as recorded by schema sync (None: not recorded)."""
    if meta_table.name not in tables:
        return None
    return conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "app")).scalar()


def _refuse_other_app(conn: sa.Connection, compiled: CompiledApp, app_name: str, tables: set[str],
                      where: str) -> None:
    owner = _owner(conn, tables)
    if owner is not None and owner != app_name:
        raise SchemaNotReady(f"{where} holds the app '{owner}', not '{app_name}'")
    if owner is None and schema_table.name in tables:  # written before the app was recorded
        snaps = {r[0] for r in conn.execute(sa.select(schema_table.c.table_name))}
        if snaps and not snaps & {spec.name for spec in compiled.specs}:
            raise SchemaNotReady(f"{where} holds another app's tables ({', '.join(sorted(snaps)[:5])}), "
                                 f"none of '{app_name}'")


def check_schema(engine: sa.Engine, compiled: CompiledApp, app_name: str, where: str) -> None:
    """Refuse a database that holds no app, another app, or this app's schema out of date
    (naming what ``ordo sync`` would do). Reads only: nothing is created or changed."""
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        if schema_table.name not in tables:
            raise SchemaNotReady(f"{where} holds no Ordo app yet; create its tables with "
                                 f"`ordo sync APP --db ...` (or --create)")
        _refuse_other_app(conn, compiled, app_name, tables, where)
        missing = sorted(set(SYSTEM_METADATA.tables) - tables)
        plan = plan_sync(conn, compiled)
    if plan.refused:
        raise SchemaChangeRefused(plan.refused)
    pending = [f"create table {t}" for t in missing] + plan.statements
    if pending:
        shown = "; ".join(pending[:5]) + (f"; and {len(pending) - 5} more" if len(pending) > 5 else "")
        raise SchemaNotReady(f"the tables of {where} are behind the definitions of '{app_name}' "
                             f"({shown}); apply the changes with `ordo sync APP --db ...`")


def sync_schema(engine: sa.Engine, compiled: CompiledApp, *, dry_run: bool = False, app_name: str | None = None,
                where: str = "the database") -> list[str]:
    """Apply (or with ``dry_run`` only describe) the schema changes in a write transaction of their own; return
    what was done. A database that holds another app is refused; the app's name is recorded on first sync."""
    with write_connection(engine) as conn:
        statements = sync_schema_in(conn, compiled, app_name=app_name, where=where, dry_run=dry_run)
        if dry_run:
            statements += schema_rebuild.pending(conn, compiled)
            conn.rollback()
    if not dry_run:  # (foreign keys off for it: a transaction of its own, see schema_rebuild)
        statements += schema_rebuild.rebuild(engine, compiled)
    return statements


def sync_schema_in(conn: sa.Connection, compiled: CompiledApp, *, app_name: str | None = None,
                   where: str = "the database", dry_run: bool = False) -> list[str]:
    """:func:`sync_schema` inside the caller's write transaction (a publish syncs after taking its own lock and
    checking its version: when the caller's transaction rolls back, so do the schema changes). ``dry_run``:
    nothing but the system tables is created, and the caller rolls back."""
    advisory_lock(conn, "ordo-schema-sync")
    if app_name is not None:
        _refuse_other_app(conn, compiled, app_name, set(sa.inspect(conn).get_table_names()), where)
    SYSTEM_METADATA.create_all(conn, checkfirst=True)
    if not dry_run:
        directory_cache.install(conn)
    system = system_indexes(conn, dry_run=dry_run)
    if app_name is not None and not dry_run and _owner(conn, {meta_table.name}) is None:
        conn.execute(sa.insert(meta_table).values(key="app", value=app_name))
    plan = plan_sync(conn, compiled)
    if plan.refused:
        raise SchemaChangeRefused(plan.refused)
    if dry_run:
        return system + plan.statements
    if plan.create:
        meta = sa.MetaData()
        tables = [build_table(spec, meta) for spec in plan.create]
        for spec in compiled.specs:  # referenced tables must be known to the new metadata
            if spec.name not in meta.tables:
                build_table(spec, meta)
        meta.create_all(conn, tables=tables, checkfirst=True)
    for action in plan.actions:
        action(conn)
    record(conn, plan.records)
    for name, snap in plan.snapshots.items():
        conn.execute(sa.delete(schema_table).where(schema_table.c.table_name == name))
        conn.execute(sa.insert(schema_table).values(table_name=name, spec=json.dumps(snap, sort_keys=True)))
    return system + plan.statements


def system_indexes(conn: sa.Connection, *, dry_run: bool = False) -> list[str]:
    """Bring the indexes of the existing system tables in line with their declarations (``create_all`` makes a
    table's indexes only with the table): a declared index missing is created, a retired one (named in its
    table's ``info["retired_indexes"]``) dropped. An index is known by its name, so a changed one takes a new
    name and retires the old. ``dry_run``: only what would be done. Returns what was (or would be) done."""
    if conn.dialect.name == "sqlite":
        q = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        q = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    have = {r[0] for r in conn.exec_driver_sql(q)}
    done: list[str] = []
    for table in SYSTEM_METADATA.sorted_tables:
        for name in table.info.get("retired_indexes", ()):
            if name in have:
                done.append(f"drop index {name}")
                if not dry_run:
                    steps.drop_index(table.name, name)(conn)
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name not in have:
                done.append(f"create index {index.name}")
                if not dry_run:
                    index.create(conn)
    return done
