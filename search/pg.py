"""The document index on PostgreSQL full-text search: the same contract as ``SearchIndex`` + ``search``.

For deployments with several application hosts (Whoosh stays the embedded default): the index is
a table in the application's PostgreSQL, so every host (and a read replica) searches the same
index. Everything the Whoosh index decides is decided here by the same code:

- **Terms.** The texts go through our analyzer (``search.analysis``: dictionary lemmas, Snowball
  for unknown words, stop words keep their position) and the terms are stored as a ``tsvector``
  written in its text form (``'lemma':pos``), never through a PostgreSQL text search
  configuration, so the terms are exactly the Whoosh index's. The title's positions carry weight
  A, the people's B, the content's D; a field query restricts the weight (``'приказ':A``).
  Exact values (numbers normalised as ``search.analysis.normalize_number`` does, type, state,
  organisation, owner, folders, tags, year, id) are lexemes without positions named
  ``field=value``. Each two adjacent words of a field are a lexeme «a b»: a phrase is narrowed by
  them before its positions are checked. The words (with the exact values) are the ``tsv`` column,
  the pairs (with the exact values) the ``pairs`` column, each with its GIN index: ``ts_rank``
  reads only ``tsv`` (3.3 KB of TOAST a document at 100,000 synthetic documents, against 8.9 KB
  with the pairs in it), and a condition on exact values (the access filter, say) merges into the
  ``tsquery`` of either column, so it is answered by the GIN index beside the words or the pairs,
  never by reading a ``tsvector`` out of line (the planner does not price that: a column of its own
  for the exact values made it check the words row by row, 5-10 times slower).
- **Queries** are parsed by the Whoosh index's own parser (``search.query.QueryBuilder``: the
  same syntax, aliases, stop words, lemmas, number lookup first) and the parsed tree is
  translated: words to lexemes, a phrase to ``<N>`` operators (the gap of a stop word is its
  distance; ``"a b"~N`` is the OR of the distances 1..N), year and date ranges to SQL.
- **The access filter** (``allowed``) is validated as for Whoosh (``search.access.validate``) and
  becomes part of the same ``tsquery``; totals, facets (one ``GROUPING SETS`` query over the
  filtered rows), the page, highlights and suggestions all come from rows that pass it.
- **Highlights** are our own (``search.highlight``) on the stored excerpt or the text loader's.
- **Suggestions** ("did you mean"): candidate terms come from a terms table (the title and
  content terms ever indexed; a ``pg_trgm`` index orders them by similarity when the extension
  can be created, else the terms of the same first letter are read), and a candidate is offered
  only if a document the user may see holds it, ranked by how many visible documents do.

Limits of ``tsvector`` (PostgreSQL's, documented): positions stop at 16,383 (a later word is kept
at 16,383, so it is found but a phrase beyond is not), at most 256 positions per term are kept,
and a term longer than 2,046 bytes is left out.

One writer at a time (a PostgreSQL advisory lock; another gets ``IndexLockedError``); readers
need no lock. ``rebuild`` fills a new table (the documents analysed in worker processes) and swaps it
in with one transaction. The meta table records the analyzer's format and the tables' ``LAYOUT``;
an index of another is refused (``StaleIndexError``) until ``dms reindex`` rebuilds it.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import product
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from whoosh import query as wq
from whoosh.util.times import long_to_datetime

from search.access import Allowed, field_terms, validate
from search.analysis import STOP_WORDS, fold_yo, is_dictionary_word, stop_words_only, term_positions, word_stems
from search.errors import (
    IndexLockedError,
    IndexMissingError,
    InvalidDocumentError,
    QuerySyntaxError,
    StaleIndexError,
)
from search.highlight import query_stems
from search.index import ApplyStats, Delete, Operation, RebuildStats, Upsert
from search.parallel import ordered_map
from search.phrase import GappedPhrase
from search.query import (
    STOP_WORDS_ONLY,
    SUGGEST_AT_MOST,
    QueryBuilder,
    SearchHit,
    SearchRequest,
    SearchResult,
    TextLoader,
    _highlight,
    _validate,
)
from search.schema import INDEX_FORMAT, IndexedDocument, build_schema, compress_excerpt, to_fields
from search.spelling import CANDIDATES, MAX_DISTANCE, MIN_WORD, OPERATORS, edit_distance

PREFIX_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
MAX_POSITION = 16_383  # PostgreSQL's last tsvector position
MAX_POSITIONS_PER_TERM = 256  # PostgreSQL keeps no more
MAX_LEXEME_BYTES = 2_046
# Positions of the title, the people and the content in one tsvector (weights A, B, D).
TEXT_WEIGHTS = {"title": "A", "people": "B", "content": "D"}
# ts_rank's weights {D, C, B, A}: content 1, people 1.5, title 2 (the Whoosh boosts), scaled to 1.
RANK_WEIGHTS = "{0.5, 1.0, 0.75, 1.0}"
# Exact-value fields held as lexemes ``field=term`` (each term as the Whoosh schema analyses it).
KEY_FIELDS = ("id", "reg_number", "cert_number", "blank_number", "doc_type", "state", "org", "owner",
              "folder_id", "folder_path", "tags")
FACET_COLUMNS = {"doc_type": "doc_type", "state": "state", "org": "org", "year": "year"}
# The tsvector column each kind of tsquery condition reads: words at positions, adjacent pairs. A "keys" condition
# (exact values only) reads either: both columns hold the exact values.
COLUMNS = {"ts": "tsv", "pairs": "pairs"}
MAX_PHRASE_VARIANTS = 512  # "a b c"~N expands to the OR of every combination of distances
CORRECTION_POOL = 200  # candidate terms read per misspelt word before the edit distance is checked
BATCH = 1_000
# A rebuild's index builds (GIN over every tsvector) get this much server memory, not the default 64 MB.
MAINTENANCE_MB = 512
# Processes that analyse a rebuild's documents while the caller sends rows (20,000 documents, quiet 2-core machine:
# 89 s in one process, 63 s with two workers): this process then mostly waits on COPY.
REBUILD_WORKERS = 2 if (os.cpu_count() or 1) >= 2 else 0
# A relevance search with more matches than this ranks the newest this many (by date) only: ts_rank
# reads each row's tsvector. None: rank every match (exact, as the Whoosh index does).
RANK_WINDOW = 2_000

# The tables' layout, beside the analyzer's INDEX_FORMAT in the meta table as "<format>.<layout>"; another layout
# is refused until a rebuild. 2: the adjacent pairs and the exact values in columns of their own.
LAYOUT = 2
FORMAT_VALUE = f"{INDEX_FORMAT}.{LAYOUT}"

_schema = build_schema()
_builder = QueryBuilder(_schema)


@dataclass(frozen=True)
class _Cond:
    """A condition: ``kind`` "ts" or "pairs" (a tsquery on that column, ``COLUMNS``), "keys" (a tsquery of exact
    values only: either column), "sql" (an SQL expression), "true" or "false"."""

    kind: str
    body: str = ""
    # An OR of tsquery conditions on several columns (kind "sql"): its branches, into which an AND pushes exact values.
    branches: tuple[_Cond, ...] = ()


TRUE = _Cond("true")
FALSE = _Cond("false")


def quote_lexeme(value: str) -> str:
    """A lexeme quoted for the text form of a tsvector or tsquery."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _fits(term: str) -> bool:
    return 0 < len(term.encode("utf-8")) <= MAX_LEXEME_BYTES


