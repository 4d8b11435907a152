"""Placeholder: filled by the search_routes integration."""
from . import bp  # noqa: F401
