"""Dry run: the path a record would take through a flow and who would be asked, writing nothing.

The record is prepared by the same code as a create (``record_input.dry_record``:
defaults, link names, computed fields), in a read-only transaction. Approvals
are assumed approved unless ``decisions`` says ``{node: "reject"}``; waits are
assumed to be satisfied. With ``database`` (the default) links are looked up and
roles expanded to their members; without, links keep the names or nested records
given and roles are shown by name. Values are shown as a person reads them.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ordo.dsl.base import label_text
from ordo.dsl.expr import Env

from ..actor import OWNER, UserLike
from ..errors import UsageError
from ..record_input import dry_record
from .people import expand, resolve

if TYPE_CHECKING:
    from ..app import App
    from ..records import Transaction

MAX_STEPS = 500

# What a step says, per language (node, field and entity labels come from the definitions).
_SAYS: dict[str, dict[str, str]] = {
    "stopped": {"en": "stopped after {n} steps (a loop?)", "zh": "已走 {n} 步后停止(是否有循环?)"},
    "goes_to": {"en": "goes to {target}", "zh": "转到 {target}"},
    "splits": {"en": "splits into {targets}", "zh": "分为 {targets}"},
    "joins": {"en": "joins {need} branch(es), goes on to {target}", "zh": "汇合 {need} 个分支,继续到 {target}"},
    "auto_approved": {"en": "approved automatically (auto_approve_if)", "zh": "自动通过(auto_approve_if)"},
    "nobody": {"en": "nobody to ask: {policy}", "zh": "无人可审批:{policy}"},
    "asks": {"en": "asks {asks} (mode {mode}); assumed {decision}", "zh": "请 {asks} 审批(方式 {mode});假设{decision}"},
    "approved": {"en": "approved", "zh": "同意"},
    "rejected": {"en": "rejected", "zh": "驳回"},
    "ends_rejected": {"en": "flow ends: rejected", "zh": "流程结束:驳回"},
    "waits": {"en": "waits until {until} (assumed to happen)", "zh": "等待 {until}(假设会发生)"},
    "the_timer": {"en": "the timer", "zh": "计时到期"},
    "sets": {"en": "sets {values}", "zh": "设置 {values}"},
    "creates": {"en": "creates {what}", "zh": "创建{what}"},
    "creates_per": {"en": "creates {what} per {per} of {each}", "zh": "按 {each} 的每个 {per} 创建{what}"},
    "row": {"en": "row", "zh": "行"},
    "changes": {"en": "changes the {entity} records where {where}", "zh": "修改满足 {where} 的{entity}"},
    "allocates": {"en": "runs allocation {rule} ({mode})", "zh": "执行分配 {rule}({mode})"},
    "calls": {"en": "calls {url}", "zh": "调用 {url}"},
    "notifies": {"en": "notifies {who}", "zh": "通知 {who}"},
    "nothing": {"en": "does nothing", "zh": "无操作"},
    "tells": {"en": "tells {who}", "zh": "抄送 {who}"},
    "ends": {"en": "flow ends: {outcome}", "zh": "流程结束:{outcome}"},
}


def says(key: str, lang: str, **values: Any) -> str:
    """The step text ``key`` in ``lang`` (English when the language has none)."""
    texts = _SAYS[key]
    return (texts.get(lang) or texts["en"]).format(**values)


@dataclass
class Step:
    node: str
    type: str
    text: str
    asks: list[str] = field(default_factory=list)


def _given(entity: str, key: Any) -> Any:
    """Without a database a linked record is what the record JSON says: a nested object, or just a name."""
    if isinstance(key, Mapping):
        return key
    return {"name": key} if isinstance(key, str) else None


def show(tx: Transaction, value: Any, entity: str | None = None) -> str:
    """A value as a person reads it: ISO dates, plain numbers, linked records by name (and title)."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if entity is not None:
        rec = value if isinstance(value, Mapping) else tx.env.link(entity, value)
        if rec and rec.get("name"):
            title_field = tx.app.definition.entities[entity].title_field
            title = rec.get(title_field) if title_field else None
            return f"{rec['name']} ({title})" if title and title != rec["name"] else str(rec["name"])
    if isinstance(value, (list, tuple)):
        return ", ".join(show(tx, v) for v in value)
    return str(value)


def a_label(tx: Transaction, entity: str, lang: str = "en") -> str:
    """'a sales order', 'an invoice': the entity's label after an article (in Chinese, the label)."""
    if lang != "en":
        return label_text(tx.app.definition.entities[entity].label, lang) or entity
    label = tx.app.compiled.entity(entity).label
    if len(label) > 1 and label[1:2].islower():
        label = label[0].lower() + label[1:]
    return ("an " if label[:1].lower() in "aeiou" else "a ") + label


def simulate(app: App, flow: str, data: Mapping[str, Any], *, initiator: str = "admin",
             decisions: Mapping[str, str] | None = None, database: bool = True,
             before: Mapping[str, Any] | None = None, lang: str = "en", user: UserLike = OWNER) -> list[Step]:
    """The steps ``data`` would take through ``flow``; with ``before`` (a stored record) the record is that
    one changed by ``data``, computed fields evaluated again as an update would. Step texts are in ``lang``.
    ``user``: who reads (links given by name must be records they may read; in an App with another
    version's authority, the definition's own expressions read only what they may read too)."""
    f = app.features["flows"].flow(flow)
    decisions = dict(decisions or {})
    for node, d in decisions.items():
        if node not in f.nodes or d not in ("approve", "reject"):
            raise UsageError(f"decision {node}={d}: use NODE=approve|reject with an approval node of {flow}")
    if not isinstance(data, Mapping):
        raise UsageError("the record must be a JSON object of field values")
    with app.reader(user) as tx:
        if not database:  # nothing to look up: links are as given, aggregates over related records unknown
            tx.env = Env(link=_given, clock=app.clock, related=lambda node, owner: None)
        record = dry_record(tx, app.compiled.entity(f.entity), data, links=database,
                            before=dict(before) if before is not None else None)
        return _walk(tx, f, record, initiator, decisions, database, lang)


