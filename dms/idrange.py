"""Integer ids as every supported database stores them: 0 … 2^31−1 (the `Integer` columns are PostgreSQL's 4-byte
integer; SQLite's are 8 bytes). A larger number in a URL or a JSON body is no id at all: the URL converter below
makes such a path a 404 and `parse_id` such a field a 400 — before the database refuses it on the query, a 500
(SQLite: OverflowError past 2^63−1; PostgreSQL: "integer out of range" past 2^31−1)."""
from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, PathConverter

MAX_ID = 2**31 - 1


def _at_most(limit: int) -> str:
    """A regular expression for the decimal numbers 0 … limit (ASCII digits, no sign; leading zeros allowed)."""
    digits = str(limit)
    parts = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, d in enumerate(digits):  # same prefix, a smaller digit here, anything after
        if d != "0":
            parts.append(f"{digits[:i]}[0-{int(d) - 1}][0-9]{{{len(digits) - i - 1}}}")
    parts.append(digits)
    return "(?:" + "|".join(parts) + ")"


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` in every route: ASCII digits, at most MAX_ID. A larger number matches no route at all, so every
    method answers 404 (with a check in to_python only, a route for another method would still match the path and
    the answer would be a 405 naming methods that do not work there either)."""

    regex = _at_most(MAX_ID)

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max,
                         signed=signed)


def is_id(value: object) -> bool:
    """A JSON value that can be an id: an int (not a bool) in 0 … MAX_ID."""
    return type(value) is int and 0 <= value <= MAX_ID


def digits(text: str) -> bool:
    """Whether `text` is ASCII digits only, what int() takes without surprise: str.isdigit() also says yes to «²»
    (int() then raises) and to other scripts' digits. Every page number, id, revision and code field asks this."""
    return text.isascii() and text.isdigit()


def parse_id(raw: object) -> int | None:
    """An id from a JSON value or a form/query string ("12"); None when it is not one (wrong type, sign, size,
    non-ASCII digits such as "²")."""
    if type(raw) is int:
        return raw if 0 <= raw <= MAX_ID else None
    if isinstance(raw, str):
        text = raw.strip()
        if digits(text) and len(text) <= 19:
            value = int(text)
            return value if value <= MAX_ID else None
    return None


class CertificateNumberConverter(PathConverter):
    """`<certno:…>`: a certificate number (a pattern may put '/' in it, so a path), but never the API's own words
    beside it (/certificates/batches…, /certificates/blanks): with a plain path converter, GET /certificates/{number}
    matched POST-only paths such as /certificates/batches/x/issue and turned their 404 into a 405 naming GET."""

    regex = r"(?!(?:batches|blanks)(?:/|$))[^/].*?"
