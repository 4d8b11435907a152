"""Minimal DER assembly from already encoded parts."""

from __future__ import annotations


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element: tag byte, definite length, body."""
    return bytes([tag]) + _length(len(body)) + body