# -- documents to rows --------------------------------------------------------------------------

def document_lexemes(doc: IndexedDocument) -> tuple[str, set[str]]:
    """The tsvector text of a document's words (its ``tsv`` column) and its title and content terms (for
    suggestions)."""
    found = _lexemes(to_fields(doc))
    return found.tsv, found.corrected


def document_vectors(doc: IndexedDocument) -> Lexemes:
    """The texts of a document's two tsvectors, its exact values and its title and content terms."""
    return _lexemes(to_fields(doc))


@dataclass(frozen=True)
class Lexemes:
    """The texts of a document's two tsvectors: ``tsv`` the words at their positions (what ``ts_rank`` reads)
    and ``keys``, ``pairs`` each two adjacent words and ``keys``; ``keys`` the exact values (numbers, type,
    state, organisation, owner, folders, tags, year, id: what the access filter reads); ``corrected`` the
    title and content terms."""

    tsv: str
    pairs: str
    keys: str
    corrected: set[str]


def _lexemes(fields: Mapping[str, Any]) -> Lexemes:
    positions: dict[str, list[str]] = {}
    corrected: set[str] = set()
    pairs: set[str] = set()
    start = 1
    for name in ("title", "people", "content"):
        value = fields.get(name)
        if not value:
            continue
        weight = "" if TEXT_WEIGHTS[name] == "D" else TEXT_WEIGHTS[name]
        found = term_positions(value)
        pairs.update(_adjacent_pairs(found))
        last = 0
        for term, at in found.items():
            if not _fits(term):
                continue
            if name != "people":
                corrected.add(term)
            last = max(last, at[-1])
            into = positions.setdefault(term, [])
            room = MAX_POSITIONS_PER_TERM - len(into)
            kept = sorted({min(start + p, MAX_POSITION) for p in at})[:max(room, 0)]
            into.extend(f"{p}{weight}" for p in kept)
        start = min(start + last + 2, MAX_POSITION)  # one empty position between two fields
    entries = [f"{quote_lexeme(term)}:{','.join(at)}" for term, at in positions.items() if at]
    keys: set[str] = set()
    for name in KEY_FIELDS:
        value = fields.get(name)
        if value:
            keys.update(f"{name}={t}" for t in _schema[name].process_text(str(value), mode="index"))
    if fields.get("year"):
        keys.add(f"year={fields['year']}")
    exact = " ".join(quote_lexeme(key) for key in sorted(keys) if _fits(key))
    return Lexemes(tsv=" ".join(entries + [exact]),
                   pairs=" ".join([quote_lexeme(pair) for pair in sorted(pairs) if _fits(pair)] + [exact]),
                   keys=exact, corrected=corrected)


def _adjacent_pairs(found: Mapping[str, list[int]]) -> set[str]:
    """«a b» for each two terms at adjacent positions of one field (every lemma of an ambiguous word).

    Held as lexemes without positions, they answer a two-word phrase from the GIN index alone, and
    narrow a longer one before its positions are checked: a phrase otherwise reads the tsvector of
    every document holding all its words (~25 µs each; a second at 100,000 documents for common words).
    They are a column of their own (``pairs``): in ``tsv`` they were two thirds of its lexemes, read
    again by every ``ts_rank``.
    """
    at: dict[int, list[str]] = {}
    for term, positions in found.items():
        for position in positions:
            at.setdefault(position, []).append(term)
    return {f"{a} {b}" for position, terms in at.items() if position + 1 in at
            for a in terms for b in at[position + 1]}


def _row(doc: IndexedDocument) -> tuple[dict[str, Any], set[str]]:
    """A document's row (without its sequence number) and its title and content terms: what a rebuild's worker
    process hands back."""
    fields = to_fields(doc)
    found = _lexemes(fields)
    when = fields.get("date")
    row = {
        "id": fields["id"], "version": fields["version"], "title": doc.title or "",
        "reg_number": doc.reg_number or "", "cert_number": doc.cert_number or "",
        "blank_number": doc.blank_number or "", "doc_type": doc.doc_type or None, "state": doc.state or None,
        "org": doc.org or None, "date": when, "year": when.year if when else None,
        "excerpt": compress_excerpt(doc.content) if doc.content else None, "tsv": found.tsv, "pairs": found.pairs,
    }
    return row, found.corrected


# -- queries to conditions ----------------------------------------------------------------------

class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"


