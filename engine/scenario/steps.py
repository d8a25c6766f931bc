"""One handler per scenario step kind; each uses only public engine and feature APIs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ordo.dsl.loader import BUILTIN_PREFIX
from ordo.dsl.scenario import parse_duration

from .. import textfmt
from ..errors import UsageError
from ..present import Presenter

if TYPE_CHECKING:
    from .runner import ScenarioRunner


def _feature(run: ScenarioRunner, name: str) -> Any:
    feature = run.app.features.get(name)
    if feature is None:
        raise UsageError(f"this installation has no '{name}' feature")
    return feature


def _key(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("id", value.get("name"))
    return value


def say(run: ScenarioRunner, step: Any) -> None:
    text = run.text(step.say)
    if text.startswith("#"):
        run.printer.section(text.lstrip("# "))
    else:
        run.printer.line(text)


def create(run: ScenarioRunner, step: Any) -> dict:
    rec = run.app.create(step.create, run.resolve(step.data), run.user(step))
    run.printer.say("created", entity=run.entity_label(step.create), name=rec["name"])
    return rec


def update(run: ScenarioRunner, step: Any) -> Any:
    if step.where is not None:
        recs = run.app.update_many(step.update, step.where, run.resolve(step.data), run.user(step),
                                   params=run.resolve(step.params))
        run.printer.say("updated_many", count=len(recs), entity=run.entity_label(step.update),
                        names=", ".join(r["name"] for r in recs[:10]) + (" ..." if len(recs) > 10 else ""))
        return recs
    rec = run.app.update(step.update, _key(run.resolve(step.record)), run.resolve(step.data), run.user(step))
    run.printer.say("updated", entity=run.entity_label(step.update), name=rec["name"])
    return rec


def query(run: ScenarioRunner, step: Any) -> list[dict]:
    with run.app.reader(run.user(step)) as tx:
        shown = Presenter(tx, step.query, step.columns, run.lang)
        params = run.resolve(step.params)
        rows = tx.query(step.query, step.where, params, step.order_by, step.limit)
        total = tx.count(step.query, step.where, params) if len(rows) == step.limit else len(rows)
        keys = shown.keys or shown.default_keys()
        text = shown.text(rows)
    run.printer.table(text, keys, run.text(step.title) if step.title else None, headers=shown.headers(keys))
    notice = textfmt.page_notice(0, len(rows), total)
    if notice:
        run.printer.line(f"({notice.split(';')[0]})")
    return rows


def clock(run: ScenarioRunner, step: Any) -> dt.datetime:
    c = run.app.clock
    if "set" in step.clock:
        c.fixed = dt.datetime.fromisoformat(str(run.resolve(step.clock["set"])))
    if "advance" in step.clock:
        c.fixed = c.now() + dt.timedelta(seconds=parse_duration(step.clock["advance"]))
    run.printer.say("clock", at=f"{c.now():%Y-%m-%d %H:%M}")
    return c.now()


def worker(run: ScenarioRunner, step: Any) -> dict:
    jobs, sent = run.app.run_worker_once("scenario")
    run.printer.say("worker", jobs=jobs, sent=sent)
    return {"jobs": jobs, "notifications": sent}


def seed(run: ScenarioRunner, step: Any) -> dict:
    from ..seed import seed as load

    root = run.app.definition.root
    if root is None:
        raise UsageError("this app has no folder to load data from")
    result = load(run.app, root / step.seed, run.user(step), order=step.order)
    run.printer.say("loaded", count=sum(result.created.values()))
    if result.skipped:
        run.printer.say("already", count=sum(result.skipped.values()))
    return {"created": result.created, "skipped": result.skipped}


def grant(run: ScenarioRunner, step: Any) -> dict:
    with run.app.users(run.defn.user) as users:
        users.save(step.grant, attrs=step.attrs)
        for role in step.roles:
            users.grant(step.grant, role, "role")
        for group in step.groups:
            users.grant(step.grant, group, "group")
        info = users.require(step.grant)
    roles = [run.role_label(r) for r in info.roles]
    run.printer.say("user", name=info.name, roles=", ".join(roles) or "-", groups=", ".join(info.groups) or "-")
    return {"name": info.name, "roles": info.roles, "groups": info.groups}


def import_(run: ScenarioRunner, step: Any) -> Any:
    intake = _feature(run, "intake")
    root = run.app.definition.root
    path = step.file if step.file.startswith(BUILTIN_PREFIX) or root is None else root / step.file
    result = intake.import_file(run.user(step), step.import_, path, channel=run.resolve(step.channel),
                                progress=run.printer.progress(run.printer.words("importing", file=step.file)))
    run.printer.say("imported", documents=result.documents, created=len(result.created),
                    duplicates=len(result.duplicates), failed=result.failed)
    for problem in result.errors[:5]:
        run.printer.line(f"    {problem}")
    return result.to_dict()


def generate(run: ScenarioRunner, step: Any) -> Any:
    gen = _feature(run, "generate")
    seed = run.resolve(step.seed) if step.seed is not None else run.vars.get("seed")
    bars: dict[str, Any] = {}

    def progress(entity: str, done: int, total: int) -> None:
        label = run.entity_label(entity)
        pad = 24 - textfmt.text_width(label)
        bars.setdefault(entity, run.printer.progress(label + " " * max(pad, 0)))(done, total)

    result = gen.run(run.user(step), step.generate, seed=None if seed is None else int(seed),
                     scale=step.scale or 1.0, progress=progress)
    run.printer.line("  " + generated_summary(run, result))
    return result.to_dict() if hasattr(result, "to_dict") else {"summary": result.summary()}


def generated_summary(run: ScenarioRunner, result: Any) -> str:
    """What a dataset created, in the scenario's language with entity labels."""
    p = run.printer

    def counts(counter: dict[str, int]) -> str:
        return ", ".join(p.words("count_of", count=n, entity=run.entity_label(e)) for e, n in counter.items())

    text = p.words("generated", dataset=result.dataset, seed=result.seed,
                   created=counts(result.created) or p.words("nothing"))
    if result.duplicates_rejected:
        text += p.words("generated_dups", items=counts(result.duplicates_rejected))
    if result.errors:
        text += p.words("generated_errors", items=counts(result.errors))
    return text


