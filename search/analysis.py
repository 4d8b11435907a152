"""Text analysis for Russian and English: words, case folding, ё→е, stop words, lemmas.

A Russian word the OpenCorpora dictionary knows (pymorphy3) is indexed as its dictionary lemmas
(«проверок» → «проверка», «люди» → «человек», «подписанный» → «подписать»); an ambiguous form
as each of its lemmas, at the same position («стали» → «сталь», «стать»). Words the dictionary
does not know (new terms, abbreviations, most names it lacks) and Latin words get their Snowball
stem (Russian or English). The term of each word form is cached (``functools.lru_cache``).

Stop words are not indexed but keep their position, so the phrase «соглашение с держателем»
matches the two words two positions apart, and a query's stop words are left out of it
(``search.query``).

The analyzer is pickled into the index's table of contents by Whoosh, so nothing here holds an
unpicklable object: the dictionary and the stemmers are module-level and made on first use.
``INDEX_FORMAT`` (``search.schema``) changes whenever the terms of a text change.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import lru_cache

import Stemmer
from whoosh.analysis import (
    Analyzer,
    CompositeAnalyzer,
    Filter,
    IDTokenizer,
    LowercaseFilter,
    RegexTokenizer,
    Token,
    Tokenizer,
)

WORD_PATTERN = r"[0-9a-zA-Zа-яА-ЯёЁ]+"
CYRILLIC = re.compile("[а-яё]")
TERM_CACHE_SIZE = 200_000  # word forms whose terms are kept (an LRU): ~200 bytes each, 40 MB at most
MIN_STEM_LENGTH = 3  # shorter unknown words are kept as they are

RUSSIAN_STOP_WORDS = frozenset([
    "а", "без", "более", "бы", "был", "была", "были", "было", "быть", "в", "вам", "вас", "весь", "во", "вот",
    "все", "всего", "всех", "вы", "где", "да", "даже", "для", "до", "его", "ее", "если", "есть", "еще", "же",
    "за", "здесь", "и", "из", "или", "им", "их", "к", "как", "ко", "когда", "кто", "ли", "либо", "мне",
    "может", "мы", "на", "над", "надо", "наш", "не", "него", "нее", "нет", "ни", "них", "но", "ну", "о",
    "об", "однако", "он", "она", "они", "оно", "от", "очень", "по", "под", "при", "с", "со", "так", "также",
    "такой", "там", "те", "тем", "то", "того", "тоже", "той", "только", "том", "ты", "у", "уже", "хотя",
    "чего", "чей", "чем", "что", "чтобы", "чье", "чья", "эта", "эти", "это", "я",
])
ENGLISH_STOP_WORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its",
    "of", "on", "or", "that", "the", "to", "was", "were", "will", "with", "this", "these", "those", "not",
    "but",
])
STOP_WORDS = RUSSIAN_STOP_WORDS | ENGLISH_STOP_WORDS


def fold_yo(text: str) -> str:
    """Folds ё into е, as Russian writers use both spellings for the same word."""
    return text.replace("ё", "е").replace("Ё", "Е")


class YoFilter(Filter):
    """Replaces ё with е in every token (after lower-casing)."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            if "ё" in t.text:
                t.text = t.text.replace("ё", "е")
            yield t


# -- word forms to terms -------------------------------------------------------------------------

_morph_lock = threading.Lock()
_morph = None
_stemmers = threading.local()  # a PyStemmer object is not safe to share between threads


def morphology():  # noqa: ANN201 - pymorphy3.MorphAnalyzer, imported lazily (0.3 s)
    """The pymorphy3 analyzer with its OpenCorpora dictionary (one per process, thread-safe to read)."""
    global _morph
    if _morph is None:
        with _morph_lock:
            if _morph is None:
                import pymorphy3

                _morph = pymorphy3.MorphAnalyzer(lang="ru")
    return _morph


def snowball(word: str) -> str:
    """The Snowball stem: the Russian stemmer for a Cyrillic word, the English one for the rest."""
    language = "russian" if CYRILLIC.search(word) else "english"
    stemmer = getattr(_stemmers, language, None)
    if stemmer is None:
        stemmer = Stemmer.Stemmer(language)
        setattr(_stemmers, language, stemmer)
    return stemmer.stemWord(word)


