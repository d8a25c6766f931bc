"""Decision tables (kind ``decision``, folder ``decisions/``): business rules as a table.

Inputs are expressions over the record of ``entity`` (or, without an entity, over named
variables given by the caller); outputs have a type, optional allowed values (which also
give the priority order of PRIORITY and OUTPUT ORDER) and a default used when no rule
matches. Each rule is a row: one unary-test cell per input (see :mod:`decision_cells`) and
one value per output (a literal, or ``= expression``). The hit policy says what the table
returns when several rules match (DMN 1.3: UNIQUE, ANY, PRIORITY, FIRST, RULE ORDER,
OUTPUT ORDER, COLLECT with the C+ C< C> C# aggregations).

Checked at load time: every cell compiles with its column in the file, values are inside
their allowed lists, and (:mod:`decision_check`) rules overlapping under UNIQUE or
disagreeing under ANY are errors; ``complete: true`` makes gaps errors too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import Definition, Label, Model, register_kind
from .check import CheckContext

NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
ValueType = Literal["string", "integer", "decimal", "boolean", "date", "datetime", "any"]
HitPolicy = Literal["UNIQUE", "ANY", "PRIORITY", "FIRST", "RULE ORDER", "OUTPUT ORDER", "COLLECT"]
Aggregation = Literal["SUM", "MIN", "MAX", "COUNT"]
Scalar = str | int | float | bool | None

_SHORT = {"U": "UNIQUE", "A": "ANY", "P": "PRIORITY", "F": "FIRST", "R": "RULE ORDER", "O": "OUTPUT ORDER",
          "C": "COLLECT"}
_AGG = {"+": "SUM", "<": "MIN", ">": "MAX", "#": "COUNT"}
MULTI_HIT = ("RULE ORDER", "OUTPUT ORDER", "COLLECT")
MAX_RULES = 2000  # rows of one table (each is checked against the others at load time)
MAX_COLUMNS = 50


class InputDef(Model):
    name: str = Field(pattern=NAME, description="Names the column (and, without an entity, the variable)")
    label: Label | None = None
    expr: str | None = Field(default=None, description="Expression giving the value (default: the name)")
    type: ValueType | None = Field(default=None, description="Value type (default: the expression's type)")
    values: list[Scalar] | None = Field(default=None, description="The values the input can take (its domain)")


class OutputDef(Model):
    name: str = Field(pattern=NAME)
    label: Label | None = None
    type: ValueType = "any"
    values: list[Scalar] | None = Field(
        default=None, description="Allowed values, highest priority first (PRIORITY, OUTPUT ORDER)")
    default: Scalar = Field(default=None, description="Value when no rule matches")


class RuleDef(Model):
    """A row: ``when`` (a cell per input: a list in input order, or input -> cell) and ``then`` (a value
    per output, likewise; a single output may be given alone). A plain list is a whole row: the input
    cells, then the output values."""

    id: str | None = Field(default=None, description="Names the rule in explanations (default: its number)")
    when: list[Scalar] | dict[str, Scalar] = Field(default_factory=list)
    then: list[Scalar] | dict[str, Scalar] | Scalar = None
    annotation: Label | None = Field(default=None, description="Why the rule exists (text or {en, zh})")
    row: list[Scalar] | None = Field(default=None, description="Input cells then output values")

    @model_validator(mode="before")
    @classmethod
    def _row(cls, data: Any) -> Any:
        return {"row": data} if isinstance(data, list) else data


@register_kind
class DecisionDef(Definition):
    """A decision table."""

    kind_name = "decision"
    folder = "decisions"

    kind: Literal["decision"] = "decision"
    label: Label | None = None
    entity: str | None = Field(default=None, description="Inputs are expressions over this entity's record")
    variables: dict[str, ValueType] = Field(
        default_factory=dict, description="Without an entity: extra named values the inputs and cells read")
    hit_policy: HitPolicy = "UNIQUE"
    aggregation: Aggregation | None = Field(default=None, description="COLLECT only: SUM (C+), MIN (C<), "
                                                                      "MAX (C>) or COUNT (C#)")
    complete: bool = Field(default=False, description="Every input combination must be covered (gaps are errors)")
    inputs: list[InputDef] = Field(default_factory=list, max_length=MAX_COLUMNS)
    outputs: list[OutputDef] = Field(min_length=1, max_length=MAX_COLUMNS)
    rules: list[RuleDef] = Field(default_factory=list, max_length=MAX_RULES)

    @field_validator("hit_policy", mode="before")
    @classmethod
    def _policy(cls, v: Any) -> Any:
        if isinstance(v, str):
            s = v.strip().upper().replace("_", " ")
            return _SHORT.get(s[:1], s) if len(s) <= 2 else s
        return v

    @model_validator(mode="before")
    @classmethod
    def _collect_short(cls, data: Any) -> Any:
        """``hit_policy: C+`` is COLLECT with the SUM aggregation."""
        if isinstance(data, dict) and isinstance(data.get("hit_policy"), str):
            s = data["hit_policy"].strip().upper()
            if len(s) == 2 and s[0] == "C" and s[1] in _AGG and "aggregation" not in data:
                data = {**data, "hit_policy": "COLLECT", "aggregation": _AGG[s[1]]}
        return data

    @model_validator(mode="after")
    def _shape(self) -> DecisionDef:
        if self.aggregation is not None and self.hit_policy != "COLLECT":
            raise ValueError("aggregation is only for the COLLECT hit policy")
        if self.aggregation is not None and len(self.outputs) != 1:
            raise ValueError("an aggregation (C+, C<, C>, C#) needs exactly one output")
        return self

    @property
    def multi_hit(self) -> bool:
        return self.hit_policy in MULTI_HIT and self.aggregation is None

    def policy_text(self) -> str:
        if self.aggregation:
            return "C" + {v: k for k, v in _AGG.items()}[self.aggregation]
        return self.hit_policy

    def rule_id(self, i: int) -> str:
        return self.rules[i].id or f"rule {i + 1}"

    def references(self) -> list[tuple[str, str]]:
        return [("entity", self.entity)] if self.entity else []

    def check(self, ctx: CheckContext) -> None:
        from .decision_build import build_table

        build_table(self, ctx.schema, ctx)