def _walk(tx: Transaction, f: Any, record: dict[str, Any], initiator: str, decisions: dict[str, str],
          database: bool, lang: str = "en") -> list[Step]:
    env = tx.env
    steps: list[Step] = []
    queue: deque[tuple[str, tuple[str, ...]]] = deque([(f.first, ())])
    splits: dict[str, int] = {}
    arrivals: dict[str, int] = {}

    def ev(expr: Any) -> Any:
        return expr(record, env, initiator)

    while queue:
        if len(steps) > MAX_STEPS:
            steps.append(Step("-", "stop", says("stopped", lang, n=MAX_STEPS)))
            break
        name, stack = queue.popleft()
        node = f.nodes[name]
        d = node.defn
        if node.type == "condition":
            target = next((to for e, to in node.branches if ev(e) is True), d.default)
            steps.append(Step(name, "condition", says("goes_to", lang, target=target)))
            queue.append((target, stack))
        elif node.type in ("parallel", "inclusive"):
            targets = list(d.to) if node.type == "parallel" else (
                [to for e, to in node.branches if ev(e) is True] or [d.default])
            key = f"{name}#{len(splits)}"
            splits[key] = len(targets)
            steps.append(Step(name, node.type, says("splits", lang, targets=", ".join(targets))))
            queue.extend((t, (*stack, key)) for t in targets)
        elif node.type == "join":
            if not stack:
                queue.append((d.next, stack))
                continue
            key = stack[-1]
            arrivals[key] = arrivals.get(key, 0) + 1
            need = splits[key] if d.wait_for == "all" else min(int(d.wait_for), splits[key])
            if arrivals[key] == need:
                steps.append(Step(name, "join", says("joins", lang, need=need, target=d.next)))
                queue.append((d.next, stack[:-1]))
        elif node.type == "approval":
            if "auto_approve_if" in node.exprs and ev(node.exprs["auto_approve_if"]) is True:
                steps.append(Step(name, "approval", says("auto_approved", lang)))
                queue.append((d.next, stack))
                continue
            found = resolve(tx, node.approvers, record, initiator, f.entity, dry=True)
            users = expand(tx, [a for a in found if a[0] != "rule"]) if database else []
            asks = users or [f"{k}:{v}" if k != "user" else v for k, v in found]
            decision = decisions.get(name, "approve")
            if not asks:
                policy = d.if_no_approver
                text = says("nobody", lang, policy=policy if isinstance(policy, str) else "role " + policy.role)
                steps.append(Step(name, "approval", text))
                if policy == "fail":
                    break
                decision = "reject" if policy == "reject" else "approve"
            else:
                steps.append(Step(name, "approval", says("asks", lang, asks=", ".join(asks), mode=d.mode,
                                                         decision=says(decision + ("d" if decision == "approve" else "ed"), lang)),
                                  asks))
            if decision == "approve":
                queue.append((d.next, stack))
            elif d.on_reject:
                queue.append((d.on_reject, ()))
            else:
                steps.append(Step(name, "end", says("ends_rejected", lang)))
                break
        elif node.type == "wait":
            steps.append(Step(name, "wait", says("waits", lang, until=d.until or says("the_timer", lang))))
            queue.append((d.next, stack))
        elif node.type == "action":
            fields = tx.app.definition.entities[f.entity].fields
            parts = []
            if d.set:  # the record changes as it would at run time: later steps see the new values
                record = dry_record(tx, tx.app.compiled.entity(f.entity), {k: ev(node.exprs["set." + k]) for k in d.set},
                                    database, before=record)
                parts.append(says("sets", lang, values=", ".join(
                    f"{k} = {show(tx, record[k], fields[k].entity if fields[k].type == 'link' else None)}"
                    for k in d.set)))
            parts += [says("creates_per", lang, what=a_label(tx, c.entity, lang), per=c.group_by or says("row", lang),
                           each=c.for_each) if c.for_each else says("creates", lang, what=a_label(tx, c.entity, lang))
                      for c in d.create]
            parts += [says("changes", lang, entity=u.entity, where=u.where) for u in d.update]
            parts += [says("allocates", lang, rule=d.allocation().rule, mode=d.allocation().mode)] if d.allocate else []
            parts += [says("calls", lang, url=d.webhook.url)] if d.webhook else []
            parts += [says("notifies", lang, who=", ".join(a.spec.describe() for a in node.approvers))] if d.notify else []
            steps.append(Step(name, "action", ("; " if lang == "en" else ";").join(parts) or says("nothing", lang)))
            queue.append((d.next, stack))
        elif node.type == "decision":
            from ..decisions.flow_node import simulate_decision_node

            record, text, target = simulate_decision_node(tx, f, node, record, ev, database)
            steps.append(Step(name, "decision", text))
            queue.append((target, stack))
        elif node.type == "cc":
            steps.append(Step(name, "cc", says("tells", lang, who=", ".join(a.spec.describe() for a in node.approvers))))
            queue.append((d.next, stack))
        else:  # end
            steps.append(Step(name, "end", says("ends", lang, outcome=d.outcome or name)))
            if d.terminate:
                break
    return steps
