"""Placeholder: records management pages (issue 7)."""
from . import bp  # noqa: F401
