"""What the stores say about an object."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    sha256: str
    size: int
    modified: datetime  # timezone-aware, UTC
    existed: bool = False  # set by put(): the bytes were already stored and were not rewritten