class Translator:
    """Whoosh query trees (as ``search.query`` parses them) to conditions on the index table."""

    def __init__(self, params: _Params) -> None:
        self.params = params

    def sql(self, cond: _Cond) -> str:
        if cond.kind == "keys":
            cond = _Cond("ts", cond.body)
        if cond.kind in COLUMNS:
            return f"{COLUMNS[cond.kind]} @@ CAST({self.params.add(cond.body)} AS tsquery)"
        if cond.kind == "sql":
            return cond.body
        return "TRUE" if cond.kind == "true" else "FALSE"

    def conjunction(self, parts: Sequence[_Cond]) -> _Cond:
        return self._combine(parts, absorbing=FALSE, neutral=TRUE, ts_op=" & ", sql_op=" AND ")

    def disjunction(self, parts: Sequence[_Cond]) -> _Cond:
        return self._combine(parts, absorbing=TRUE, neutral=FALSE, ts_op=" | ", sql_op=" OR ")

    def _combine(self, parts: Sequence[_Cond], *, absorbing: _Cond, neutral: _Cond, ts_op: str, sql_op: str) -> _Cond:
        """AND (FALSE absorbs, TRUE is neutral) or OR (the other way round): the tsquery parts of one column merge
        into one tsquery (one GIN lookup), the other column's and the SQL parts are joined beside it."""
        if any(p.kind == absorbing.kind for p in parts):
            return absorbing
        parts = [p for p in parts if p.kind != neutral.kind]
        if not parts:
            return neutral
        if len(parts) == 1:
            return parts[0]
        keys = [p.body for p in parts if p.kind == "keys"]
        if keys and sql_op == " AND " and any(p.branches for p in parts):
            # (A OR B) AND K is (A AND K) OR (B AND K): K joins the GIN lookup of each branch.
            parts = [self.disjunction([self.conjunction([b, *(_Cond("keys", k) for k in keys)]) for b in p.branches])
                     if p.branches else p for p in parts if p.kind != "keys"]
            return self._combine(parts, absorbing=absorbing, neutral=neutral, ts_op=ts_op, sql_op=sql_op)
        kinds = [kind for kind in COLUMNS if any(p.kind == kind for p in parts)] or (["keys"] if keys else [])
        # The exact values go into the tsquery of every column of an AND (each GIN lookup is then as narrow as it
        # can be, and the planner never checks them by reading an out-of-line tsvector), of one column of an OR.
        merged = [_Cond(kind, ts_op.join(f"({body})" for body in
                                         [p.body for p in parts if p.kind == kind and kind != "keys"]
                                         + (keys if kind == kinds[0] or sql_op == " AND " else [])))
                  for kind in kinds]
        sql = [p.body for p in parts if p.kind == "sql"]
        if not sql and len(merged) == 1:
            return merged[0]
        branches = tuple(merged) if not sql and sql_op == " OR " else ()
        return _Cond("sql", "(" + sql_op.join([self.sql(m) for m in merged] + sql) + ")", branches)

    def negation(self, cond: _Cond) -> _Cond:
        if cond.kind in COLUMNS or cond.kind == "keys":
            return _Cond(cond.kind, f"!({cond.body})")
        if cond.kind == "sql":
            return _Cond("sql", f"NOT {cond.body}")
        return FALSE if cond.kind == "true" else TRUE

    def query(self, q: wq.Query) -> _Cond:
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            return FALSE
        if isinstance(q, wq.Every):
            return TRUE
        if isinstance(q, wq.Not):
            return self.negation(self.query(q.query))
        if isinstance(q, wq.AndNot):
            return self.conjunction([self.query(q.a), self.negation(self.query(q.b))])
        if isinstance(q, wq.AndMaybe):
            return self.query(q.a)
        if isinstance(q, wq.And):
            return self.conjunction([self.query(c) for c in q.children()])
        if isinstance(q, (wq.Or, wq.DisjunctionMax)):
            return self._or(list(q.children()))
        if isinstance(q, wq.Phrase):
            return self.phrase(q)
        if isinstance(q, wq.Prefix):
            return self.prefix(q)
        if isinstance(q, wq.Term):
            return self.term(q.fieldname, q.text)
        if isinstance(q, wq.NumericRange):
            return self.numeric_range(q)
        raise QuerySyntaxError(f"the PostgreSQL search backend cannot run {q.__class__.__name__} queries")

    def _or(self, children: list[wq.Query]) -> _Cond:
        # The words of one term in several text fields become one lexeme with several weights.
        weights: dict[str, str] = {}
        # A plain two-word phrase in every text field is its pair lexeme, exact without positions.
        phrases: dict[tuple[Any, ...], set[str]] = {}
        rest: list[_Cond] = []
        for child in children:
            if type(child) is wq.Term and child.fieldname in TEXT_WEIGHTS and isinstance(child.text, str):
                weights[child.text] = weights.get(child.text, "") + TEXT_WEIGHTS[child.fieldname]
            elif isinstance(child, wq.Phrase) and child.fieldname in TEXT_WEIGHTS and _two_adjacent_words(child):
                key = tuple((offset, tuple(words)) for offset, words in _groups(child))
                phrases.setdefault(key, set()).add(child.fieldname)
            else:
                rest.append(self.query(child))
        lexemes = [_Cond("ts", _text_lexeme(term, w)) for term, w in weights.items() if _fits(term)]
        for key, fields in phrases.items():
            groups = [(offset, list(words)) for offset, words in key]
            if fields == set(TEXT_WEIGHTS):
                lexemes.append(_pair_condition(groups))
            else:
                lexemes.extend(self.phrase(GappedPhrase(f, [w for _, ws in groups for w in ws],
                                                        [o for o, ws in groups for _ in ws])) for f in sorted(fields))
        return self.disjunction(lexemes + rest)

    def term(self, fieldname: str, value: Any) -> _Cond:
        if fieldname in TEXT_WEIGHTS:
            term = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            return _Cond("ts", _text_lexeme(term, TEXT_WEIGHTS[fieldname])) if _fits(term) else FALSE
        if fieldname == "year":
            year = _schema["year"].from_bytes(value) if isinstance(value, bytes) else int(value)
            return _Cond("keys", quote_lexeme(f"year={year}"))
        if fieldname == "date":
            when = _schema["date"].from_bytes(value) if isinstance(value, bytes) else value
            return _Cond("sql", f"COALESCE(date = {self.params.add(when)}, FALSE)")
        if fieldname in KEY_FIELDS:
            term = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            key = f"{fieldname}={term}"
            return _Cond("keys", quote_lexeme(key)) if _fits(key) else FALSE
        raise QuerySyntaxError(f"the field {fieldname!r} cannot be searched")

    def prefix(self, q: wq.Prefix) -> _Cond:
        if q.fieldname in TEXT_WEIGHTS:
            return _Cond("ts", f"{quote_lexeme(q.text)}:*{TEXT_WEIGHTS[q.fieldname]}") if _fits(q.text) else FALSE
        if q.fieldname in KEY_FIELDS:
            return _Cond("keys", f"{quote_lexeme(f'{q.fieldname}={q.text}')}:*")
        raise QuerySyntaxError(f"the field {q.fieldname!r} cannot be searched by prefix")

    def phrase(self, q: wq.Phrase, *, positional_only: bool = False) -> _Cond:
        if q.fieldname not in TEXT_WEIGHTS:
            # An exact-value field holds its whole value as one term (Whoosh's analysis of the phrase).
            terms = list(_schema[q.fieldname].process_text(" ".join(q.words), mode="query")) \
                if q.fieldname in _schema else []
            return self.conjunction([self.term(q.fieldname, t) for t in terms]) if terms else FALSE
        weight = TEXT_WEIGHTS[q.fieldname]
        groups = _groups(q)
        alternatives: list[str] = []
        for _, words in groups:
            kept = [w for w in words if _fits(w)]
            if not kept:
                return FALSE
            lexemes = [_text_lexeme(w, weight) for w in kept]
            alternatives.append(lexemes[0] if len(lexemes) == 1 else "(" + " | ".join(lexemes) + ")")
        if len(alternatives) == 1:
            return _Cond("ts", alternatives[0])
        slop = max(int(q.slop), 1)
        distances = [groups[i][0] - groups[i - 1][0] for i in range(1, len(groups))]
        # Whoosh's slop: each word at its distance from the previous one up to distance + slop - 1.
        choices = [range(d, d + slop) for d in distances]
        variants = 1
        for choice in choices:
            variants *= len(choice)
        if variants > MAX_PHRASE_VARIANTS:
            raise QuerySyntaxError("the phrase is too loose: use fewer words or a smaller ~N")
        chains = []
        for gaps in product(*choices):
            chain = alternatives[0]
            for gap, alternative in zip(gaps, alternatives[1:], strict=True):
                chain += f" <{gap}> {alternative}"
            chains.append(f"({chain})")
        positional = _Cond("ts", " | ".join(chains))
        if slop > 1 or positional_only:
            return positional
        # Adjacent words of the phrase must be pairs of the document: the GIN index narrows the rows
        # whose positions are then checked.
        adjacent = [_pair_condition([groups[i - 1], groups[i]]) for i in range(1, len(groups)) if distances[i - 1] == 1]
        return self.conjunction(adjacent + [positional]) if adjacent else positional

    def numeric_range(self, q: wq.NumericRange) -> _Cond:
        if q.fieldname == "year":
            column, convert = "year", int
        elif q.fieldname == "date":
            column, convert = "date", long_to_datetime
        else:
            raise QuerySyntaxError(f"the field {q.fieldname!r} has no ranges")
        parts = []
        if q.start is not None:
            parts.append(f"{column} {'>' if q.startexcl else '>='} {self.params.add(convert(q.start))}")
        if q.end is not None:
            parts.append(f"{column} {'<' if q.endexcl else '<='} {self.params.add(convert(q.end))}")
        if not parts:
            return _Cond("sql", f"({column} IS NOT NULL)")
        return _Cond("sql", f"COALESCE({' AND '.join(parts)}, FALSE)")


