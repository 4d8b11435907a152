"""Placeholder: filled by the signing integration."""
from . import bp  # noqa: F401