def word_terms(word: str) -> tuple[str, ...]:
    """The indexed terms of one word form (lower case, ё folded): its dictionary lemmas, all of them
    for an ambiguous form, or else its Snowball stem; a number is itself (and not cached: an
    archive has more distinct numbers than words)."""
    if word.isdigit():
        return (word,)
    return _word_terms(word)


@lru_cache(maxsize=TERM_CACHE_SIZE)
def _word_terms(word: str) -> tuple[str, ...]:
    if CYRILLIC.search(word):
        morph = morphology()
        if morph.word_is_known(word):
            lemmas = dict.fromkeys(fold_yo(form) for form in morph.normal_forms(word))
            if lemmas:
                return tuple(lemmas)
    if len(word) < MIN_STEM_LENGTH:
        return (word,)
    return (snowball(word),)


def is_dictionary_word(word: str) -> bool:
    """Whether the dictionary knows ``word`` (its terms are lemmas, not stems)."""
    return bool(CYRILLIC.search(word)) and morphology().word_is_known(word)


_WORD = re.compile(WORD_PATTERN)


def words(value: str) -> list[str]:
    """The words of ``value``, lower case, ё folded, stop words included (each is a position)."""
    lowered = value.lower().replace("ё", "е")
    if len(lowered) == len(value):
        return _WORD.findall(lowered)
    return [fold_yo(w.lower()) for w in _WORD.findall(value)]


def term_positions(value: str) -> dict[str, list[int]]:
    """{term: its positions, ascending} of a text; stop words take a position but give no term."""
    return {term.decode("utf-8"): at for term, at in index_term_positions(value).items()}


# Word form -> its terms as UTF-8 (what the index writer stores), () for a stop word: a plain dict
# read inline by ``index_term_positions`` (a rebuild looks up ~300 word forms per document, and
# an archive's vocabulary is bounded: the dict is emptied if it ever holds TERM_CACHE_SIZE forms).
_index_terms: dict[str, tuple[bytes, ...]] = {}


def index_term_positions(value: str) -> dict[bytes, list[int]]:
    """``term_positions`` with the terms as UTF-8 bytes, for the index writer: the same terms and
    positions (``tests/search/test_analysis_cache.py`` compares them on the seed texts)."""
    found: dict[bytes, list[int]] = {}
    cache = _index_terms
    for position, word in enumerate(words(value)):
        terms = cache.get(word)
        if terms is None:
            terms = _index_terms_of(word)
        for term in terms:
            at = found.get(term)
            if at is None:
                found[term] = [position]
            else:
                at.append(position)
    return found


def _index_terms_of(word: str) -> tuple[bytes, ...]:
    terms = () if word in STOP_WORDS else tuple(term.encode("utf-8") for term in word_terms(word))
    if not word.isdigit():  # numbers are not cached (see word_terms)
        if len(_index_terms) >= TERM_CACHE_SIZE:
            _index_terms.clear()
        _index_terms[word] = terms
    return terms


def query_terms(value: str) -> list[tuple[int, tuple[str, ...]]]:
    """(position, alternative terms) of each word of a query text that is not a stop word."""
    return [(position, word_terms(word)) for position, word in enumerate(words(value)) if word not in STOP_WORDS]


def word_spans(text: str) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """(start, end, terms) of each word of ``text`` that is not a stop word, for highlights."""
    for match in _WORD.finditer(text):
        word = fold_yo(match.group(0).lower())
        if word not in STOP_WORDS:
            yield match.start(), match.end(), word_terms(word)


@lru_cache(maxsize=4096)
def _lexeme_forms(term: str) -> frozenset[str]:
    """The word forms (ё folded) of every lexeme of every dictionary parse of ``term``: each word
    the dictionary knows whose lemmas include ``term`` is one of them."""
    if not CYRILLIC.search(term):
        return frozenset()
    return frozenset(fold_yo(form.word) for parse in morphology().parse(term) for form in parse.lexeme)


def marked_spans(text: str, wanted: frozenset[str]) -> Iterator[tuple[int, int]]:
    """(start, end) of each word of ``text`` one of whose terms is ``wanted`` (``word_spans``
    filtered), lazily. A word is analysed only if it can have a wanted term: it is a form of a
    wanted lemma's lexemes, or its Snowball stem or itself is wanted (an unknown word's term).
    The first analysis of a word form is a dictionary parse (~0.3 ms): a page of highlights of
    long texts would otherwise parse every distinct word of them."""
    forms = frozenset().union(*(_lexeme_forms(term) for term in wanted))
    for match in _WORD.finditer(text):
        word = fold_yo(match.group(0).lower())
        if word in STOP_WORDS:
            continue
        possible = word in forms or word in wanted or (len(word) >= MIN_STEM_LENGTH and snowball(word) in wanted)
        if possible and not wanted.isdisjoint(word_terms(word)):
            yield match.start(), match.end()


