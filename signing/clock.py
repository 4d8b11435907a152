"""The one place the signing library (and the archive, through it) reads "now".

Tests move time with time-machine, which patches ``datetime.now``; code that needs the current
moment calls :func:`now` rather than reading the system clock itself, so there is one seam.
"""

from __future__ import annotations

from datetime import datetime, UTC


def now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return datetime.now(UTC)
