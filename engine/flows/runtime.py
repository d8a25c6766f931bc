"""The flow feature's public API (``app.features["flows"]``).

    flows = app.features["flows"]
    with app.transaction("alice") as tx:
        inst = flows.start(tx, "expense_approval", expense_id)
    with app.transaction("bob") as tx:
        task = flows.inbox(tx)[0]
        flows.approve(tx, task.id, comment="ok")

Every method takes the transaction of the acting user; its effects commit with it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ordo.dsl.flow import FlowDef

from ..actor import OWNER, UserLike
from ..errors import Conflict, NotFound, PermissionDenied, UsageError
from ..records import WriteEvent
from . import actions, inbox, store, timers, versions
from .compile import CompiledFlow, FlowCompileError, compile_flow
from .people import FlowFailed
from .runner import ACTIVE, Run, timer_prefix
from .store import Instance, Token

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction

_BUSY = "ordo_flows_busy"
MAX_OLD_VERSIONS = 32  # compiled graphs of older flow versions kept (instances started before a publish)
MAX_CASCADE = 8  # flows started from records other flows wrote (trigger.from_flows), nested at most this deep


class _Busy:
    """The mark of :meth:`FlowRuntime._busy` for a block (a plain context manager: entered once or twice per action)."""

    __slots__ = ("info",)

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    def __enter__(self) -> None:
        info = self.info
        info[_BUSY] = info.get(_BUSY, 0) + 1

    def __exit__(self, *exc: object) -> None:
        self.info[_BUSY] -= 1


class FlowRuntime:
    def __init__(self, app: App) -> None:
        self.app = app
        self.flows: dict[str, CompiledFlow] = {
            d.name: compile_flow(app.definition, d) for d in app.definition.all("flow")}
        self.by_entity: dict[str, list[CompiledFlow]] = {}
        for f in self.flows.values():
            self.by_entity.setdefault(f.entity, []).append(f)
        self._version_ids: dict[tuple[str, str], int] = {}
        self._by_version: dict[int, CompiledFlow] = {}  # the current flows' versions
        self._old: OrderedDict[int, CompiledFlow] = OrderedDict()  # older versions, the last used kept
        self._waits: dict[str, bool] = {}  # entity -> may an instance on it wait for a condition (see wake)
        # flow effects' filters as statements, by id of the filter, dropped with it (effects._matching_statement)
        self.matching: dict[int, Any] = {}
        self.related_rows: dict[tuple[str, str], Any] = {}  # a for_each's related rows (effects._rows_statement)
        self.mirror_plans: dict[tuple[str, str], Any] = {}  # (entity, state field) -> mirror.MirrorPlan
        self.deferrable: dict[str, Any] = {}  # entity -> the fields a run keeps to write at rest (pending.py)
        self.own_first: dict[int, Any] = {}  # action node id -> (node, its first update is on its own record)
        # the entities flows run on, read with an instance when an action loads it (see store.Loaded)
        self.records: store.Records = tuple(
            (e, t) for e in self.by_entity if (t := app.compiled.entity(e).table) is not None)

    # -- definitions and versions
    def flow(self, name: str) -> CompiledFlow:
        f = self.flows.get(name)
        if f is None:
            raise NotFound(f"no flow named {name!r} (flows: {', '.join(self.flows) or 'none'})")
        return f

    def _version_id(self, tx: Transaction, flow: CompiledFlow) -> int:
        key = (flow.name, flow.hash)
        vid = self._version_ids.get(key)
        if vid is None:
            vid = versions.ensure_version(tx.conn, flow.name, flow.hash, flow.defn.version, flow.definition_json,
                                       tx.now)
            self._version_ids[key] = vid
            self._by_version[vid] = flow
        return vid

    def flow_for(self, tx: Transaction, inst: Instance) -> CompiledFlow:
        """The graph the instance started with (older versions are loaded from ordo_flow_version)."""
        found = self._by_version.get(inst.version_id) or self._old.get(inst.version_id)
        if found is not None:
            if inst.version_id in self._old:
                self._old.move_to_end(inst.version_id)
            return found
        row = versions.load_version(tx.conn, inst.version_id)
        if row is None:
            raise NotFound(f"flow version {inst.version_id} of instance {inst.id} is missing")
        name, digest, definition = row
        current = self.flows.get(name)
        if current is not None and current.hash == digest:
            compiled = current
        else:
            try:
                compiled = compile_flow(self.app.definition, FlowDef.model_validate(json.loads(definition)))
            except FlowCompileError:
                raise
            except Exception as e:
                raise FlowCompileError(f"flow {name} version {inst.version_id} cannot be loaded: {e}") from None
        if compiled is current:
            self._by_version[inst.version_id] = compiled
        else:  # a graph of an older version: kept while it is among the last used (no growth per publish)
            self._old[inst.version_id] = compiled
            while len(self._old) > MAX_OLD_VERSIONS:
                self._old.popitem(last=False)
        return compiled

    def _busy(self, tx: Transaction) -> _Busy:
        """Writes made by the flow itself do not start flows again (the listener sees this mark)."""
        return _Busy(tx.conn.info)

    # -- starting
    def start(self, tx: Transaction, flow: str, record: int | str) -> int:
        """Start ``flow`` on a record (id or name) as the acting user; return the instance id. The user
        must be able to read the record and hold the flow action ``start`` (see permissions)."""
        f = self.flow(flow)
        if not tx.app.permissions.may_flow(tx.user, f.name, "start"):
            raise PermissionDenied(f"{tx.user.name} may not start flow {f.name}: the flow action start is not "
                                   "granted to them")
        rec = tx.load(f.entity, record)
        running = store.running(tx.conn, f.entity, rec["id"])
        if any(i.flow == f.name for i in running):
            raise Conflict(f"flow {f.name} is already running on {f.entity} {rec['name']}")
        with self._busy(tx):
            return self._start(tx, f, rec)

    def _start(self, tx: Transaction, f: CompiledFlow, rec: dict[str, Any]) -> int:
        vid = self._version_id(tx, f)
        now = tx.now
        values: dict[str, Any] = dict(flow=f.name, version_id=vid, entity=f.entity, record_id=rec["id"],
                                      status="running", current="", started_by=tx.user.name, started_at=now, rev=1)
        # ours: nobody else sees it yet. Its row is written once, at rest, with the state the start left
        # (earlier only if something needs its id first: a token resting, a notification, another write)
        inst = Instance(None, outcome=None, ended_at=None, data={}, **values)  # type: ignore[arg-type]
        run = Run(self, tx, inst, f, new=True)
        run._record = rec
        run.history("start", f.first, version=f.defn.version, flow=f.name)
        run.go([Token(None, f.first)])
        assert inst.id is not None
        return inst.id

    def on_write(self, tx: Transaction, event: WriteEvent) -> None:
        flows = self.by_entity.get(event.entity)
        if not flows:
            return
        if tx.conn.info.get(_BUSY):
            # a flow changed a record: only flows declared `from_flows` start from it, and waiting instances
            # of other flows on that record look at their conditions again (never one being run right now)
            if event.action != "delete" and event.after is not None:
                self._cascade(tx, flows, event)
            if event.action == "update" and event.after is not None:
                self.wake(tx, event.entity, event.after["id"])
            return
        with self._busy(tx):
            if event.action == "delete" and event.before is not None:
                for inst in store.instances_of(tx.conn, event.entity, event.before["id"], "running"):
                    loaded = store.load_instance(tx.conn, inst.id)
                    inst = loaded.instance
                    run = Run(self, tx, inst, self.flow_for(tx, inst), loaded=loaded)
                    run.finish("cancelled", "cancelled", f"{event.entity} deleted")
                    run.state.save_instance()
                    run.state.flush()
                return
            rec = event.after
            assert rec is not None
            # a record just created has no instances yet: nothing to read (now, or when a flow writes it)
            if event.action == "create":
                store.created(tx.conn, event.entity, rec["id"])
            running = store.running(tx.conn, event.entity, rec["id"])
            for f in flows:
                if self._triggered(tx, f, event) and not any(i.flow == f.name for i in running):
                    self._start(tx, f, rec)
            if event.action == "update":
                for inst in running:
                    self._recheck_waits(tx, inst)

    def _cascade(self, tx: Transaction, flows: list[CompiledFlow], event: WriteEvent) -> None:
        """Start the flows with ``trigger.from_flows`` on a record another flow wrote (nesting is bounded)."""
        cascading = [f for f in flows if f.defn.trigger.from_flows]
        if not cascading:
            return
        rec = event.after
        assert rec is not None
        if tx.conn.info.get(_BUSY, 0) > MAX_CASCADE:
            raise FlowFailed(f"flows started from flows nest deeper than {MAX_CASCADE} levels at {event.entity} "
                             f"{rec.get('name')}: check the from_flows triggers for a cycle")
        running = store.running(tx.conn, event.entity, rec["id"])
        for f in cascading:
            if self._triggered(tx, f, event) and not any(i.flow == f.name for i in running):
                with self._busy(tx):
                    self._start(tx, f, rec)

    def _triggered(self, tx: Transaction, f: CompiledFlow, event: WriteEvent) -> bool:
        on = f.defn.trigger.on
        if on == "manual" or (event.action == "create" and on == "update") or (
                event.action == "update" and on == "create"):
            return False
        when = f.trigger_when
        if when is None:
            return True
        now_true = when(event.after or {}, tx.env, tx.user.name) is True
        if event.action == "create":
            return now_true
        return now_true and when(event.before or {}, tx.env, tx.user.name) is not True

    def wake(self, tx: Transaction, entity: str, record_id: int) -> None:
        """Waiting instances on a record look at their conditions again (except those being run now)."""
        if entity not in self.by_entity or not self._may_wait(tx, entity):
            return
        active = tx.conn.info.get(ACTIVE, set())
        for inst in store.running(tx.conn, entity, record_id):
            if inst.id not in active:
                self._recheck_waits(tx, inst)

    def _may_wait(self, tx: Transaction, entity: str) -> bool:
        """Whether an instance on ``entity`` may wait for a condition: a flow on it, in its current definition
        or a version registered before (instances keep the version they started with), has a wait node with
        ``until``. Read once per process: without one, a write to the record wakes nothing and reads nothing."""
        found = self._waits.get(entity)
        if found is None:
            flows = self.by_entity.get(entity, [])
            found = any(_has_waits(json.loads(f.definition_json)) for f in flows) or any(
                _has_waits(json.loads(d)) for d in versions.version_definitions(tx.conn, [f.name for f in flows]))
            self._waits[entity] = found
        return found

    def _recheck_waits(self, tx: Transaction, inst: Instance) -> None:
        f = self.flow_for(tx, inst)
        if not any(n.type == "wait" and "until" in n.exprs for n in f.nodes.values()):
            return
        loaded = store.load_instance(tx.conn, inst.id)
        inst = loaded.instance
        Run(self, tx, inst, f, loaded=loaded).go([])

    # -- timers
    def on_timer(self, tx: Transaction, payload: dict[str, Any]) -> None:
        with self._busy(tx):
            timers.fire(self, tx, payload)

    # -- human actions
    def approve(self, tx: Transaction, task: int, comment: str | None = None) -> None:
        with self._busy(tx):
            actions.approve(self, tx, task, comment)

    def reject(self, tx: Transaction, task: int, comment: str | None = None, to: str | None = None) -> None:
        with self._busy(tx):
            actions.reject(self, tx, task, comment, to)

    def transfer(self, tx: Transaction, task: int, to: str, comment: str | None = None) -> int:
        with self._busy(tx):
            return actions.transfer(self, tx, task, to, comment)

    def add_approver(self, tx: Transaction, task: int, to: str, position: str = "after",
                     comment: str | None = None) -> int:
        with self._busy(tx):
            return actions.add_approver(self, tx, task, to, position, comment)

    def cancel_task(self, tx: Transaction, task: int, comment: str | None = None) -> None:
        with self._busy(tx):
            actions.cancel_task(self, tx, task, comment)

    def comment(self, tx: Transaction, instance: int, text: str, task: int | None = None) -> None:
        with self._busy(tx):
            actions.comment(self, tx, instance, text, task)

    def urge(self, tx: Transaction, instance: int, text: str | None = None) -> int:
        with self._busy(tx):
            return actions.urge(self, tx, instance, text)

    def withdraw(self, tx: Transaction, instance: int, text: str | None = None) -> None:
        with self._busy(tx):
            actions.withdraw(self, tx, instance, text)

    def cancel(self, tx: Transaction, instance: int, text: str | None = None) -> None:
        with self._busy(tx):
            actions.cancel(self, tx, instance, text)

    def act(self, tx: Transaction, task: int, action: str, *, comment: str | None = None, to: str | None = None,
            position: str = "after") -> Any:
        """One entry point for the CLI and HTTP layers: ``action`` is a task action name."""
        if action == "approve":
            return self.approve(tx, task, comment)
        if action == "reject":
            return self.reject(tx, task, comment, to)
        if action == "transfer":
            return self.transfer(tx, task, to or "", comment)
        if action == "add_approver":
            return self.add_approver(tx, task, to or "", position, comment)
        if action == "cancel_task":
            return self.cancel_task(tx, task, comment)
        if action == "comment":
            t = store.get_task(tx.conn, task)
            return self.comment(tx, t["instance_id"], comment or "", task)
        raise UsageError(f"unknown task action {action!r} (use one of {', '.join(actions.TASK_ACTIONS)})")

    # -- reading
    def status(self, tx: Transaction, entity: str, record: int | str) -> inbox.FlowStatus | None:
        """The latest flow instance of a record: status, current node(s), pending tasks."""
        return inbox.status(tx, entity, tx.get(entity, record)["id"])

    def instances(self, tx: Transaction, entity: str, record: int | str) -> list[Instance]:
        return store.instances_of(tx.conn, entity, tx.get(entity, record)["id"])

    def timeline(self, tx: Transaction, entity: str, record: int | str) -> list[inbox.Event]:
        return inbox.timeline(tx, entity, tx.get(entity, record)["id"])

    def inbox(self, tx: Transaction, user: str | None = None, *, limit: int | None = None,
              offset: int = 0) -> list[inbox.InboxTask]:
        """Pending tasks of the acting user (an admin: of ``user``), due first: every one of them, or the page
        of at most ``limit`` after ``offset`` (ask one more than you show to know whether there are more)."""
        return inbox.inbox(tx, user, limit, self.records, offset)

    def tasks(self, tx: Transaction, instance: int, status: str | None = "pending") -> list[dict[str, Any]]:
        return inbox.instance_tasks(tx.conn, instance, status)

    def timer_key_prefix(self, instance: int) -> str:
        return timer_prefix(instance)

    # -- tools
    def simulate(self, flow: str, record: dict[str, Any], *, initiator: str = "admin",
                 decisions: dict[str, str] | None = None, database: bool = True, lang: str = "en",
                 user: UserLike = OWNER) -> list[Any]:
        """The path ``record`` (field values, as for a create) would take and who would be asked; writes
        nothing. ``database=False``: consult no data (links stay as given, roles are shown by name).
        ``user``: who reads the database (default: the owner, who reads everything)."""
        from .simulate import simulate

        return simulate(self.app, flow, record, initiator=initiator, decisions=decisions, database=database,
                        lang=lang, user=user)

    def diagram(self, flow: str, format: str = "svg", lang: str = "en") -> str:
        from . import diagram

        if format not in ("svg", "mermaid"):
            raise UsageError(f"diagram format must be 'svg' or 'mermaid', got {format!r}")
        f = self.flow(flow)
        return diagram.svg(f, lang) if format == "svg" else diagram.mermaid(f, lang)


def _has_waits(definition: dict[str, Any]) -> bool:
    nodes = definition.get("nodes") or {}
    return any(isinstance(n, dict) and n.get("type") == "wait" and n.get("until") for n in nodes.values())
