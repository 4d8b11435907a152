"""The index schema and the document record the application hands to the index."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from whoosh.analysis import Analyzer
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from search.analysis import (
    keyword_analyzer,
    normalize_number,
    number_analyzer,
    tags_analyzer,
    text_analyzer,
)
from search.errors import InvalidDocumentError
from search.positions import ArrayPositions

# Highlights are computed from a compressed excerpt kept in the index; the bound keeps a long
# document from blowing the per-document size budget (a loader can supply the full text).
EXCERPT_CHARS = 20_000

FACET_FIELDS = ("doc_type", "state", "org", "year")
TEXT_FIELDS = ("title", "content", "people")
NUMBER_FIELDS = ("reg_number", "cert_number", "blank_number")

# The format of what the index holds: raised whenever the terms of a text or the fields change, so
# that an index written by older code is refused (``StaleIndexError``) until ``dms reindex``
# rebuilds it, instead of mixing two kinds of terms. 1: Snowball stems (no version file);
# 2: dictionary lemmas, stop words keep their positions, numbers folded (dashes and spaces alike),
# the blank number field.
INDEX_FORMAT = 2


def _stored(field: TEXT) -> TEXT:
    field.stored = True
    return field


def _text(analyzer: Analyzer, field_boost: float = 1.0) -> TEXT:
    field = TEXT(analyzer=analyzer, stored=False, field_boost=field_boost)
    field.format = ArrayPositions(field_boost=field_boost)
    return field


def build_schema() -> Schema:
    """The schema of the document index."""
    keywords = keyword_analyzer()
    numbers = number_analyzer()
    # One text analyzer (and one stem cache) for all text fields.
    text = text_analyzer()
    return Schema(
        id=ID(unique=True, stored=True, sortable=True),
        version=ID(stored=False, sortable=True),
        title=_stored(_text(text, field_boost=2.0)),
        content=_text(text),
        excerpt=STORED(),
        people=_text(text),
        reg_number=ID(analyzer=numbers, stored=True),
        cert_number=ID(analyzer=numbers, stored=True),
        blank_number=ID(analyzer=numbers, stored=True),
        doc_type=ID(analyzer=keywords, stored=True, sortable=True),
        state=ID(analyzer=keywords, stored=True, sortable=True),
        org=ID(analyzer=keywords, stored=True, sortable=True),
        owner=ID(analyzer=keywords, stored=False),
        folder_id=ID(analyzer=keywords, stored=False),
        folder_path=KEYWORD(stored=False, scorable=True),
        tags=KEYWORD(analyzer=tags_analyzer(), stored=False, scorable=True),
        date=DATETIME(stored=True, sortable=True),
        year=NUMERIC(int, bits=32, stored=False, sortable=True, signed=False),
    )


@dataclass(frozen=True)
class IndexedDocument:
    """What the index knows of one document; ``version`` lets `dms check` detect drift."""

    id: str
    version: str
    title: str
    content: str = ""
    doc_type: str = ""
    state: str = ""
    org: str = ""
    folder_id: str = ""
    folder_path: tuple[str, ...] = ()
    owner: str = ""
    reg_number: str = ""
    cert_number: str = ""
    blank_number: str = ""
    people: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    date: date | datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


def compress_excerpt(text: str) -> bytes:
    return zlib.compress(text[:EXCERPT_CHARS].encode("utf-8"), 6)


def decompress_excerpt(blob: bytes | None) -> str:
    return zlib.decompress(blob).decode("utf-8") if blob else ""


def to_fields(doc: IndexedDocument) -> dict[str, Any]:
    """The Whoosh field values of a document; empty values are left out."""
    if not doc.id or not str(doc.id).strip():
        raise InvalidDocumentError("a document to index needs a non-empty id")
    if doc.version is None or str(doc.version) == "":
        raise InvalidDocumentError(f"document {doc.id}: a version is needed to detect drift")
    when = _as_datetime(doc.date)
    values: dict[str, Any] = {
        "id": str(doc.id),
        "version": str(doc.version),
        "title": doc.title or "",
        "content": doc.content or "",
        "excerpt": compress_excerpt(doc.content) if doc.content else None,
        "people": " ".join(doc.people),
        "reg_number": doc.reg_number,
        "cert_number": doc.cert_number,
        "blank_number": doc.blank_number,
        "doc_type": doc.doc_type,
        "state": doc.state,
        "org": doc.org,
        "owner": doc.owner,
        "folder_id": str(doc.folder_id) if doc.folder_id != "" else "",
        "folder_path": " ".join(str(p) for p in doc.folder_path),
        "tags": ",".join(t.replace(",", " ") for t in doc.tags),
        "date": when,
        "year": when.year if when else None,
    }
    return {k: v for k, v in values.items() if v not in (None, "", " ")}


__all__ = [
    "FACET_FIELDS",
    "INDEX_FORMAT",
    "NUMBER_FIELDS",
    "TEXT_FIELDS",
    "IndexedDocument",
    "build_schema",
    "decompress_excerpt",
    "normalize_number",
    "to_fields",
]
