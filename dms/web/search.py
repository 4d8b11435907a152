"""Placeholder: filled by the search integration."""
from . import bp  # noqa: F401
