"""The declarative base every table of the archive derives from, and the ids rule (a leaf: dms.models and each
capability's own models (dms.approvals.models) import it; dms.models gathers them all into one schema)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(UTC)


# Ids of documents, versions, signatures, audit events and folders are never given again, also on SQLite (whose
# plain rowid hands a deleted newest id to the next row): a destroyed document's history and audit events must
# never mix with a new document's. PostgreSQL sequences never go back anyway. Migration 0012.
NEVER_REUSED = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}
