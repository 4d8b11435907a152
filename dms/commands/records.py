"""Placeholder: records management commands (issue 7)."""
from ..cli import main  # noqa: F401
