"""Ordo's definition language: definition models, YAML loader, expression language."""
