"""Placeholder: filled by the backup/restore work."""
from ..cli import main  # noqa: F401