def _groups(q: wq.Phrase) -> list[tuple[int, list[str]]]:
    return q.groups() if isinstance(q, GappedPhrase) else [(i, [w]) for i, w in enumerate(q.words)]


def _two_adjacent_words(q: wq.Phrase) -> bool:
    groups = _groups(q)
    return max(int(q.slop), 1) == 1 and len(groups) == 2 and groups[1][0] - groups[0][0] == 1


def _pair_condition(groups: Sequence[tuple[int, Sequence[str]]]) -> _Cond:
    """Two adjacent words of a phrase as their pair lexemes (any lemma of each)."""
    (_, first), (_, second) = groups
    pairs = [f"{a} {b}" for a in first for b in second if _fits(f"{a} {b}")]
    return _Cond("pairs", " | ".join(quote_lexeme(p) for p in pairs)) if pairs else FALSE


def _text_lexeme(term: str, weights: str) -> str:
    letters = "".join(sorted(set(weights)))
    # A word of every text field needs no weight: the exact-value lexemes have other names, and a
    # GIN index answers a tsquery without weights (nor phrases) without reading the rows again.
    return quote_lexeme(term) if letters == "ABD" else f"{quote_lexeme(term)}:{letters}"


def access_condition(allowed: Allowed) -> _Cond:
    """The access filter as a tsquery over the ``field=value`` lexemes (TRUE: no restriction)."""
    validate(allowed)
    if allowed is None:
        return TRUE
    clauses = []
    for clause in allowed:
        parts = []
        for field, values in sorted(clause.items()):
            keys = sorted({f"{field}={t}" for v in values for t in field_terms(_schema, field, str(v))})
            keys = [k for k in keys if _fits(k)]
            parts.append("(" + " | ".join(quote_lexeme(k) for k in keys) + ")" if keys else None)
        if None not in parts:
            clauses.append("(" + " & ".join(p for p in parts if p) + ")")
    return _Cond("keys", " | ".join(clauses)) if clauses else FALSE


