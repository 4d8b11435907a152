"""Placeholder: filled by the search integration."""
from ..cli import main  # noqa: F401
