"""Searching: query syntax, field filters, the access filter, facets, highlights, "did you mean"."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from whoosh import query as wq
from whoosh.qparser import (
    AndGroup,
    FieldAliasPlugin,
    MultifieldPlugin,
    OperatorsPlugin,
    PhrasePlugin,
    Plugin,
    QueryParser,
    RegexTagger,
    syntax,
)
from whoosh.qparser.common import attach
from whoosh.searching import Searcher

from search.access import Allowed, restrict
from search.analysis import STOP_WORDS, fold_yo, normalize_number, stop_words_only
from search.docsets import facet_counts, matched_by_segment
from search.errors import InvalidRequestError, QuerySyntaxError
from search.highlight import query_stems, snippet, whole
from search.index import SearchIndex
from search.phrase import GappedPhrase
from search.ranking import Ranked, rank, scored_terms
from search.schema import FACET_FIELDS, NUMBER_FIELDS, decompress_excerpt
from search.spelling import suggest_query

DEFAULT_FIELDS = ("title", "content", "people", "reg_number", "cert_number", "blank_number")
FIELD_BOOSTS = {"title": 2.0, "content": 1.0, "people": 1.5, "reg_number": 20.0, "cert_number": 20.0,
                "blank_number": 20.0}

# Names a user may type before a colon, mapped to index fields.
FIELD_ALIASES: dict[str, list[str]] = {
    "title": ["заголовок", "название"],
    "content": ["текст", "text"],
    "people": ["лицо", "person", "кто"],
    "reg_number": ["номер", "рег", "reg", "number"],
    "cert_number": ["свидетельство", "cert", "certificate"],
    "blank_number": ["бланк", "blank"],
    "doc_type": ["тип", "type"],
    "state": ["состояние", "статус", "status"],
    "org": ["организация", "organisation", "organization"],
    "tags": ["тег", "метка", "tag"],
    "year": ["год"],
}
QUERYABLE_FIELDS = frozenset(
    ["title", "content", "people", "reg_number", "cert_number", "blank_number", "doc_type", "state", "org",
     "tags", "year", "date", "folder_id", "folder_path", "owner", "id"]
)
FILTERABLE_FIELDS = frozenset(
    ["doc_type", "state", "org", "tags", "folder_id", "folder_path", "owner", "year", "id",
     "reg_number", "cert_number", "blank_number"]
)
SORTS = frozenset({"relevance", "date", "date_asc"})
MAX_PAGE_SIZE = 200
HIGHLIGHT_FRAGMENTS = 2
# Suggestions are offered only when the query finds this few documents or fewer.
SUGGEST_AT_MOST = 0
# What ``SearchResult.notice`` says when the query was only stop words (nothing was searched).
STOP_WORDS_ONLY = "stop_words_only"
# A query that may be a registration, certificate or blank number: digits with letters, dashes,
# dots, slashes and spaces, at most 40 characters (it is looked up in the number fields first).
NUMBER_LIKE = re.compile(r"^\s*(№\s*)?(?=.*\d)[\w./\-\u2010-\u2015 ]{1,40}$")

TextLoader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class SearchRequest:
    """One search. ``allowed`` has no default on purpose: every caller states the access filter."""

    q: str
    allowed: Allowed
    filters: Mapping[str, str | int | Collection[str | int]] = field(default_factory=dict)
    date_from: date | datetime | None = None
    date_to: date | datetime | None = None
    sort: str = "relevance"
    page: int = 1
    page_size: int = 20
    facets: Sequence[str] = ()
    highlight: bool = True
    suggest: bool = True


@dataclass(frozen=True)
class SearchHit:
    id: str
    title: str
    reg_number: str
    cert_number: str
    blank_number: str
    doc_type: str
    state: str
    org: str
    date: str | None
    score: float
    highlight: str


@dataclass(frozen=True)
class SearchResult:
    total: int
    page: int
    page_size: int
    items: list[SearchHit]
    facets: dict[str, dict[str, int]]
    suggestion: str | None
    notice: str | None = None  # STOP_WORDS_ONLY: the query had only stop words, nothing was searched

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "page": self.page,
            "page_size": self.page_size,
            "items": [hit.__dict__ for hit in self.items],
            "facets": self.facets,
            "suggestion": self.suggestion,
            "notice": self.notice,
        }


def _without_and_not(q: wq.Query) -> wq.Query:
    """AndNot(a, b) as And([a, Not(b)]): Whoosh 2.7.4's AndNot matcher lets a wrong document
    through at block boundaries, the And/Not pair does not."""
    if isinstance(q, wq.AndNot):
        return wq.And([_without_and_not(q.a), wq.Not(_without_and_not(q.b))])
    if q.is_leaf():
        return q
    return q.apply(_without_and_not)


def _is_stop_word(text: str) -> bool:
    return fold_yo(text).lower() in STOP_WORDS


class StopWordsPlugin(Plugin):
    """Leaves a query's bare stop words out before it is spread over the default fields.

    A stop word is not in the text fields' index, but the number fields would look for it as a
    whole number («о»): the query «приказ о включении» then required a number «о» and found
    nothing. Inside a phrase a stop word stays (it keeps the gap between its neighbours).
    """

    def filters(self, parser: Any) -> list[tuple[Any, int]]:
        # After explicit field names (100), before the default fields are applied (110).
        return [(self.drop_stop_words, 105)]

    def drop_stop_words(self, parser: Any, group: Any) -> Any:
        kept = group.empty_copy()
        for node in group:
            if isinstance(node, syntax.GroupNode):
                node = self.drop_stop_words(parser, node)
            elif isinstance(node, syntax.WordNode) and node.fieldname is None and _is_stop_word(node.text):
                continue
            kept.append(node)
        return kept


class LemmaPhrasePlugin(PhrasePlugin):
    """Phrases of our text fields as ``GappedPhrase``: stop words leave gaps, ambiguous words
    give alternatives at their offset."""

    class PhraseNode(PhrasePlugin.PhraseNode):
        def query(self, parser: Any) -> wq.Query:
            fieldname = self.fieldname or parser.fieldname
            field = parser.schema[fieldname] if parser.schema and fieldname in parser.schema else None
            analyzer: Any = getattr(field, "analyzer", None)
            if not hasattr(analyzer, "query_terms"):
                return super().query(parser)
            groups = analyzer.query_terms(self.text)
            if not groups:
                return wq.NullQuery
            first = groups[0][0]
            words = [term for _, terms in groups for term in terms]
            offsets = [position - first for position, terms in groups for _ in terms]
            return attach(GappedPhrase(fieldname, words, offsets, slop=self.slop, boost=self.boost), self)

    class PhraseTagger(RegexTagger):
        def create(self, parser: Any, match: Any) -> Any:
            slop = match.group("slop")
            return LemmaPhrasePlugin.PhraseNode(match.group("text"), match.start("text"), int(slop) if slop else 1)

    def taggers(self, parser: Any) -> list[tuple[Any, int]]:
        return [(self.PhraseTagger(self.expr), 0)]


class LemmaParser(QueryParser):
    """Whoosh's parser where a word of a text field becomes its terms: a word's alternative lemmas
    are ORed, the words a term splits into («01-02») are ANDed."""

    def term_query(self, fieldname: str, text: str, termclass: Any, boost: float = 1.0, tokenize: bool = True,
                   removestops: bool = True) -> wq.Query | None:
        field = self.schema[fieldname] if self.schema and fieldname in self.schema else None
        analyzer: Any = getattr(field, "analyzer", None)
        if not tokenize or not hasattr(analyzer, "query_terms"):
            return super().term_query(fieldname, text, termclass, boost, tokenize, removestops)
        parts: list[wq.Query] = []
        for _, terms in analyzer.query_terms(text):
            alternatives = [termclass(fieldname, term, boost=boost) for term in terms]
            parts.append(alternatives[0] if len(alternatives) == 1 else wq.Or(alternatives))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else wq.And(parts)


class QueryBuilder:
    """Turns request text and filters into Whoosh queries for one schema."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        parser = LemmaParser(None, schema, group=AndGroup)
        parser.add_plugin(MultifieldPlugin(list(DEFAULT_FIELDS), fieldboosts=FIELD_BOOSTS))
        parser.replace_plugin(
            OperatorsPlugin(
                And=r"(?<=\s)(AND|И)(?=\s)",
                Or=r"(?<=\s)(OR|ИЛИ)(?=\s)",
                AndNot=r"(?<=\s)(ANDNOT)(?=\s)",
                AndMaybe=r"(?<=\s)(ANDMAYBE)(?=\s)",
                Not=r"(^|(?<=(\s|[()])))(NOT|НЕ)(?=\s)",
                Require=None,
            )
        )
        parser.add_plugin(FieldAliasPlugin(FIELD_ALIASES))
        parser.remove_plugin_class(PhrasePlugin)
        parser.add_plugin(LemmaPhrasePlugin())
        parser.add_plugin(StopWordsPlugin())
        self.parser = parser

    def parse(self, text: str) -> wq.Query:
        text = fold_yo(text or "").strip()
        if not text:
            return wq.Every()
        try:
            parsed = self.parser.parse(text)
        except Exception as error:  # whoosh raises assorted errors on odd syntax
            raise QuerySyntaxError(f"cannot understand the query {text!r}: {error}") from error
        if isinstance(parsed, wq.NullQuery.__class__):
            return wq.NullQuery
        self._check_field_names(parsed)
        return _without_and_not(parsed)

    def number_query(self, text: str) -> wq.Query | None:
        """The number fields' query for a text that may be a number (None otherwise)."""
        if not NUMBER_LIKE.match(text or ""):
            return None
        number = normalize_number(text)
        if not number:
            return None
        return wq.Or([wq.Term(name, number, boost=FIELD_BOOSTS[name]) for name in NUMBER_FIELDS])

    def _check_field_names(self, q: wq.Query) -> None:
        for fieldname, _ in q.iter_all_terms():
            if fieldname not in QUERYABLE_FIELDS:
                raise QuerySyntaxError(f"the field {fieldname!r} cannot be searched")
        if q.__class__.__name__ == "ErrorQuery":
            raise QuerySyntaxError("the query has a syntax error")
        for sub in q.leaves():
            if sub.__class__.__name__ == "ErrorQuery":
                raise QuerySyntaxError("the query has a syntax error")

    def filters(self, request: SearchRequest) -> list[wq.Query]:
        parts: list[wq.Query] = []
        for name, value in request.filters.items():
            if name not in FILTERABLE_FIELDS:
                raise InvalidRequestError(f"cannot filter on the field {name!r}")
            values = [value] if isinstance(value, (str, int)) else list(value)
            parts.append(wq.Or([self._term(name, v) for v in values]))
        if request.date_from or request.date_to:
            parts.append(wq.DateRange("date", _as_datetime(request.date_from), _as_datetime(request.date_to)))
        return parts

    def _term(self, name: str, value: str | int) -> wq.Query:
        if name == "year":
            year = int(value)
            return wq.NumericRange("year", year, year)
        terms = list(self.schema[name].process_text(str(value), mode="query"))
        if not terms:
            return wq.NullQuery
        return wq.And([wq.Term(name, t) for t in terms])


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


