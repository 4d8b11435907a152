"""Object keys: the lowercase hex SHA-256 of the bytes, validated before any use."""
from __future__ import annotations

import re

from .errors import InvalidKey

KEY_PATTERN = re.compile(r"[0-9a-f]{64}")


def is_key(candidate: object) -> bool:
    return isinstance(candidate, str) and KEY_PATTERN.fullmatch(candidate) is not None


def check_key(candidate: object) -> str:
    """Return the key unchanged, or raise InvalidKey."""
    if not is_key(candidate):
        raise InvalidKey(candidate)
    return candidate  # type: ignore[return-value]


def check_expected_sha256(candidate: str | None) -> str | None:
    """An expected digest may come from a client in upper case; it is compared in lower case."""
    if candidate is None:
        return None
    if not isinstance(candidate, str):
        raise InvalidKey(candidate)
    return check_key(candidate.lower())
