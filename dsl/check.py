"""The cross-reference (lint) pass shared by all definition kinds.

A :class:`CheckContext` is handed to ``Definition.check``; it knows the whole
app (to resolve references) and where the definition came from (to report
``file:line:column``). Expression errors are mapped from their position inside
the expression text to the position in the YAML file.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError, ExpressionError, ExpressionErrors
from .expr import CompiledExpression, Scope, compile_expression
from .expr.types import Type
from .yaml_source import SourceDoc

if TYPE_CHECKING:
    from .app import AppDefinition
    from .base import Definition


class CheckContext:
    def __init__(
        self,
        app: AppDefinition,
        definition: Definition,
        source: SourceDoc | None,
        base: tuple[str | int, ...] = (),
    ) -> None:
        self.app = app
        self.definition = definition
        self.source = source
        self.base = base
        self.errors: list[DefinitionError] = []

    @property
    def schema(self):
        return self.app.schema

    def error(self, path: Sequence[str | int], message: str, *, key: bool = False) -> None:
        shown = (self.definition.kind_name, self.definition.name, *path)
        if self.source is None:
            self.errors.append(DefinitionError(message, file=f"<{self.definition.kind_name}>", path=shown))
            return
        self.errors.append(self.source.error((*self.base, *path), message, key=key, shown_path=shown))

    def expression_error(self, path: Sequence[str | int], err: ExpressionError) -> None:
        shown = (self.definition.kind_name, self.definition.name, *path)
        msg = f"{err.message} in expression {err.text!r}"
        if self.source is None:
            self.errors.append(DefinitionError(msg, file=f"<{self.definition.kind_name}>", path=shown))
            return
        line, col = self.source.text_position((*self.base, *path), err.line, err.column)
        file = self.source.file_at((*self.base, *path))
        self.errors.append(DefinitionError(msg, file=file, line=line, column=col, path=shown))

    def expr(
        self, path: Sequence[str | int], text: Any, scope: Scope, expect: Type | None = None
    ) -> CompiledExpression | None:
        """Compile ``text`` in ``scope``, reporting errors at its place in the file."""
        if not isinstance(text, str):
            self.error(path, f"expected an expression (text), got {type(text).__name__}")
            return None
        try:
            return compile_expression(text, scope, expect)
        except ExpressionErrors as errs:
            for e in errs.errors:
                self.expression_error(path, e)
        except ExpressionError as e:
            self.expression_error(path, e)
        return None

    def ref(self, path: Sequence[str | int], kind: str, name: str, what: str | None = None) -> Any:
        """The ``kind`` definition called ``name``, or report an unknown reference."""
        found = self.app.get(kind, name)
        if found is None and (kind, name) not in self.app.broken:
            known = list(self.app.names(kind))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else (f"; known: {', '.join(known[:8])}" if known else "")
            self.error(path, f"unknown {what or kind} '{name}'{hint}")
        return found

