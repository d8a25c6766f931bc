"""Role definitions (``roles.yaml``): named groups of users that permissions and flows refer to."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Definition, Label, register_kind


@register_kind
class RoleDef(Definition):
    """A role. Members are assigned at run time (users table); ``users`` seeds them."""

    kind_name = "role"
    folder = "roles"

    kind: Literal["role"] = "role"
    label: Label | None = None
    users: list[str] = Field(default_factory=list, description="User names granted this role when the app starts")