def word_stems(text: str) -> list[str]:
    """The indexed terms of the words of ``text``, in order (an ambiguous word gives several)."""
    return [term for _, terms in query_terms(text) for term in terms]


def stop_words_only(text: str) -> bool:
    """Whether ``text`` has words and every one of them is a stop word."""
    found = words(text)
    return bool(found) and all(word in STOP_WORDS for word in found)


class RussianEnglishTokenizer(Tokenizer):
    """Words of Cyrillic, Latin letters and digits, lower-cased, ё→е, without stop words, as terms.

    One pass instead of a chain of filters: analysis is most of the indexing time. A stop word
    takes a position; an ambiguous word gives one token per lemma, all at its position.
    """

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RussianEnglishTokenizer)

    def __hash__(self) -> int:
        return hash(RussianEnglishTokenizer)

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        lowered = value.lower().replace("ё", "е")
        same_length = len(lowered) == len(value)
        source = lowered if same_length else value
        pos = start_pos
        for match in _WORD.finditer(source):
            word = match.group(0) if same_length else fold_yo(match.group(0).lower())
            if word in STOP_WORDS:
                pos += 1
                continue
            for term in word_terms(word):
                t.text = term
                t.boost = 1.0
                t.stopped = False
                if keeporiginal:
                    t.original = word
                if positions:
                    t.pos = pos
                if chars:
                    t.startchar = start_char + match.start()
                    t.endchar = start_char + match.end()
                yield t
            pos += 1

    @staticmethod
    def term_positions(value: str) -> dict[str, list[int]]:
        return term_positions(value)

    @staticmethod
    def query_terms(value: str) -> list[tuple[int, tuple[str, ...]]]:
        return query_terms(value)


class RussianEnglishAnalyzer(CompositeAnalyzer):
    """The text analyzer, with fast paths: ``term_positions`` for indexing, ``query_terms`` for queries."""

    def term_positions(self, value: str) -> dict[str, list[int]]:
        return term_positions(value)

    def index_term_positions(self, value: str) -> dict[bytes, list[int]]:
        return index_term_positions(value)

    def query_terms(self, value: str) -> list[tuple[int, tuple[str, ...]]]:
        return query_terms(value)


def text_analyzer() -> Analyzer:
    """Analyzer of free text (title, content, people): Russian lemmas, Snowball stems otherwise."""
    return RussianEnglishAnalyzer(RussianEnglishTokenizer())


class NumberNormalizer(Filter):
    """Normalises a registration or certificate number: case, ё, spaces and a leading №."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            t.text = normalize_number(t.text)
            if t.text:
                yield t


_NUMBER_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_]+")
_AROUND_PUNCTUATION = re.compile(r"-?([/.,:])-?")


def normalize_number(value: str) -> str:
    """The canonical form of a registration, certificate or blank number, for exact matching: any
    letter case, ё as е, without a leading №, dashes and spaces alike (one run of them is one
    dash, none next to a slash or a dot): «№ ЦОК 77.01 — 123» is «цок-77.01-123»."""
    text = fold_yo(value).casefold().strip()
    text = text.lstrip("№n° \t")
    text = _NUMBER_SEPARATORS.sub("-", text).strip("-")
    return _AROUND_PUNCTUATION.sub(r"\1", text)


def number_analyzer() -> Analyzer:
    """Analyzer of an exact number: the whole value is one normalised token."""
    return IDTokenizer() | NumberNormalizer()


def keyword_analyzer() -> Analyzer:
    """Analyzer of an exact value (type, state, organisation, owner): the whole value, case-folded."""
    return IDTokenizer() | LowercaseFilter() | YoFilter()


def tags_analyzer() -> Analyzer:
    """Analyzer of a comma-separated tag list: each tag is one case-folded token."""
    return RegexTokenizer(r"[^,]+") | StripFilter() | LowercaseFilter() | YoFilter()


class StripFilter(Filter):
    """Strips spaces around a token and drops empty ones."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            t.text = t.text.strip()
            if t.text:
                yield t

