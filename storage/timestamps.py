"""Times in the stores are timezone-aware and in UTC."""
from __future__ import annotations

from datetime import datetime, UTC


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: pass a timezone-aware datetime")
    return moment.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)
