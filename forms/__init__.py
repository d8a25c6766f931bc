"""Forms: JSON Schema of each entity's records and HTML rendering of form layouts."""

from .render import FormRenderer, render_form
from .schema import entity_json_schema

__all__ = ["FormRenderer", "entity_json_schema", "render_form"]
