"""Placeholder: the dashboard (issue 8)."""
from . import bp  # noqa: F401