def _positive_ts(cond_tree: wq.Query, translator: Translator) -> str | None:
    """The tsquery of a query's words not under a NOT (what ``ts_rank`` scores)."""
    leaves: list[str] = []

    def collect(q: wq.Query) -> None:
        if isinstance(q, (wq.Not,)):
            return
        if isinstance(q, wq.AndNot):
            collect(q.a)
            return
        if isinstance(q, (wq.Term, wq.Phrase, wq.Prefix)):
            try:  # a phrase by its positions (the tsv column), not by its pairs
                found = translator.phrase(q, positional_only=True) if isinstance(q, wq.Phrase) else translator.query(q)
            except QuerySyntaxError:
                return
            if found.kind == "ts":
                leaves.append(f"({found.body})")
            return
        if not q.is_leaf():
            for child in q.children():
                collect(child)

    collect(cond_tree)
    return " | ".join(leaves) if leaves else None


# -- the index ----------------------------------------------------------------------------------

class PgSearchIndex:
    """The document index in PostgreSQL tables named ``<prefix>docs``, ``<prefix>terms``, ``<prefix>meta``."""

    def __init__(self, engine: Engine | str, prefix: str = "search_", *,
                 rank_window: int | None = RANK_WINDOW) -> None:
        if not PREFIX_PATTERN.match(prefix):
            raise ValueError(f"a table prefix is lower-case letters, digits and _, not {prefix!r}")
        self._own_engine = isinstance(engine, str)
        self.engine = create_engine(_sqlalchemy_url(engine), pool_pre_ping=True) if isinstance(engine, str) \
            else engine
        self.prefix = prefix
        self.docs, self.terms, self.meta = f"{prefix}docs", f"{prefix}terms", f"{prefix}meta"
        self.seq = f"{prefix}seq"
        digest = hashlib.sha256(f"search index {prefix}".encode()).digest()
        self.lock_key = int.from_bytes(digest[:8], "big", signed=True)
        self.trigrams = False
        self.rank_window = rank_window

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create_or_open(cls, engine: Engine | str, prefix: str = "search_", *,
                              rank_window: int | None = RANK_WINDOW) -> PgSearchIndex:
        """Opens the index, creating its tables (idempotently) when they are missing."""
        index = cls(engine, prefix, rank_window=rank_window)
        index._create()
        index.check_format()
        return index

    @classmethod
    def open(cls, engine: Engine | str, prefix: str = "search_", *,
                    rank_window: int | None = RANK_WINDOW) -> PgSearchIndex:
        index = cls(engine, prefix, rank_window=rank_window)
        if not index._exists():
            raise IndexMissingError(f"no search index {prefix}* in the database; create it or run a reindex")
        index.trigrams = index._has_trigram_index()
        index.check_format()
        return index

    def _exists(self) -> bool:
        with self.engine.connect() as c:
            return c.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": self.meta}).scalar_one()

    def _has_trigram_index(self) -> bool:
        with self.engine.connect() as c:
            return c.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"{self.terms}_trgm"}).scalar_one()

    def _create(self) -> None:
        with self.engine.connect() as c:
            found = c.execute(text("SELECT to_regclass(:m) IS NOT NULL AND to_regclass(:d) IS NOT NULL"),
                              {"m": self.meta, "d": self.docs}).scalar_one()
        if found:  # no DDL (nor its table locks) when every process of a deployment opens the index
            self.trigrams = self._has_trigram_index()
            return
        try:  # the extension is optional: suggestions read terms by first letter without it
            with self.engine.begin() as c:
                c.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except Exception:  # noqa: BLE001 - no privilege or not installed
            pass
        with self.engine.begin() as c:
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.lock_key ^ 1})
            c.execute(text(f"CREATE TABLE IF NOT EXISTS {self.meta} (key text PRIMARY KEY, value text NOT NULL)"))
            c.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {self.seq}"))
            c.execute(text(_docs_table(self.docs, self.seq).replace("id text NOT NULL", "id text PRIMARY KEY")))
            _compress_with_lz4(c, self.docs)
            for statement in _docs_indexes(self.docs, self.docs):
                c.execute(text(statement))
            c.execute(text(f"CREATE TABLE IF NOT EXISTS {self.terms} (term text PRIMARY KEY)"))
            has_trgm = c.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")).scalar_one()
            if has_trgm:
                c.execute(text(f"CREATE INDEX IF NOT EXISTS {self.terms}_trgm ON {self.terms} "
                               "USING gist (term gist_trgm_ops)"))
            c.execute(text(f"INSERT INTO {self.meta} VALUES ('format', :f) ON CONFLICT (key) DO NOTHING"),
                      {"f": FORMAT_VALUE})
        self.trigrams = self._has_trigram_index()

    def format(self) -> int:
        """The analyzer's format the index was written with (``search.schema.INDEX_FORMAT``)."""
        return _parse_format(self._format_value())[0]

    def layout(self) -> int:
        """The tables' layout the index was written with (``LAYOUT``)."""
        return _parse_format(self._format_value())[1]

    def _format_value(self, c: Connection | None = None) -> str | None:
        if c is None:
            with self.engine.connect() as own:
                return self._format_value(own)
        return c.execute(text(f"SELECT value FROM {self.meta} WHERE key = 'format'")).scalar()

    def check_format(self, c: Connection | None = None) -> None:
        """StaleIndexError unless the index has this version's analyzer format and table layout."""
        found, layout = _parse_format(self._format_value(c))
        if (found, layout) != (INDEX_FORMAT, LAYOUT):
            raise StaleIndexError(
                f"the search index {self.prefix}* has format {found} (table layout {layout}), this version reads "
                f"format {INDEX_FORMAT} (layout {LAYOUT}): rebuild it (dms reindex)",
                found=f"{found}.{layout}", expected=FORMAT_VALUE)

    def drop(self) -> None:
        """Drops the index's tables (tests; uninstalling)."""
        with self.engine.begin() as c:
            for table in (f"{self.docs}_new", self.docs, self.terms, f"{self.terms}_new", self.meta):
                c.execute(text(f"DROP TABLE IF EXISTS {table}"))
            c.execute(text(f"DROP SEQUENCE IF EXISTS {self.seq}"))

    def close(self) -> None:
        if self._own_engine:
            self.engine.dispose()

    # -- reading ---------------------------------------------------------------------------

    def doc_count(self) -> int:
        with self.engine.connect() as c:
            return c.execute(text(f"SELECT count(*) FROM {self.docs}")).scalar_one()

    def doc_versions(self) -> dict[str, str]:
        with self.engine.connect() as c:
            return {row[0]: row[1] for row in c.execute(text(f"SELECT id, version FROM {self.docs}"))}

    def doc_ids(self) -> set[str]:
        return set(self.doc_versions())

    def search(self, request: SearchRequest, *, text_loader: TextLoader | None = None) -> SearchResult:
        return search(self, request, text_loader=text_loader)

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writer_lock(self, c: Connection) -> Iterator[None]:
        """The single-writer lock for the transaction of ``c``, or IndexLockedError."""
        if not c.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self.lock_key}).scalar_one():
            raise IndexLockedError(f"another process is writing the search index {self.prefix}*; "
                                   "only one indexer may run at a time")
        yield

    def apply(self, operations: Iterable[Operation], **_: Any) -> ApplyStats:
        """One batch of upserts and deletes in one transaction; the last operation on an id wins."""
        started = time.perf_counter()
        last: dict[str, Operation] = {}
        for op in operations:
            last[_op_id(op)] = op
        prepared = [_row(op.document) for op in last.values() if isinstance(op, Upsert)]
        rows = [row for row, _ in prepared]
        terms = sorted(set().union(*(t for _, t in prepared))) if prepared else []
        with self.engine.begin() as c, self.writer_lock(c):
            self.check_format(c)
            gone = [doc_id for doc_id, op in last.items() if isinstance(op, Delete)]
            if gone:
                c.execute(text(f"DELETE FROM {self.docs} WHERE id = ANY(:ids)"), {"ids": gone})
            if rows:
                columns = list(rows[0])
                values = ", ".join(f"CAST(:{k} AS tsvector)" if k in TSVECTORS else f":{k}" for k in columns)
                updates = ", ".join(f"{k} = EXCLUDED.{k}" for k in columns if k != "id")
                c.execute(text(f"INSERT INTO {self.docs} ({', '.join(columns)}, seq) "
                               f"VALUES ({values}, nextval('{self.seq}')) "
                               f"ON CONFLICT (id) DO UPDATE SET {updates}, seq = EXCLUDED.seq"), rows)
            if terms:
                c.execute(text(f"INSERT INTO {self.terms} SELECT unnest(CAST(:t AS text[])) "
                               "ON CONFLICT DO NOTHING"), {"t": terms})
        return ApplyStats(upserted=len(rows), deleted=len(last) - len(rows), seconds=time.perf_counter() - started)

    def rebuild(self, documents: Iterable[IndexedDocument], *, batch: int = BATCH, workers: int = REBUILD_WORKERS,
                maintenance_mb: int = MAINTENANCE_MB, **_: Any) -> RebuildStats:
        """Fills a new table from ``documents`` (consumed lazily, ``batch`` rows at a time, with COPY)
        and swaps it in with one transaction; the live table serves searches until then.

        ``workers`` processes analyse the documents (``search.parallel.ordered_map``) while this one
        sends rows; ``maintenance_mb`` is the server's ``maintenance_work_mem`` for the index builds of
        this transaction (the GIN index of 1,000,000 documents took ~25 min at the default 64 MB)."""
        started = time.perf_counter()
        new_docs, new_terms = f"{self.docs}_new", f"{self.terms}_new"
        count = 0
        with self.engine.begin() as c, self.writer_lock(c):
            # The index builds may take minutes, and documents come from a generator between two COPYs.
            c.execute(text("SET LOCAL statement_timeout = 0"))
            c.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            c.execute(text(f"SET LOCAL maintenance_work_mem = '{int(maintenance_mb)}MB'"))
            c.execute(text(f"DROP TABLE IF EXISTS {new_docs}"))
            c.execute(text(f"DROP TABLE IF EXISTS {new_terms}"))
            c.execute(text(_docs_table(new_docs, self.seq).replace("IF NOT EXISTS ", "")))
            _compress_with_lz4(c, new_docs)
            c.execute(text(f"CREATE TABLE {new_terms} (term text)"))
            raw = c.connection.driver_connection
            terms: set[str] = set()
            chunk: list[tuple[dict[str, Any], set[str]]] = []

            def flush() -> None:
                _copy_rows(c, raw, new_docs, [row for row, _ in chunk])
                for _, found in chunk:
                    terms.update(found)
                chunk.clear()

            for row, found in ordered_map(_row, documents, workers):
                count += 1
                row["seq"] = count
                chunk.append((row, found))
                if len(chunk) >= batch:
                    flush()
            if chunk:
                flush()
            c.execute(text(f"INSERT INTO {new_terms} SELECT unnest(CAST(:t AS text[]))"), {"t": sorted(terms)})
            c.execute(text(f"SELECT setval('{self.seq}', :n)"), {"n": count + 1})
            c.execute(text(f"ALTER TABLE {new_docs} ADD CONSTRAINT {new_docs}_pkey PRIMARY KEY (id)"))
            for statement in _docs_indexes(new_docs, new_docs):
                c.execute(text(statement))
            c.execute(text(f"ALTER TABLE {new_terms} ADD CONSTRAINT {new_terms}_pkey PRIMARY KEY (term)"))
            if self.trigrams:
                c.execute(text(f"CREATE INDEX {new_terms}_trgm ON {new_terms} USING gist (term gist_trgm_ops)"))
            # The swap: readers see the old tables until this transaction commits.
            c.execute(text(f"DROP TABLE {self.docs}"))
            c.execute(text(f"DROP TABLE {self.terms}"))
            for old, new in ((new_docs, self.docs), (new_terms, self.terms)):
                c.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
                c.execute(text(f"ALTER TABLE {new} RENAME CONSTRAINT {old}_pkey TO {new}_pkey"))
            for suffix in ("tsv", "pairs", "date"):
                c.execute(text(f"ALTER INDEX {new_docs}_{suffix} RENAME TO {self.docs}_{suffix}"))
            if self.trigrams:
                c.execute(text(f"ALTER INDEX {new_terms}_trgm RENAME TO {self.terms}_trgm"))
            c.execute(text(f"INSERT INTO {self.meta} VALUES ('format', :f) "
                           "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"), {"f": FORMAT_VALUE})
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f"ANALYZE {self.docs}"))
        return RebuildStats(documents=count, seconds=time.perf_counter() - started, generation=self.docs)

    def optimize(self) -> None:
        """VACUUM ANALYZE of the index tables (run it after a large import)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f"VACUUM ANALYZE {self.docs}"))
            c.execute(text(f"VACUUM ANALYZE {self.terms}"))


def _parse_format(value: str | None) -> tuple[int, int]:
    """(analyzer format, table layout) of the meta table's value "<format>.<layout>" (a bare number: layout 1)."""
    if not value:
        return 1, 1
    found, _, layout = value.partition(".")
    try:
        return int(found), int(layout or 1)
    except ValueError:
        return 0, 0