_builders: dict[int, QueryBuilder] = {}


def _builder(index: SearchIndex) -> QueryBuilder:
    builder = _builders.get(id(index.schema))
    if builder is None or builder.schema is not index.schema:
        builder = _builders[id(index.schema)] = QueryBuilder(index.schema)
    return builder


def _validate(request: SearchRequest) -> None:
    if request.sort not in SORTS:
        raise InvalidRequestError(f"unknown sort {request.sort!r}; use one of {sorted(SORTS)}")
    if request.page < 1:
        raise InvalidRequestError("pages are numbered from 1")
    if not 1 <= request.page_size <= MAX_PAGE_SIZE:
        raise InvalidRequestError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
    for name in request.facets:
        if name not in FACET_FIELDS:
            raise InvalidRequestError(f"no facet {name!r}; use one of {list(FACET_FIELDS)}")


def search(
    index: SearchIndex, request: SearchRequest, *, text_loader: TextLoader | None = None
) -> SearchResult:
    """Runs one search; everything in the result is limited to what ``request.allowed`` shows.

    ``text_loader(doc_id)`` may return a document's full text for highlights beyond the
    excerpt kept in the index.
    """
    _validate(request)
    builder = _builder(index)
    filters = builder.filters(request)
    if stop_words_only(request.q):
        return SearchResult(total=0, page=request.page, page_size=request.page_size, items=[],
                            facets={name: {} for name in request.facets}, suggestion=None, notice=STOP_WORDS_ONLY)
    number_query = builder.number_query(request.q)
    if number_query is not None:
        # A number goes to the number fields first; if none of them holds it, to the text.
        found = _search(index, request, builder, number_query, filters, text_loader, suggest=False)
        if found.total:
            return found
    return _search(index, request, builder, builder.parse(request.q), filters, text_loader, suggest=request.suggest)


