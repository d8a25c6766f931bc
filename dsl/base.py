"""What every definition kind shares: a small protocol, like Starlette's BaseRoute.

A kind is a pydantic model with ``kind`` (its discriminator), ``name``, an
optional ``version`` and ``description``, and a ``check(ctx)`` method for the
cross-reference pass. Kinds register themselves in :data:`KINDS` with the
folder their files live in, so the loader, the JSON Schema export and the
designer treat all kinds alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from .check import CheckContext

IDENT = r"^[a-z][a-z0-9_]*$"
Label = str | dict[str, str]


def label_text(label: Label | None, lang: str = "en", fallback: str = "") -> str:
    """The label in ``lang`` (then English, then any), or ``fallback``."""
    if label is None:
        return fallback
    if isinstance(label, str):
        return label
    return label.get(lang) or label.get("en") or next(iter(label.values()), fallback)


def humanize(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


class Model(BaseModel):
    """Base of all definition models: unknown keys are errors; YAML round-trips."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False, defer_build=True)

    def to_data(self) -> dict[str, Any]:
        """Plain data as it would be written in YAML (defaults left out)."""
        return self.model_dump(mode="json", exclude_defaults=True, by_alias=True)


class Definition(Model):
    """Base of every top-level definition kind."""

    kind_name: ClassVar[str] = ""
    folder: ClassVar[str] = ""

    name: str = Field(pattern=IDENT, description="Identifier: lower case letters, digits and _")
    version: int | str | None = Field(default=None, description="Version of this definition")
    description: str | None = None

    def check(self, ctx: CheckContext) -> None:
        """Cross-reference checks; report problems with ``ctx.error``."""

    def to_yaml(self) -> str:
        import yaml  # PyYAML is not imported by opening an app (see yaml_source)

        data = {"kind": self.kind_name, **self.to_data()}
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def references(self) -> Sequence[tuple[str, str]]:
        """(kind, name) of other definitions this one depends on."""
        return ()


KINDS: dict[str, type[Definition]] = {}


def register_kind(cls: type[Definition]) -> type[Definition]:
    """Class decorator: make a definition kind known to the loader and schema export."""
    KINDS[cls.kind_name] = cls
    return cls
