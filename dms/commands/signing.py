"""Placeholder: filled by the signing integration."""
from ..cli import main  # noqa: F401
