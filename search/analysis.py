"""Text analysis for Russian and English: tokens, case folding, ё→е, stop words, Snowball stems.

The analyzer is pickled into the index's table of contents by Whoosh, so every filter here
must pickle without its (unpicklable) PyStemmer objects and rebuild them lazily.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import Stemmer
from whoosh.analysis import (
    Analyzer,
    CompositeAnalyzer,
    Tokenizer,
    Filter,
    IDTokenizer,
    LowercaseFilter,
    RegexTokenizer,
    Token,
)

WORD_PATTERN = r"[0-9a-zA-Zа-яА-ЯёЁ]+"
CYRILLIC = re.compile("[а-яё]")

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


class RussianEnglishStemFilter(Filter):
    """Snowball stems: the Russian stemmer for Cyrillic tokens, the English one for the rest.

    Stems are memoised in a dictionary bounded at ``cachesize`` entries (cleared when full,
    which keeps the hot path to one dict lookup).
    """

    is_morph = True

    def __init__(self, cachesize: int = 200_000, min_length: int = 3) -> None:
        self.cachesize = cachesize
        self.min_length = min_length
        self._cache: dict[str, str] = {}
        self._russian: Stemmer.Stemmer | None = None
        self._english: Stemmer.Stemmer | None = None

    def __getstate__(self) -> dict[str, int]:
        return {"cachesize": self.cachesize, "min_length": self.min_length}

    def __setstate__(self, state: dict[str, int]) -> None:
        RussianEnglishStemFilter.__init__(self, **state)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RussianEnglishStemFilter)
            and other.cachesize == self.cachesize
            and other.min_length == self.min_length
        )

    def stem(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if len(word) < self.min_length or word.isdigit():
            stem = word
        elif CYRILLIC.search(word):
            if self._russian is None:
                self._russian = Stemmer.Stemmer("russian")
            stem = self._russian.stemWord(word)
        else:
            if self._english is None:
                self._english = Stemmer.Stemmer("english")
            stem = self._english.stemWord(word)
        if len(self._cache) >= self.cachesize:
            self._cache.clear()
        self._cache[word] = stem
        return stem

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        stem = self.stem
        for t in tokens:
            if not t.stopped:
                t.text = stem(t.text)
            yield t


class NumberNormalizer(Filter):
    """Normalises a registration or certificate number: case, ё, spaces and a leading №."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            t.text = normalize_number(t.text)
            if t.text:
                yield t


def normalize_number(value: str) -> str:
    """The canonical form of a registration or certificate number, for exact matching."""
    text = fold_yo(value).casefold()
    text = text.lstrip("№n° \t")
    return "".join(text.split())


class RussianEnglishTokenizer(Tokenizer):
    """Words of Cyrillic, Latin letters and digits, lower-cased, ё→е, without stop words, stemmed.

    One pass instead of a chain of five filters: analysis is most of the indexing time.
    Positions skip nothing for stop words, so "соглашение с держателем" is a phrase of two.
    """

    def __init__(self, cachesize: int = 200_000) -> None:
        self.stemmer = RussianEnglishStemFilter(cachesize=cachesize)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RussianEnglishTokenizer) and other.stemmer == self.stemmer

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
        stem = self.stemmer.stem
        lowered = value.lower().replace("ё", "е")
        same_length = len(lowered) == len(value)
        source = lowered if same_length else value
        pos = start_pos
        for match in _WORD.finditer(source):
            word = match.group(0) if same_length else fold_yo(match.group(0).lower())
            if word in STOP_WORDS:
                continue
            t.text = stem(word)
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = word
            if positions:
                t.pos = pos
                pos += 1
            if chars:
                t.startchar = start_char + match.start()
                t.endchar = start_char + match.end()
            yield t

    def stems(self, value: str) -> list[str]:
        """The stems of ``value`` in order (a stem's index is its position), without Token objects."""
        stem = self.stemmer.stem
        lowered = value.lower().replace("ё", "е")
        if len(lowered) == len(value):
            words = _WORD.findall(lowered)
        else:
            words = [fold_yo(w.lower()) for w in _WORD.findall(value)]
        return [stem(w) for w in words if w not in STOP_WORDS]


_WORD = re.compile(WORD_PATTERN)


class RussianEnglishAnalyzer(CompositeAnalyzer):
    """The text analyzer, with a fast path for indexing: ``stems`` gives the stems in order."""

    def stems(self, value: str) -> list[str]:
        return self.items[0].stems(value)


def text_analyzer() -> Analyzer:
    """Analyzer of free text (title, content, people): Russian and English morphology."""
    return RussianEnglishAnalyzer(RussianEnglishTokenizer())


def word_stems(text: str) -> list[str]:
    """The indexed forms of the words of ``text``."""
    return [t.text for t in _STEMS(text, mode="query")]


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


_STEMS = text_analyzer()
