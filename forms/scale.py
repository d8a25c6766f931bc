"""The decimal places a computed value is shown with in a form, as the server shows it.

:func:`ordo.engine.scales.expr_scale` reads a checked tree against the compiled app; forms work from
the definitions, so this module gives it the same view of them (field definitions and their computed
expressions), compiling nothing that the app did not compile already (expressions are memoized).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ordo.dsl.app import AppDefinition
from ordo.dsl.expr import CompiledExpression, Scope, compile_expression
from ordo.dsl.field import FieldDef
from ordo.engine.scales import expr_scale as _expr_scale


@dataclass
class _Field:
    defn: FieldDef
    computed: CompiledExpression | None

    @property
    def type(self) -> Any:
        return self.computed.type if self.computed is not None else self.defn.value_type()


class _Entity:
    def __init__(self, app: AppDefinition, name: str) -> None:
        self.app, self.name = app, name

    @property
    def fields(self) -> dict[str, _Field]:
        entity = self.app.get("entity", self.name)
        out = {}
        for n, f in entity.fields.items():
            computed = compile_expression(f.expr, Scope(self.app.schema, self.name)) if f.type == "computed" \
                else None
            out[n] = _Field(f, computed)
        return out


class _Entities:
    def __init__(self, app: AppDefinition) -> None:
        self.app = app

    def get(self, name: str) -> _Entity | None:
        return _Entity(self.app, name) if self.app.get("entity", name) is not None else None


@dataclass
class _AppView:
    entities: _Entities


def expr_scale(app: AppDefinition, compiled: CompiledExpression) -> int | None:
    """Decimal places of ``compiled``'s values when its expression fixes them (None: as computed)."""
    if compiled.type.kind not in ("decimal", "integer"):
        return None
    return _expr_scale(_AppView(_Entities(app)), compiled.tree)  # type: ignore[arg-type]
