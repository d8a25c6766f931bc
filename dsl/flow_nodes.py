"""The node kinds of a flow graph (see ``flow.py``): one pydantic model per ``type``.

Nodes name their successors (``next``, ``to``, branch targets); the flow checks
every name, reachability and dead ends at load time.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import Label, Model

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
HUMAN_ACTIONS = ("approve", "reject", "transfer", "add_approver", "comment", "urge", "withdraw")


def parse_duration(text: str) -> dt.timedelta:
    """``'4h'``, ``'30m'``, ``'2d'``, ``'1w'``, ``'90s'`` -> timedelta (ValueError otherwise)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit (s, m, h, d, w), e.g. '4h'")
    return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


class _Duration(Model):
    after: str = Field(description="Duration such as '4h', '30m', '2d', '1w'")

    @field_validator("after")
    @classmethod
    def _valid(cls, v: str) -> str:
        parse_duration(v)
        return v


class ApproverSpec(Model):
    """Who is asked: exactly one of role, user, field, expr or assignment."""

    role: str | None = Field(default=None, description="Every active member of a role")
    user: str | None = Field(default=None, description="A user name")
    field: str | None = Field(default=None, description="A field path of the record holding a user name, "
                                                        "e.g. owner.manager (a link uses the linked record's name)")
    expr: str | None = Field(default=None, description="An expression returning a user name or a list of names")
    assignment: str | None = Field(default=None, description="An assignment rule returning user names")

    @model_validator(mode="after")
    def _exactly_one(self) -> ApproverSpec:
        given = [k for k in ("role", "user", "field", "expr", "assignment") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of role, user, field, expr or assignment"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    def describe(self) -> str:
        for k in ("role", "user", "field", "expr", "assignment"):
            v = getattr(self, k)
            if v is not None:
                return f"{k}:{v}"
        return "?"


_PEOPLE = ("role", "user", "field", "expr", "assignment")


class TimeoutDef(_Duration):
    """What happens when a task waits too long (only if ``when`` holds at that time)."""

    action: Literal["remind", "escalate", "approve", "reject", "goto"] = "remind"
    when: str | None = Field(default=None, description="Act only if this holds when the time is up (checked "
                                                        "then, on the record as it is)")
    role: str | None = Field(default=None, description="escalate: the role the task moves to")
    user: str | None = Field(default=None, description="escalate: the user the task moves to")
    field: str | None = Field(default=None, description="escalate: a field path of the record holding the user "
                                                        "(e.g. department.head; a link gives the linked record's "
                                                        "name)")
    expr: str | None = Field(default=None, description="escalate: an expression giving a user name or a list")
    assignment: str | None = Field(default=None, description="escalate: an assignment rule giving the users")
    to: str | None = Field(default=None, description="goto: the node the flow moves to")
    repeat: bool = Field(default=False, description="remind: remind again every 'after'")

    @model_validator(mode="after")
    def _settings(self) -> TimeoutDef:
        people = self.people()
        if self.action == "escalate" and len(people) != 1:
            raise ValueError("an 'escalate' timeout names who takes over with exactly one of role, user, field, "
                             "expr or assignment" + (f" (got {', '.join(people)})" if people else ""))
        if self.action == "goto" and not self.to:
            raise ValueError("a 'goto' timeout needs 'to' (a node name)")
        if self.repeat and self.action != "remind":
            raise ValueError("'repeat' applies to 'remind' timeouts only")
        return self

    def people(self) -> list[str]:
        """The keys naming people that are given (meaningful for 'escalate' only; checked by the flow)."""
        return [k for k in _PEOPLE if getattr(self, k) is not None]

    def escalate_to(self) -> ApproverSpec | None:
        """Who an escalation hands the task to, as an approver spec (None for other actions)."""
        if self.action != "escalate":
            return None
        return ApproverSpec(**{k: getattr(self, k) for k in _PEOPLE if getattr(self, k) is not None})


class NoApproverRole(Model):
    role: str


class Branch(Model):
    when: str = Field(description="Condition (expression on the record)")
    to: str = Field(description="Node to go to when the condition holds")


class _Node(Model):
    label: Label | None = None
    state: str | None = Field(default=None, description="Value written to the flow's state_field at this node "
                                                        "(default: the node name)")


class ApprovalNode(_Node):
    type: Literal["approval"]
    approvers: list[ApproverSpec] = Field(min_length=1)
    mode: Literal["any", "all", "sequential"] = Field(
        default="any", description="any: one approval suffices (or-sign); all: everyone approves (countersign); "
                                   "sequential: one after another")
    min_approvals: int | None = Field(default=None, ge=1, description="Complete after this many approvals "
                                                                      "(e.g. 2 of 3), mode all")
    auto_approve_if: str | None = Field(default=None, description="Approve automatically when this holds")
    if_no_approver: Literal["skip", "approve", "reject", "fail"] | NoApproverRole = "fail"
    skip_same_approver: bool = Field(default=False, description="Auto-approve for someone who approved the "
                                                                "previous approval step")
    timeout: TimeoutDef | list[TimeoutDef] | None = None
    due: str | None = Field(default=None, description="Tasks are overdue after this long (default: the first "
                                                      "timeout)")
    comment_required: bool | list[Literal["approve", "reject", "transfer", "add_approver"]] = False
    on_reject: str | None = Field(default=None, description="Node to go to on reject (default: end, rejected)")
    notify: bool = Field(default=True, description="Tell assignees about new tasks (inbox notification)")
    next: str | None = None

    @field_validator("due")
    @classmethod
    def _due(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    def timeouts(self) -> list[TimeoutDef]:
        t = self.timeout
        return [] if t is None else (t if isinstance(t, list) else [t])


class ConditionNode(_Node):
    type: Literal["condition"]
    branches: list[Branch] = Field(min_length=1)
    default: str | None = Field(default=None, description="Node when no branch holds")


class InclusiveNode(_Node):
    type: Literal["inclusive"]
    branches: list[Branch] = Field(min_length=1)
    default: str | None = Field(default=None, description="Node when no branch holds")


class ParallelNode(_Node):
    type: Literal["parallel"]
    to: list[str] = Field(min_length=2)


class JoinNode(_Node):
    type: Literal["join"]
    wait_for: Literal["all"] | Annotated[int, Field(ge=1)] = Field(
        default="all", description="'all' branches that were started, or the first N")
    cancel_remaining: bool = Field(default=False, description="With wait_for N: cancel the branches still running")
    next: str | None = None


class RowsSpec(Model):
    """Child rows of each record a ``for_each`` create makes: one row per source row of the group."""

    field: str = Field(description="Table field of the created record")
    values: dict[str, str] = Field(default_factory=dict, description="Row field -> expression (flow record "
                                                                     "fields, 'row' is the source row)")


class CreateSpec(Model):
    entity: str
    values: dict[str, str] = Field(default_factory=dict, description="Field -> expression on the flow's record "
                                                                     "(with for_each, 'row' is the first row of "
                                                                     "the group)")
    for_each: str | None = Field(default=None, description="A table or related field of the flow's record: "
                                                           "create one record per row (or per group)")
    where: str | None = Field(default=None, description="for_each: only rows for which this holds ('row')")
    group_by: str | None = Field(default=None, description="for_each: one record per distinct value of this "
                                                           "expression ('row')")
    rows: RowsSpec | None = Field(default=None, description="for_each: child rows of each created record, one "
                                                            "per row of its group")

    @model_validator(mode="after")
    def _each(self) -> CreateSpec:
        if self.for_each is None and (self.where or self.group_by or self.rows):
            raise ValueError("'where', 'group_by' and 'rows' need 'for_each'")
        return self


class UpdateRowsSpec(Model):
    """Change child rows of each record an ``update`` finds."""

    table: str = Field(description="Table field of the records being changed")
    where: str | None = Field(default=None, description="Only rows for which this holds (over the row; 'record' "
                                                        "is the flow's record)")
    set: dict[str, str] = Field(min_length=1, description="Row field -> expression over the row")


class UpdateSpec(Model):
    """Change other records, found by a filter, with expressions over each of them."""

    entity: str
    where: str = Field(description="Filter over the records of 'entity' (runs in SQL); 'record' is the flow's "
                                   "record")
    set: dict[str, str] = Field(default_factory=dict, description="Field -> expression over the record being "
                                                                  "changed; 'record' is the flow's record")
    rows: UpdateRowsSpec | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateSpec:
        if not self.set and self.rows is None:
            raise ValueError("an update needs 'set', 'rows' or both")
        return self


class AllocateSpec(Model):
    """Run an allocation rule: reserve (allocate), give back (release) or use up (consume)."""

    rule: str
    mode: Literal["allocate", "release", "consume"] = "allocate"
    demand: str | None = Field(default=None, description="Expression giving the demand record (default: the "
                                                         "flow's record)")
    where: str | None = Field(default=None, description="consume: only the allocation records for which this "
                                                        "holds (runs in SQL; 'record' is the flow's record)")


class WebhookSpec(Model):
    url: str
    body: dict[str, str] = Field(default_factory=dict, description="Key -> expression; the record id, name and "
                                                                  "flow are always sent")


class NotifySpec(Model):
    to: list[ApproverSpec] = Field(min_length=1)
    subject: str = Field(description="Text; {expression} parts are filled in")
    body: str = ""
    channel: Literal["inbox", "email"] = "inbox"


class ActionNode(_Node):
    type: Literal["action"]
    set: dict[str, str] = Field(default_factory=dict, description="Field -> expression")
    create: list[CreateSpec] = Field(default_factory=list)
    update: list[UpdateSpec] = Field(default_factory=list, description="Change records found by a filter")
    allocate: str | AllocateSpec | None = Field(default=None, description="An allocation rule to run on the "
                                                                          "record, or {rule, mode, demand, where}")
    webhook: WebhookSpec | None = None
    notify: NotifySpec | None = None
    next: str | None = None

    @field_validator("create", "update", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, dict) else v

    def allocation(self) -> AllocateSpec | None:
        a = self.allocate
        # ``allocate: RULE`` (a str, validated with the node): constructed unchecked, no validator built for it
        return AllocateSpec.model_construct(rule=a) if isinstance(a, str) else a


class CcNode(_Node):
    type: Literal["cc"]
    to: list[ApproverSpec] = Field(min_length=1)
    subject: str
    body: str = ""
    channel: Literal["inbox", "email"] = "inbox"
    next: str | None = None


class WaitTimeout(Model):
    after: str | None = Field(default=None, description="Duration such as '4h', '30m', '2d', '1w'")
    at: str | None = Field(default=None, description="Expression giving the date-time when the time is up "
                                                     "(e.g. a deadline field); null: 'after' applies")
    to: str | None = Field(default=None, description="Node to go to when the time is up (default: next)")

    @field_validator("after")
    @classmethod
    def _valid(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @model_validator(mode="after")
    def _when(self) -> WaitTimeout:
        if self.after is None and self.at is None:
            raise ValueError("a wait timeout needs 'after', 'at' or both")
        return self


class WaitNode(_Node):
    type: Literal["wait"]
    until: str | None = Field(default=None, description="Continue as soon as this holds")
    timeout: WaitTimeout | None = None
    next: str | None = None

    @model_validator(mode="after")
    def _something(self) -> WaitNode:
        if self.until is None and self.timeout is None:
            raise ValueError("a wait node needs 'until', 'timeout' or both")
        return self


class DecisionNode(_Node):
    """Evaluate a decision table on the record, write its outputs to fields, then branch."""

    type: Literal["decision"]
    decision: str = Field(description="The decision table (its entity is the flow's)")
    set: dict[str, str] = Field(default_factory=dict, description="Field -> output written to the record "
                                                                  "(default: the outputs named like fields)")
    branches: list[Branch] = Field(default_factory=list, description="First branch that holds (after the "
                                                                     "outputs are written) is taken")
    next: str | None = Field(default=None, description="Node when no branch holds")


class EndNode(_Node):
    type: Literal["end"]
    outcome: str | None = Field(default=None, description="Outcome of the flow (default: the node name)")
    terminate: bool = Field(default=True, description="End the whole flow (false: end only this branch)")


Node = Annotated[
    ApprovalNode | ConditionNode | InclusiveNode | ParallelNode | JoinNode | ActionNode | CcNode | WaitNode
    | EndNode | DecisionNode,
    Field(discriminator="type"),
]


def successors(node: object) -> list[tuple[tuple[str | int, ...], str]]:
    """(path inside the node, target name) of every edge leaving ``node``."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(node, (ConditionNode, InclusiveNode, DecisionNode)):
        out += [(("branches", i, "to"), b.to) for i, b in enumerate(node.branches)]
        if getattr(node, "default", None):
            out.append((("default",), node.default))
    elif isinstance(node, ParallelNode):
        out += [(("to", i), t) for i, t in enumerate(node.to)]
    if isinstance(node, ApprovalNode):
        if node.on_reject:
            out.append((("on_reject",), node.on_reject))
        for i, t in enumerate(node.timeouts()):
            if t.to:
                out.append((("timeout", i) if isinstance(node.timeout, list) else ("timeout", "to"), t.to))
    if isinstance(node, WaitNode) and node.timeout and node.timeout.to:
        out.append((("timeout", "to"), node.timeout.to))
    nxt = getattr(node, "next", None)
    if nxt:
        out.append((("next",), nxt))
    return out