def _search(
    index: SearchIndex,
    request: SearchRequest,
    builder: QueryBuilder,
    user_query: wq.Query,
    filters: list[wq.Query],
    text_loader: TextLoader | None,
    *,
    suggest: bool,
) -> SearchResult:
    combined = _combine(user_query, filters)
    cache = index.visible_cache
    visible_query = restrict(combined, index.schema, request.allowed, cache)

    def run(searcher: Searcher) -> SearchResult:
        matched = matched_by_segment(searcher, visible_query)
        total = sum(len(docs) for _, _, docs in matched)
        first = (request.page - 1) * request.page_size
        ranked = rank(searcher, matched, scored_terms(user_query), request.sort,
                      first + request.page_size, index.segment_arrays)[first:]
        stems = query_stems(user_query) if request.highlight else frozenset()
        items = [_hit(searcher, r, stems, request, text_loader) for r in ranked]
        facets = facet_counts(matched, request.facets, index.facet_codes) if request.facets else {}
        suggestion = None
        if suggest and request.q.strip() and total <= SUGGEST_AT_MOST:
            suggestion = suggest_query(
                searcher,
                request.q,
                lambda q: restrict(_combine(q, filters), index.schema, request.allowed, cache),
            )
        return SearchResult(
            total=total,
            page=request.page,
            page_size=request.page_size,
            items=items,
            facets=facets,
            suggestion=suggestion,
        )

    # On a fresh searcher again if a concurrent merge removed a segment under this one.
    return index.read(run)


