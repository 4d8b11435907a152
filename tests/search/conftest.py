from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from search.index import SearchIndex, Upsert  # noqa: E402
from search.schema import IndexedDocument  # noqa: E402

FONT_PLACES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SearchIndex]:
    ix = SearchIndex.create_or_open(tmp_path / "index")
    yield ix
    ix.close()


@pytest.fixture(scope="session")
def cyrillic_font() -> str:
    for place in FONT_PLACES:
        if Path(place).exists():
            return place
    pytest.skip("a font with Cyrillic (Debian fonts-dejavu-core) is needed to draw test files")


def doc(doc_id: str, title: str, content: str = "", **fields: object) -> IndexedDocument:
    fields.setdefault("version", "1")
    fields.setdefault("date", date(2024, 1, 1))
    return IndexedDocument(id=doc_id, title=title, content=content, **fields)  # type: ignore[arg-type]


def add(index: SearchIndex, *documents: IndexedDocument) -> None:
    index.apply([Upsert(d) for d in documents])
