"""The assignment service: assign, reevaluate and unassign records with assignment rules.

Rules are compiled once at install. ``assign`` always picks afresh (ending the
record's open assignments under the rule); ``reevaluate`` keeps assignments
whose entry still applies and replaces the others; ``unassign`` ends them all.
With ``auto: true`` a write listener reevaluates on every create/update and
unassigns on delete. Round robin and load balancing lock the entry's cursor
row, so concurrent assignments take turns without duplicate picks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ordo.dsl.assignment import AssignmentDef, EntryDef, target_list
from ordo.dsl.expr import CompiledExpression, Scope, compile_expression
from ordo.dsl.expr import types as T

from ..actor import User
from ..errors import NotFound, UsageError
from . import store
from .people import WorkingCalendar, eligible, members

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction, WriteEvent

FALLBACK = "fallback"


@dataclass
class CompiledEntry:
    id: str
    defn: EntryDef
    when: CompiledExpression | None
    by: CompiledExpression | None
    users: CompiledExpression | None


@dataclass
class CompiledRule:
    defn: AssignmentDef
    when: CompiledExpression | None
    entries: list[CompiledEntry]  # in the order they are tried

    @property
    def name(self) -> str:
        return self.defn.name

    @property
    def entity(self) -> str:
        return self.defn.entity


def compile_rule(app: App, defn: AssignmentDef) -> CompiledRule:
    scope = Scope(app.definition.schema, defn.entity)

    def c(text: str | None, expect: T.Type | None = None) -> CompiledExpression | None:
        return None if text is None else compile_expression(text, scope, expect)

    entries = [CompiledEntry(eid, e, c(e.when, T.BOOLEAN), c(e.by), c(e.users))
               for eid, e in zip(defn.entry_ids(), defn.rules, strict=True)]
    order = sorted(range(len(entries)), key=lambda i: (-entries[i].defn.priority, i))
    return CompiledRule(defn, c(defn.when, T.BOOLEAN), [entries[i] for i in order])


class Assigner:
    """``app.features["assignment"]``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.rules = {d.name: compile_rule(app, d) for d in app.definition.all("assignment")}
        self.calendars = {d.name: WorkingCalendar(d) for d in app.definition.all("calendar")}
        self._busy = threading.local()
        if any(r.defn.auto for r in self.rules.values()):
            app.on_write(self._on_write)

    def rule(self, name: str) -> CompiledRule:
        r = self.rules.get(name)
        if r is None:
            raise NotFound(f"unknown assignment rule '{name}' (known: {', '.join(sorted(self.rules)) or 'none'})")
        return r

    # -- public operations
    def assign(self, tx: Transaction, rule_name: str, entity: str, record: Mapping[str, Any] | int | str, *,
               keep: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
        """Pick assignees afresh; return their user names (empty when the rule does not apply).

        ``keep`` (a flow run setting fields on its record): called with ``{field: assignees}`` instead of
        writing the rule's field, when the caller writes it with its own update of the record (validated,
        audited, with the flow's authority); not for an ``auto`` rule or a field with ``editable_if``."""
        rule, rec = self._resolve(tx, rule_name, entity, record)
        current = store.active(tx.conn, rule.name, rule.entity, rec["id"])
        store.end(tx.conn, [a.id for a in current], tx.now)
        picks = self._pick(tx, rule, rec, self._matching(tx, rule, rec), exclude=[])
        return self._save(tx, rule, rec, picks, kept=[], changed=bool(current) or bool(picks), keep=keep)

    def reevaluate(self, tx: Transaction, rule_name: str, entity: str,
                   record: Mapping[str, Any] | int | str) -> list[str]:
        """Keep assignments whose entry still applies, replace the others; return the assignees."""
        rule, rec = self._resolve(tx, rule_name, entity, record)
        return self._reevaluate(tx, rule, rec)

    def unassign(self, tx: Transaction, rule_name: str, entity: str,
                 record: Mapping[str, Any] | int | str) -> list[str]:
        """End every open assignment of the record under the rule; return who was unassigned."""
        rule, rec = self._resolve(tx, rule_name, entity, record)
        current = store.active(tx.conn, rule.name, rule.entity, rec["id"])
        store.end(tx.conn, [a.id for a in current], tx.now)
        if current:
            self._write_field(tx, rule, rec, [])
        return _unique(a.user for a in current)

    def release(self, tx: Transaction, rule_name: str, entity: str, record_id: int) -> None:
        """End the record's open assignments under the rule, its assignee field as it is: the work they
        stood for is done (the flow approval they were made for has ended), so they count no more as load."""
        current = store.active(tx.conn, rule_name, entity, record_id)
        store.end(tx.conn, [a.id for a in current], tx.now)

    def transfer(self, tx: Transaction, rule_name: str, entity: str, record: Mapping[str, Any] | int | str,
                 from_user: str, to_user: str, *, keep: Callable[[dict[str, Any]], None] | None = None) -> bool:
        """Hand ``from_user``'s open assignments of the record under the rule to ``to_user`` (a task transferred):
        theirs end, ``to_user`` gets one per entry they had, and the rule's field names ``to_user`` in their
        place (``keep``: as :meth:`assign`). False (nothing done) when ``from_user`` had none."""
        rule, rec = self._resolve(tx, rule_name, entity, record)
        current = store.active(tx.conn, rule.name, rule.entity, rec["id"])
        moved = [a for a in current if a.user == from_user]
        if not moved:
            return False
        store.end(tx.conn, [a.id for a in moved], tx.now)
        taken = {a.entry for a in current if a.user == to_user}
        picks = [(entry, [to_user]) for entry in dict.fromkeys(a.entry for a in moved) if entry not in taken]
        names = _unique(to_user if a.user == from_user else a.user for a in current)
        for entry, users in picks:
            store.add(tx.conn, rule.name, entry, rule.entity, rec["id"], users, tx.now, tx.user.name)
        self._write_field(tx, rule, rec, names, keep)
        return True

    def current(self, tx: Transaction, rule_name: str, entity: str,
                record: Mapping[str, Any] | int | str) -> list[str]:
        rule, rec = self._resolve(tx, rule_name, entity, record)
        return _unique(a.user for a in store.active(tx.conn, rule.name, rule.entity, rec["id"]))

    # -- evaluation
    def _resolve(self, tx: Transaction, rule_name: str, entity: str,
                 record: Mapping[str, Any] | int | str) -> tuple[CompiledRule, Mapping[str, Any]]:
        rule = self.rule(rule_name)
        if entity != rule.entity:
            raise UsageError(f"assignment rule '{rule_name}' is for {rule.entity} records, not {entity}")
        rec = record if isinstance(record, Mapping) else tx.load(entity, record)
        if rec.get("id") is None:
            raise UsageError(f"the {entity} record must be saved before it can be assigned")
        return rule, rec

    def _applies(self, tx: Transaction, rule: CompiledRule, rec: Mapping[str, Any]) -> bool:
        return rule.when is None or rule.when(dict(rec), tx.env) is True

    def _matching(self, tx: Transaction, rule: CompiledRule, rec: Mapping[str, Any]) -> list[CompiledEntry]:
        if not self._applies(tx, rule, rec):
            return []
        return [e for e in rule.entries if e.when is None or e.when(dict(rec), tx.env) is True]

    def _pick(self, tx: Transaction, rule: CompiledRule, rec: Mapping[str, Any], entries: list[CompiledEntry],
              exclude: list[str], primary_taken: bool = False) -> list[tuple[str, list[str]]]:
        picks: list[tuple[str, list[str]]] = []
        taken = list(exclude)
        for e in entries:
            if primary_taken and not e.defn.also:
                continue
            users = self._entry_users(tx, rule, e, rec, taken)
            if users:
                picks.append((e.id, users))
                taken.extend(users)
                primary_taken = primary_taken or not e.defn.also
        if not picks and not exclude and self._applies(tx, rule, rec):
            fb = self._fallback(tx, rule)
            if fb:
                picks.append((FALLBACK, fb))
        return picks

    def _fallback(self, tx: Transaction, rule: CompiledRule) -> list[str]:
        pool = members(tx, target_list(rule.defn.fallback))
        return self._eligible(tx, rule, pool) or pool  # nobody available: the work still needs an owner

    def _eligible(self, tx: Transaction, rule: CompiledRule, names: list[str]) -> list[str]:
        return eligible(tx, names, self.calendars, rule.defn.calendar, rule.defn.skip_unavailable)

    def _entry_users(self, tx: Transaction, rule: CompiledRule, e: CompiledEntry, rec: Mapping[str, Any],
                     taken: list[str]) -> list[str]:
        d = e.defn
        if d.strategy == "expression":
            assert e.users is not None
            value = e.users(dict(rec), tx.env)
            names = [value] if isinstance(value, str) else [v for v in (value or []) if isinstance(v, str)]
            known = [n for n in _unique(names) if (p := tx.users.presence(n)) is not None and p[0]]
            return [n for n in self._eligible(tx, rule, known) if n not in taken]
        targets, how = d.to, d.strategy
        if d.strategy == "field":
            assert e.by is not None and d.map is not None
            value = e.by(dict(rec), tx.env)
            key = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
            targets, how = d.map.get(key, d.default), d.pick
        pool = [n for n in self._eligible(tx, rule, members(tx, target_list(targets))) if n not in taken]
        if not pool or how == "all":
            return pool
        return self._take_turns(tx, rule, e, pool, balance=how == "load_balance")

    def _take_turns(self, tx: Transaction, rule: CompiledRule, e: CompiledEntry, pool: list[str],
                    balance: bool) -> list[str]:
        """Round robin (or fewest open assignments, turns breaking ties) under the entry's locked cursor."""
        last = store.lock_cursor(tx.conn, rule.name, e.id)
        ordered = sorted(pool)
        start = next((i for i, n in enumerate(ordered) if last is None or n > last), 0)
        ordered = ordered[start:] + ordered[:start]  # the turn order after the last pick
        count = min(e.defn.count, len(ordered))
        if balance:
            load = store.open_counts(tx.conn, rule.name, ordered)
            chosen = sorted(ordered, key=lambda n: (load[n], ordered.index(n)))[:count]
        else:
            chosen = ordered[:count]
        store.move_cursor(tx.conn, rule.name, e.id, chosen[-1], len(chosen))
        return chosen

    def _reevaluate(self, tx: Transaction, rule: CompiledRule, rec: Mapping[str, Any]) -> list[str]:
        current = store.active(tx.conn, rule.name, rule.entity, rec["id"])
        matching = self._matching(tx, rule, rec)
        if not matching and not self._applies(tx, rule, rec):
            store.end(tx.conn, [a.id for a in current], tx.now)
            if current:
                self._write_field(tx, rule, rec, [])
            return []
        ids = {e.id for e in matching}
        primaries = [e for e in matching if not e.defn.also]
        also = {e.id for e in rule.entries if e.defn.also}
        keep, drop = [], []
        for a in current:  # an assignment stays while its entry's condition holds
            still = not primaries if a.entry == FALLBACK else a.entry in ids
            (keep if still else drop).append(a)
        store.end(tx.conn, [a.id for a in drop], tx.now)
        kept_entries = {a.entry for a in keep}
        has_primary = any(a.entry not in also for a in keep)
        todo = [e for e in matching if e.id not in kept_entries]
        picks = self._pick(tx, rule, rec, todo, exclude=[a.user for a in keep], primary_taken=has_primary)
        return self._save(tx, rule, rec, picks, kept=[a.user for a in keep], changed=bool(drop) or bool(picks))

    def _save(self, tx: Transaction, rule: CompiledRule, rec: Mapping[str, Any], picks: list[tuple[str, list[str]]],
              kept: list[str], changed: bool, keep: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
        for entry, users in picks:
            store.add(tx.conn, rule.name, entry, rule.entity, rec["id"], users, tx.now, tx.user.name)
        names = _unique([*kept, *(u for _, users in picks for u in users)])
        if changed:
            self._write_field(tx, rule, rec, names, keep)
        return names

    def _write_field(self, tx: Transaction, rule: CompiledRule, rec: Mapping[str, Any], names: list[str],
                     keep: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Write the assignees into the rule's field, as the acting user with the rule's authority (or hand
        them to ``keep``, see :meth:`assign`)."""
        field = rule.defn.field
        if field is None:
            return
        value = ", ".join(names) or None
        if rec.get(field) == value and "id" in rec:
            return
        if keep is not None and not rule.defn.auto and tx.app.compiled.entity(rule.entity).fields[field].editable_if is None:
            keep({field: value})
            return
        from ..records import Transaction

        u = tx.user
        elevated = Transaction(tx.app, tx.conn, User(u.name, u.roles, True, u.attrs))
        self._guard(tx, lambda: elevated.update(rule.entity, rec["id"], {field: value}))

    # -- automatic reevaluation
    def _guard(self, tx: Transaction, fn) -> Any:
        busy: set[int] = getattr(self._busy, "ids", None) or set()
        self._busy.ids = busy
        busy.add(id(tx.conn))
        try:
            return fn()
        finally:
            busy.discard(id(tx.conn))

    def _on_write(self, tx: Transaction, event: WriteEvent) -> None:
        if id(tx.conn) in (getattr(self._busy, "ids", None) or ()):
            return  # our own write of the assignee field
        for rule in self.rules.values():
            if not rule.defn.auto or rule.entity != event.entity:
                continue
            if event.action == "delete":
                assert event.before is not None
                current = store.active(tx.conn, rule.name, rule.entity, event.before["id"])
                store.end(tx.conn, [a.id for a in current], tx.now)
            else:
                assert event.after is not None
                self._guard(tx, lambda r=rule: self._reevaluate(tx, r, event.after))  # type: ignore[arg-type]


def _unique(names) -> list[str]:
    out: list[str] = []
    for n in names:
        if n not in out:
            out.append(n)
    return out