def _sqlalchemy_url(dsn: str) -> str:
    if dsn.startswith("postgresql://") or dsn.startswith("postgres://"):
        return "postgresql+psycopg://" + dsn.split("://", 1)[1]
    return dsn


def _docs_table(name: str, seq: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {name} (id text NOT NULL, version text NOT NULL, "
            f"seq bigint NOT NULL DEFAULT nextval('{seq}'), title text NOT NULL DEFAULT '', "
            "reg_number text NOT NULL DEFAULT '', cert_number text NOT NULL DEFAULT '', "
            "blank_number text NOT NULL DEFAULT '', doc_type text, state text, org text, "
            "date timestamp, year integer, excerpt bytea, tsv tsvector NOT NULL, pairs tsvector NOT NULL DEFAULT '') "
            # The tsvector and the excerpt go out of line (narrow rows: totals and facets read few
            # pages), and lz4 decompresses a tsvector for ts_rank several times faster than pglz.
            "WITH (toast_tuple_target = 128)")


def _compress_with_lz4(c: Connection, table: str) -> None:
    try:
        with c.begin_nested():
            for column in ("tsv", "pairs"):
                c.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4"))
    except Exception:  # noqa: BLE001 - a server built without lz4 keeps pglz
        pass


def _docs_indexes(table: str, name: str) -> list[str]:
    return [f"CREATE INDEX IF NOT EXISTS {name}_tsv ON {table} USING gin (tsv)",
            f"CREATE INDEX IF NOT EXISTS {name}_pairs ON {table} USING gin (pairs)",
            f"CREATE INDEX IF NOT EXISTS {name}_date ON {table} (date)"]


COPY_COLUMNS = ("id", "version", "seq", "title", "reg_number", "cert_number", "blank_number", "doc_type", "state",
                "org", "date", "year", "excerpt", "tsv", "pairs")
TSVECTORS = ("tsv", "pairs")


def _copy_rows(c: Connection, raw: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows into ``table`` with COPY when the driver is psycopg 3, else one INSERT per batch."""
    cursor = getattr(raw, "cursor", None)
    if cursor is not None and hasattr(raw, "pgconn"):
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[k] for k in COPY_COLUMNS])
        return
    values = ", ".join(f"CAST(:{k} AS tsvector)" if k in TSVECTORS else f":{k}" for k in COPY_COLUMNS)
    c.execute(text(f"INSERT INTO {table} ({', '.join(COPY_COLUMNS)}) VALUES ({values})"), rows)


def _op_id(op: Operation) -> str:
    if isinstance(op, Upsert):
        return str(op.document.id)
    if isinstance(op, Delete):
        return str(op.doc_id)
    raise InvalidDocumentError(f"unknown index operation {op!r}; expected Upsert or Delete")


# -- searching ----------------------------------------------------------------------------------

def search(index: PgSearchIndex, request: SearchRequest, *, text_loader: TextLoader | None = None) -> SearchResult:
    """``search.query.search`` on the PostgreSQL index: the same request, the same result."""
    _validate(request)
    filters = _builder.filters(request)
    if stop_words_only(request.q):
        return SearchResult(total=0, page=request.page, page_size=request.page_size, items=[],
                            facets={name: {} for name in request.facets}, suggestion=None, notice=STOP_WORDS_ONLY)
    with index.engine.connect() as c:
        # One snapshot for the total, the facets, the page and the suggestion.
        c.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        # The planner prices a sequential scan without the cost of decompressing every row's tsvector
        # to evaluate @@ (~25 µs a row): it chose one for broad queries (4 s at 100,000 documents),
        # where the GIN index answers without reading a tsvector at all.
        c.execute(text("SET LOCAL enable_seqscan = off"))
        number_query = _builder.number_query(request.q)
        if number_query is not None:
            found = _search(c, index, request, number_query, filters, text_loader, suggest=False)
            if found.total:
                return found
        return _search(c, index, request, _builder.parse(request.q), filters, text_loader, suggest=request.suggest)


def _search(c: Connection, index: PgSearchIndex, request: SearchRequest, user_query: wq.Query,
            filters: list[wq.Query], text_loader: TextLoader | None, *, suggest: bool) -> SearchResult:
    params = _Params()
    t = Translator(params)
    scope = t.conjunction([t.query(f) for f in filters] + [access_condition(request.allowed)])
    where = t.sql(t.conjunction([t.query(user_query), scope]))
    total, facets = _total_and_facets(c, index, where, params.values, request.facets)
    first = (request.page - 1) * request.page_size
    rank_ts = _positive_ts(user_query, t) if request.sort == "relevance" else None
    if rank_ts:
        score = f"ts_rank('{RANK_WEIGHTS}', tsv, CAST({params.add(rank_ts)} AS tsquery))"
        order = "score DESC, seq"
    else:
        score = "0.0"
        order = {"relevance": "seq", "date": "date DESC NULLS LAST, seq",
                 "date_asc": "date ASC NULLS LAST, seq"}[request.sort]
    excerpt = "excerpt" if request.highlight else "NULL"
    source = index.docs
    window = max(index.rank_window or 0, first + request.page_size)
    if rank_ts and index.rank_window and total > window:
        # Scoring reads every matching row's tsvector (~20-30 µs each): a broad query ranks the
        # newest ``rank_window`` matches by date, not all of them (``rank_window=None``: all).
        source = (f"(SELECT * FROM {index.docs} WHERE {where} ORDER BY date DESC NULLS LAST, seq DESC "
                  f"LIMIT {int(window)}) AS newest")
        where = "TRUE"
    rows = c.execute(text(
        f"SELECT id, title, reg_number, cert_number, blank_number, doc_type, state, org, date, {excerpt}, "
        f"{score} AS score FROM {source} WHERE {where} ORDER BY {order} "
        f"LIMIT {int(request.page_size)} OFFSET {int(first)}"), params.values).all() if total > first else []
    stems = query_stems(user_query) if request.highlight else frozenset()
    items = [
        SearchHit(
            id=r.id, title=r.title, reg_number=r.reg_number, cert_number=r.cert_number,
            blank_number=r.blank_number, doc_type=r.doc_type or "", state=r.state or "", org=r.org or "",
            date=r.date.date().isoformat() if r.date else None, score=float(r.score),
            highlight=_highlight({"id": r.id, "title": r.title, "excerpt": r.excerpt}, stems, text_loader)
            if request.highlight else "")
        for r in rows
    ]
    suggestion = None
    if suggest and request.q.strip() and total <= SUGGEST_AT_MOST:
        suggestion = suggest_query(c, index, request.q, scope)
    return SearchResult(total=total, page=request.page, page_size=request.page_size, items=items,
                        facets=facets, suggestion=suggestion)


def _total_and_facets(c: Connection, index: PgSearchIndex, where: str, params: Mapping[str, Any],
                      names: Sequence[str]) -> tuple[int, dict[str, dict[str, int]]]:
    if not names:
        return c.execute(text(f"SELECT count(*) FROM {index.docs} WHERE {where}"), params).scalar_one(), {}
    columns = [FACET_COLUMNS[n] for n in names]
    sets = ", ".join(["()"] + [f"({col})" for col in columns])
    flags = ", ".join(f"GROUPING({col})" for col in columns)
    rows = c.execute(text(f"SELECT {', '.join(columns)}, {flags}, count(*) FROM {index.docs} WHERE {where} "
                          f"GROUP BY GROUPING SETS ({sets})"), params).all()
    total = 0
    counts: dict[str, dict[str, int]] = {n: {} for n in names}
    width = len(columns)
    for row in rows:
        values, grouped, n = row[:width], row[width:2 * width], row[-1]
        if all(grouped):
            total = n
            continue
        for name, value, flag in zip(names, values, grouped, strict=True):
            if not flag and value is not None and value != "":
                counts[name][str(value)] = n
    return total, {name: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for name, v in counts.items()}


# -- "did you mean" -----------------------------------------------------------------------------

_words = re.compile(r"(?<![:\w])[0-9a-zA-Zа-яА-ЯёЁ]+(?![:\w])")


def _visible_count(c: Connection, index: PgSearchIndex, lexemes: str, scope: _Cond, limit: int | None = None) -> int:
    params = _Params()
    t = Translator(params)
    where = t.sql(t.conjunction([_Cond("ts", lexemes), scope]))
    if limit is None:
        return c.execute(text(f"SELECT count(*) FROM {index.docs} WHERE {where}"), params.values).scalar_one()
    return c.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM {index.docs} WHERE {where} LIMIT {int(limit)}) x"),
                     params.values).scalar_one()


def _known(c: Connection, index: PgSearchIndex, word: str, scope: _Cond) -> bool:
    stems = [s for s in word_stems(word) if _fits(s)]
    if not stems:
        return True
    return _visible_count(c, index, " | ".join(_text_lexeme(s, "ABD") for s in stems), scope, limit=1) > 0


def _candidates(c: Connection, index: PgSearchIndex, stem: str) -> list[str]:
    if index.trigrams:
        sql = (f"SELECT term FROM {index.terms} WHERE left(term, 1) = left(:s, 1) "
               f"ORDER BY term <-> :s LIMIT {CORRECTION_POOL}")
    else:
        sql = (f"SELECT term FROM {index.terms} WHERE left(term, 1) = left(:s, 1) "
               f"AND length(term) BETWEEN length(:s) - {MAX_DISTANCE} AND length(:s) + {MAX_DISTANCE}")
    return [row[0] for row in c.execute(text(sql), {"s": stem})]


def _correct(c: Connection, index: PgSearchIndex, word: str, scope: _Cond) -> str | None:
    stems = word_stems(word)
    if len(stems) != 1:
        return None
    stem = stems[0]
    ending = word[len(stem):] if word.startswith(stem) else ""
    near = sorted((edit_distance(stem, term), term) for term in _candidates(c, index, stem) if term != stem)
    near = [(d, term) for d, term in near if d <= MAX_DISTANCE][:CANDIDATES]
    best: tuple[int, int, str] | None = None
    for distance, candidate in near:
        if best is not None and distance > best[0]:
            break
        # Ranked by how many visible documents hold the word (title or content), never hidden ones.
        hits = _visible_count(c, index, _text_lexeme(candidate, "AD"), scope)
        if hits and (best is None or (distance, -hits, candidate) < best):
            best = (distance, -hits, candidate)
    if best is None:
        return None
    return best[2] if is_dictionary_word(best[2]) else best[2] + ending


def suggest_query(c: Connection, index: PgSearchIndex, query_text: str, scope: _Cond) -> str | None:
    """The query text with unknown words replaced by close words of visible documents, or None."""
    changed = False
    pieces: list[str] = []
    position = 0
    for match in _words.finditer(query_text):
        word = match.group(0)
        folded = fold_yo(word).lower()
        replacement = None
        if (len(folded) >= MIN_WORD and not folded.isdigit() and folded not in OPERATORS
                and folded not in STOP_WORDS and not _known(c, index, folded, scope)):
            replacement = _correct(c, index, folded, scope)
        pieces.append(query_text[position:match.start()])
        pieces.append(replacement if replacement else word)
        changed = changed or bool(replacement)
        position = match.end()
    pieces.append(query_text[position:])
    return "".join(pieces) if changed else None


__all__ = ["PgSearchIndex", "access_condition", "document_lexemes", "search"]