"""Errors the services raise; views and the CLI map each to a status code / exit code and a message.

A message is written in Russian and is its own msgid: values go in as named parameters
(`NotFound("нет пользователя «%(login)s»", login=login)`), so `message` can be read in the language of the
request being served (English when the user chose it, Russian everywhere else: CLI, logs, tests). The exception
classes are extraction keywords (babel.cfg, scripts/i18n); strings in `details` are marked with N_.
"""
from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Marks a message for the catalog where it is written; it is translated where it is shown."""
    return message


def localize(message: str, params: dict[str, Any] | None = None) -> str:
    """`message` (a Russian msgid) in the current request's language, with its parameters filled in."""
    from flask_babel import gettext
    return gettext(message, **(params or {}))


class DmsError(Exception):
    status = 400

    def __init__(self, message: str, details: dict | None = None, **params: Any):
        super().__init__(message % params if params else message)
        self.msgid = message
        self.params = params
        self._details = details or {}

    @property
    def message(self) -> str:
        return localize(self.msgid, self.params)

    @property
    def details(self) -> dict:
        return {k: localize(v) if isinstance(v, str) else v for k, v in self._details.items()}


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