def report(run: ScenarioRunner, step: Any) -> Any:
    reports = _feature(run, "reports")
    if getattr(step, "materialize", False):
        done = reports.refresh(step.report, user=run.user(step), params=run.resolve(step.params))
        run.printer.line(f"  {done.summary()}")
        return done.to_dict()
    with run.app.reader(run.user(step)) as tx:
        result = reports.run(tx, step.report, run.resolve(step.params), run.lang)
    run.printer.line()
    run.printer.line(run.text(step.title) if step.title else result.label)
    run.printer.line(reports.export(result, "table"))
    return result.rows


def allocate(run: ScenarioRunner, step: Any) -> Any:
    alloc = _feature(run, "allocation")
    record = _key(run.resolve(step.record))
    with run.app.transaction(run.user(step)) as tx:
        if isinstance(record, str):
            record = tx.get(alloc_demand_entity(run, step.allocate), record)["id"]
        if step.release:
            result = alloc.release(tx, step.allocate, record)
        elif step.consume:
            result = alloc.consume(tx, step.allocate, record)
        else:
            result = alloc.allocate(tx, step.allocate, record)
    summary = getattr(result, "summary", None)
    run.printer.line(f"  {summary() if callable(summary) else result}")
    return result.to_dict() if hasattr(result, "to_dict") else result


def alloc_demand_entity(run: ScenarioRunner, rule: str) -> str:
    defn = run.app.definition.get("allocation", rule)
    demand = getattr(defn, "demand", None)
    entity = getattr(demand, "entity", None)
    if entity is None:
        raise UsageError(f"allocation rule '{rule}' has no demand entity")
    return entity


def flow(run: ScenarioRunner, step: Any) -> Any:
    """Start a flow on a record, or act on the user's open tasks of a record."""
    flows = _feature(run, "flows")
    user = run.user(step)
    record = _key(run.resolve(step.record))
    with run.app.transaction(user) as tx:
        if step.flow == "start":
            if not step.name:
                raise UsageError("a 'flow: start' step needs 'name'")
            entity = flows.flow(step.name).entity
            rec = tx.get(entity, record)
            instance = flows.start(tx, step.name, rec["id"])
            run.printer.say("flow_started", flow=step.name, record=rec["name"])
            return {"instance": instance}
        action = step.action or step.flow
        tasks = [t for t in flows.inbox(tx, user)
                 if (step.entity is None or t.entity == step.entity)
                 and (record is None or record in (t.record_id, t.record_name))]
        if not tasks:
            raise UsageError(f"{user} has no open task" + (f" on {record}" if record is not None else ""))
        done = []
        for task in tasks if step.all or record is None else tasks[:1]:
            flows.act(tx, task.id, action, comment=step.comment)
            done.append(task.id)
            run.printer.say("flow_acted", user=user, action=run.printer.action(action), record=task.record_name,
                            flow=task.flow, node=task.node)
    return {"tasks": done}


STEP_HANDLERS: dict[str, Callable[[ScenarioRunner, Any], Any]] = {
    "say": say, "create": create, "update": update, "query": query, "clock": clock, "worker": worker,
    "seed": seed, "grant": grant, "import": import_, "generate": generate, "report": report, "allocate": allocate, "flow": flow,
}
