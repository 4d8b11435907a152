"""Errors the services raise; views and the CLI map each to a status code / exit code and a message."""
from __future__ import annotations


class DmsError(Exception):
    status = 400

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(DmsError):
    status = 404


class Conflict(DmsError):
    """A stale revision (someone else changed the object) or a duplicate name."""
    status = 409


class PreconditionFailed(DmsError):
    status = 412


class TooLarge(DmsError):
    status = 413


class UnsupportedMediaType(DmsError):
    status = 415


class Invalid(DmsError):
    status = 400


class AuthError(DmsError):
    status = 401


class Throttled(DmsError):
    status = 429
