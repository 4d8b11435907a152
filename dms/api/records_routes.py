"""Placeholder: records management API (issue 7)."""
from . import bp  # noqa: F401