def _combine(user_query: wq.Query, filters: list[wq.Query]) -> wq.Query:
    # Whoosh normalises And([Every(), x]) to Every(), so Every() is dropped here by hand.
    parts = [user_query] if not isinstance(user_query, wq.Every) or not filters else []
    return wq.And(parts + filters).normalize() if len(parts + filters) > 1 else (parts + filters)[0]


def _hit(
    searcher: Searcher,
    ranked: Ranked,
    stems: frozenset[str],
    request: SearchRequest,
    text_loader: TextLoader | None,
) -> SearchHit:
    stored = searcher.stored_fields(ranked.docnum)
    when = stored.get("date")
    return SearchHit(
        id=stored["id"],
        title=stored.get("title", ""),
        reg_number=stored.get("reg_number", ""),
        cert_number=stored.get("cert_number", ""),
        blank_number=stored.get("blank_number", ""),
        doc_type=stored.get("doc_type", ""),
        state=stored.get("state", ""),
        org=stored.get("org", ""),
        date=when.date().isoformat() if when else None,
        score=ranked.score,
        highlight=_highlight(stored, stems, text_loader) if request.highlight else "",
    )


def _highlight(stored: Mapping[str, Any], stems: frozenset[str], text_loader: TextLoader | None) -> str:
    text = text_loader(stored["id"]) if text_loader else None
    if not text:
        text = decompress_excerpt(stored.get("excerpt"))
    found = snippet(text, stems, HIGHLIGHT_FRAGMENTS)
    if not found:
        title = stored.get("title", "")
        found = whole(title, stems) if snippet(title, stems) else ""
    if not found and text:
        found = html.escape(_opening(text))
    return found


def _opening(text: str, chars: int = 200) -> str:
    """The first words of a text, cut at a word boundary."""
    text = " ".join(text[: chars * 2].split())
    if len(text) <= chars:
        return text
    return text[:chars].rsplit(" ", 1)[0] + " …"


def warm(index: SearchIndex, allowed: Allowed = None, field_name: str = "content") -> str:
    """Loads now what a process's first search would load (Solr's firstSearcher warming): the query parser, each
    segment's side file and field-length arrays, the postings and positions of the field's most frequent words,
    by searching a phrase of its two most frequent words (with highlights and facets, under ``allowed``; the
    result is thrown away). Call it when a server process starts, before it takes requests: the first user's
    phrase of common words then costs what a later one does. Returns the phrase searched ("" for an empty index)."""
    words = index.read(lambda searcher: _most_frequent(searcher, field_name, 2))
    if not words:
        return ""
    phrase = f'"{" ".join(words)}"' if len(words) > 1 else words[0]
    search(index, SearchRequest(q=phrase, allowed=allowed, page_size=10, facets=tuple(FACET_FIELDS),
                                suggest=False))
    return phrase


def _most_frequent(searcher: Searcher, field_name: str, count: int) -> list[str]:
    """The field's most frequent terms: from the largest segment's side file, else Whoosh's term statistics."""
    from search.frequent import SIDE_FILES

    leaves = sorted(searcher.leaf_searchers(), key=lambda pair: -pair[0].doc_count_all())
    if not leaves or field_name not in searcher.schema:
        return []
    reader = leaves[0][0].reader()
    side = SIDE_FILES.of(reader)
    terms = side.top(field_name, count) if side is not None else []
    if len(terms) < count:
        terms = [t for _, t in reader.most_frequent_terms(field_name, count)]
    return [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in terms][:count]


__all__ = ["STOP_WORDS_ONLY", "SearchHit", "SearchRequest", "SearchResult", "search", "warm"]
