"""Import every definition kind so that it registers itself in ``base.KINDS``."""

from . import entity, form, role  # noqa: F401
