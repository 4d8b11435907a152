"""Placeholder: filled by the signing_routes integration."""
from . import bp  # noqa: F401
