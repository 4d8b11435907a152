"""No result, total, facet, highlight or suggestion shows a document the user may not view,
and every document the user may view is found. Checked against a brute-force filter in Python."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import replace
from datetime import date

import pytest

from search.analysis import fold_yo, word_stems
from search.index import Delete, Upsert
from search.query import SearchRequest, search
from search.schema import IndexedDocument

WORDS = [
    "приказ", "свидетельство", "квалификация", "экзамен", "центр", "оценка", "эксперт", "соискатель",
    "практика", "держатель", "соглашение", "отчет", "мониторинг", "аудит", "бланк", "реестр", "заявление",
    "протокол", "комиссия", "апробация", "методика", "работодатель", "стандарт", "уровень", "профессия",
    "сварщик", "бухгалтер", "монтажник",
]
SECRET = "архивариус"
STATES = ("draft", "registered", "signed", "cancelled")
TYPES = ("order", "certificate", "agreement", "report")
ORGS = ("ЦОК-1", "ЦОК-2", "ЭМЦ")
OWNERS = ("u1", "u2", "u3", "u4")
# folder -> parent; the index holds each document's ancestor chain.
PARENTS = {"1": None, "2": "1", "3": "2", "4": "2", "5": "1", "6": "5", "7": "5", "8": "1", "9": "8"}
FACETS = ("doc_type", "state", "org", "year")

FILTERS = {
    "subtree": [{"folder_path": {"2"}}],
    "two_clauses": [{"folder_id": {"3", "7"}, "state": {"signed", "registered"}}, {"owner": {"u2"}}],
    "nothing": [],
    "owner_or_typed_subtree": [
        {"state": {"draft"}, "owner": {"u1"}},
        {"folder_path": {"5"}, "doc_type": {"order", "report"}},
    ],
    "everything": None,
}
QUERIES = (
    "", "приказ", "свидетельства", "экзамен центр", "эксперт OR аудит", "оценка NOT отчет",
    '"центр оценки"', "реестр тип:order", "квалификация состояние:signed", SECRET,
)
MISSPELLINGS = ("архиварис", "свидетельсто", "монтажнек")


def ancestors(folder: str) -> tuple[str, ...]:
    chain = []
    node: str | None = folder
    while node is not None:
        chain.append(node)
        node = PARENTS[node]
    return tuple(reversed(chain))


def random_document(rng: random.Random, n: int) -> IndexedDocument:
    folder = rng.choice(list(PARENTS))
    words = rng.choices(WORDS, k=25)
    if folder in ("6", "7") and rng.random() < 0.5:
        words.append(SECRET)
    return IndexedDocument(
        id=f"d{n}",
        version="1",
        title=" ".join(rng.choices(WORDS, k=3)),
        content=" ".join(words),
        doc_type=rng.choice(TYPES),
        state=rng.choice(STATES),
        org=rng.choice(ORGS),
        owner=rng.choice(OWNERS),
        folder_id=folder,
        folder_path=ancestors(folder),
        date=date(rng.choice((2022, 2023, 2024)), rng.randint(1, 12), 1),
    )


def visible(document: IndexedDocument, allowed) -> bool:
    if allowed is None:
        return True
    values = {
        "folder_id": {document.folder_id},
        "folder_path": set(document.folder_path),
        "state": {document.state},
        "owner": {document.owner},
        "doc_type": {document.doc_type},
    }
    return any(all(values[f] & set(v) for f, v in clause.items()) for clause in allowed)


def words_of(document: IndexedDocument) -> set[str]:
    return set(re.findall(r"\w+", fold_yo(f"{document.title} {document.content}").lower()))


def everything(index, q: str) -> set[str]:
    result = search(index, SearchRequest(q=q, allowed=None, page_size=200, highlight=False))
    assert result.total < 200
    return {hit.id for hit in result.items}


def check_filter(index, documents: dict[str, IndexedDocument], allowed) -> None:
    seen = {doc_id for doc_id, d in documents.items() if visible(d, allowed)}
    for q in QUERIES:
        expected = everything(index, q) & seen
        result = search(index, SearchRequest(q=q, allowed=allowed, page_size=200, facets=FACETS))
        got = [hit.id for hit in result.items]
        assert set(got) == expected, q
        assert result.total == len(expected), q
        for name in FACETS:
            counts = Counter(
                str(documents[i].date.year) if name == "year" else getattr(documents[i], name)
                for i in expected
            )
            assert result.facets[name] == dict(counts), (q, name)
        for hit in result.items:
            shown = set(re.findall(r"\w+", re.sub(r"<[^>]+>", " ", hit.highlight).lower()))
            assert shown <= words_of(documents[hit.id]) | {"hl", "term0", "term1"}, q
        small = search(index, SearchRequest(q=q, allowed=allowed, page_size=3, highlight=False))
        assert small.total == len(expected)
    visible_words = set().union(*(words_of(documents[i]) for i in seen)) if seen else set()
    visible_stems = set(word_stems(" ".join(visible_words)))
    for q in MISSPELLINGS:
        suggestion = search(index, SearchRequest(q=q, allowed=allowed)).suggestion
        if suggestion is not None:
            assert set(word_stems(suggestion)) <= visible_stems, (q, suggestion)
    suggestion = search(index, SearchRequest(q="архиварис", allowed=allowed)).suggestion
    assert (suggestion == SECRET) == (SECRET in visible_words)


@pytest.fixture
def populated(index):
    rng = random.Random(20241122)
    documents = {d.id: d for d in (random_document(rng, n) for n in range(180))}
    for start in range(0, 180, 60):  # several segments, as the indexer's batches make them
        index.apply([Upsert(d) for d in list(documents.values())[start:start + 60]])
    return index, documents, rng


@pytest.mark.parametrize("name", list(FILTERS))
def test_results_totals_facets_highlights_and_suggestions_match_brute_force(populated, name):
    index, documents, _ = populated
    check_filter(index, documents, FILTERS[name])


def test_filters_stay_exact_after_moves_state_changes_and_deletes(populated):
    index, documents, rng = populated
    for name in FILTERS:  # warm the per-segment caches first
        check_filter(index, documents, FILTERS[name])
    changed = []
    for doc_id in rng.sample(sorted(documents), 60):
        folder = rng.choice(list(PARENTS))
        moved = replace(documents[doc_id], folder_id=folder, folder_path=ancestors(folder),
                        state=rng.choice(STATES), version="2")
        documents[doc_id] = moved
        changed.append(Upsert(moved))
    gone = rng.sample(sorted(documents), 20)
    for doc_id in gone:
        del documents[doc_id]
    index.apply(changed + [Delete(doc_id) for doc_id in gone])
    for name in FILTERS:
        check_filter(index, documents, FILTERS[name])


def test_changing_sharing_needs_no_reindex(populated):
    index, documents, _ = populated
    before = index.doc_versions()
    narrow = search(index, SearchRequest(q="", allowed=[{"folder_path": {"3"}}], page_size=200))
    wide = search(index, SearchRequest(q="", allowed=[{"folder_path": {"2"}}], page_size=200))
    assert {h.id for h in narrow.items} < {h.id for h in wide.items}
    assert {h.id for h in wide.items} == {i for i, d in documents.items() if "2" in d.folder_path}
    assert index.doc_versions() == before
