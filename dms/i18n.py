"""The interface language: Russian first, English second (Flask-Babel).

The msgids are the Russian strings themselves, so a page renders in Russian with no catalog at all; English comes
from dms/translations/en/LC_MESSAGES/messages.mo. Only an explicit choice (the «RU | EN» switch, kept in a cookie)
selects English: the archive serves a Russian agency whose staff often run browsers that send Accept-Language: en,
so the browser's header does not decide.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from flask import Flask, request
from flask_babel import Babel, get_locale

LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"
COOKIE = "dms_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

babel = Babel()


def select_locale() -> str:
    chosen = request.cookies.get(COOKIE, "") if request else ""
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def current_locale() -> str:
    """'ru' or 'en' for the request being served (Russian outside a request)."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LOCALES else DEFAULT_LOCALE


def same_site_path(target: str | None) -> str | None:
    """`target` if it is a path on this site (no scheme, no host, no '//' or '\\' tricks, no control characters:
    a CR/LF would split the Location header), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _here() -> str:
    """Where the language switch returns to: this page, if it can be opened again with GET."""
    if request.method != "GET":
        return "/"
    return request.full_path.rstrip("?")


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))

    app.add_template_filter(format_day, "day")
    app.add_template_filter(format_moment, "moment")
    app.add_template_filter(format_number, "number")

    @app.context_processor
    def _language() -> dict:
        return {"current_locale": current_locale(), "language_return": _here(), "locales": LOCALES}


def pick(ru: str, en: str) -> str:
    """Of a label kept as data in both languages (doctypes, workflow, roles), the one of the current locale."""
    return en if en and current_locale() == "en" else ru


# Dates as each locale writes them in tables: 22.11.2026 in Russian, 22 Nov 2026 in English.
DATE_PATTERNS = {"ru": "dd.MM.yyyy", "en": "d MMM yyyy"}
TIME_PATTERNS = {"ru": "HH:mm", "en": "HH:mm"}


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value


def format_day(value) -> str:  # noqa: ANN001
    """A date (or datetime, or ISO string) as the current locale writes a day; '' for nothing."""
    if not value:
        return ""
    locale = current_locale()
    return format_date(_as_date(value), DATE_PATTERNS[locale], locale=locale)


def format_number(value: int | float) -> str:
    return format_decimal(value, locale=current_locale())


def format_moment(value, seconds: bool = False) -> str:  # noqa: ANN001
    """A datetime as day and time of the current locale (the time as stored: the archive runs on one clock)."""
    if not value:
        return ""
    locale = current_locale()
    pattern = TIME_PATTERNS[locale] + (":ss" if seconds else "")
    return f"{format_day(value)} {format_time(value, pattern, locale=locale)}"
