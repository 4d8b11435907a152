"""How well forms of one word meet, and how often different words wrongly meet: our analyzer beside Snowball.

    python bench/morphology.py [--lexemes 300] [--pairs 100] [--seed 18] [--seeds DIR]

Samples lexemes of the OpenCorpora dictionary (pymorphy3) with a fixed seed: nouns, adjectives
(full, short and comparative forms), verbs (personal forms, infinitive, gerunds) and the verbs'
participles. For each analyzer — ours (``search.analysis``: dictionary lemmas, Snowball for unknown
words, stop words dropped) and plain Snowball (PyStemmer's Russian stemmer, as Elasticsearch's
``russian`` analyzer) — it prints:

- recall: the share of pairs of forms of one lexeme whose terms meet (share a term); up to
  ``--pairs`` random pairs per lexeme;
- false merges: the share of pairs of different words whose terms meet, where "different" means
  the dictionary gives them no lemma in common: (a) every pair of the frequent words of the seed
  texts (``/work/shared/seeds``: the words of our documents, the commonest first), (b) random
  pairs of forms of different sampled lexemes.

Lexemes are drawn through the dictionary's prefix index (every three-letter prefix, in a seeded
random order; at most one lexeme of a class per prefix): reading all 5 million forms of
the dictionary takes ten minutes, a prefix takes milliseconds.
"""

from __future__ import annotations

import argparse
from importlib import metadata
import itertools
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from search.analysis import fold_yo, morphology, query_terms, snowball  # noqa: E402

CLASSES = ("nouns", "adjectives", "verbs", "participles", "participle → verb")
TARGETS = {"nouns": 0.98, "adjectives": 0.98, "verbs": 0.95, "participles": 0.95}
FALSE_MERGE_TARGET = 0.01
ALPHABET = "абвгдежзиклмнопрстуфхцчшщэюя"
FREQUENT_WORDS = 2000

Terms = Callable[[str], frozenset[str]]


def ours(word: str) -> frozenset[str]:
    return frozenset(t for _, terms in query_terms(word) for t in terms)


def plain_snowball(word: str) -> frozenset[str]:
    return frozenset({snowball(fold_yo(word.lower()))})


ANALYZERS: dict[str, Terms] = {"ours (lemmas)": ours, "Snowball": plain_snowball}


def seed_words(seeds: Path) -> list[str]:
    counts: dict[str, int] = {}
    for path in sorted(seeds.glob("*.txt")) if seeds.is_dir() else ():
        for word in re.findall(r"[а-яё]+", path.read_text(encoding="utf-8", errors="ignore").lower()):
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def prefixes(words: Iterable[str], rng: random.Random) -> list[str]:
    found = {w[:3] for w in words if len(w) >= 3}
    found |= {a + b + c for a in ALPHABET for b in ALPHABET for c in ALPHABET}
    ordered = sorted(found)
    rng.shuffle(ordered)
    return ordered


def lexeme_forms(morph, lemma: str, pos: str) -> list:  # noqa: ANN001
    for parse in morph.parse(lemma):
        if parse.normal_form == lemma and pos == parse.tag.POS:
            return list(parse.lexeme)
    return []


def sample_lexemes(morph, count: int, rng: random.Random, words: list[str]) -> dict[str, list[list]]:  # noqa: ANN001
    """{class: [[Parse of each form] of a lexeme]}, ``count`` lexemes each (participles from the verbs)."""
    wanted = {"NOUN": "nouns", "ADJF": "adjectives", "INFN": "verbs"}
    found: dict[str, list[list]] = {"nouns": [], "adjectives": [], "verbs": []}
    seen: set[tuple[str, str]] = set()
    for prefix in prefixes(words, rng):
        if all(len(v) >= count for v in found.values()):
            break
        lemmas = [(word, tag.POS) for word, tag, normal, _, idx in morph.dictionary.iter_known_words(prefix)
                  if idx == 0 and word == normal and tag.POS in wanted and "Abbr" not in tag
                  and "-" not in word and len(word) >= 3]
        rng.shuffle(lemmas)
        taken = set()
        for lemma, pos in lemmas:
            kind = wanted[pos]
            if len(found[kind]) >= count or kind in taken or (lemma, pos) in seen:
                continue
            forms = lexeme_forms(morph, lemma, pos)
            if len({f.word for f in forms}) < 2:
                continue
            seen.add((lemma, pos))
            taken.add(kind)  # one lexeme of a class per prefix: spread over the dictionary
            found[kind].append(forms)
    return found


def pairs_of(forms: list[str], limit: int, rng: random.Random) -> list[tuple[str, str]]:
    every = list(itertools.combinations(sorted(set(forms)), 2))
    return every if len(every) <= limit else rng.sample(every, limit)


def class_pairs(lexemes: dict[str, list[list]], limit: int, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {name: [] for name in CLASSES}
    for kind in ("nouns", "adjectives"):
        for forms in lexemes[kind]:
            result[kind] += pairs_of([f.word for f in forms], limit, rng)
    for forms in lexemes["verbs"]:
        verb = [f.word for f in forms if f.tag.POS in ("INFN", "VERB", "GRND")]
        result["verbs"] += pairs_of(verb, limit, rng)
        participle = [f.word for f in forms if f.tag.POS in ("PRTF", "PRTS")]
        if participle:
            result["participles"] += pairs_of(participle, limit, rng)
            infinitive = forms[0].word
            picked = rng.sample(participle, min(len(participle), max(1, limit // 5)))
            result["participle → verb"] += [(p, infinitive) for p in picked]
    return result


def recall(pairs: list[tuple[str, str]], terms: Terms) -> float:
    met = sum(1 for a, b in pairs if terms(a) & terms(b))
    return met / len(pairs) if pairs else float("nan")


def lemma_sets(morph, words: Iterable[str]) -> dict[str, frozenset[str]]:  # noqa: ANN001
    return {w: frozenset(fold_yo(p.normal_form) for p in morph.parse(w) if p.is_known) for w in words}


def false_merges_all_pairs(words: list[str], lemmas: dict[str, frozenset[str]], terms: Terms) -> tuple[int, int, list]:
    """(pairs of different words that meet, pairs of different words, examples) over every pair of ``words``."""
    n = len(words)
    total_pairs = n * (n - 1) // 2
    same: set[tuple[str, str]] = set()
    by_lemma: dict[str, list[str]] = defaultdict(list)
    for w in words:
        for lemma in lemmas[w]:
            by_lemma[lemma].append(w)
    for group in by_lemma.values():
        same.update(itertools.combinations(sorted(group), 2))
    meeting: set[tuple[str, str]] = set()
    by_term: dict[str, list[str]] = defaultdict(list)
    for w in words:
        for term in terms(w):
            by_term[term].append(w)
    for group in by_term.values():
        meeting.update(itertools.combinations(sorted(set(group)), 2))
    wrong = sorted(meeting - same)
    return len(wrong), total_pairs - len(same), wrong[:6]


def false_merges_sampled(lexemes: dict[str, list[list]], terms: Terms, lemmas_of: Callable[[str], frozenset[str]],
                         rng: random.Random, count: int = 100_000) -> tuple[int, int, list]:
    forms = [(i, f.word) for i, lexeme in enumerate(lx for group in lexemes.values() for lx in group)
             for f in lexeme]
    wrong: list[tuple[str, str]] = []
    different = 0
    for _ in range(count):
        (i, a), (j, b) = rng.choice(forms), rng.choice(forms)
        if i == j or a == b or lemmas_of(a) & lemmas_of(b):
            continue
        different += 1
        if terms(a) & terms(b):
            wrong.append((a, b))
    return len(wrong), different, wrong[:6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lexemes", type=int, default=300, help="lexemes per class")
    parser.add_argument("--pairs", type=int, default=100, help="pairs of forms per lexeme at most")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--seeds", type=Path, default=ROOT.parent / "shared" / "seeds")
    args = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    morph = morphology()
    words = seed_words(args.seeds)
    lexemes = sample_lexemes(morph, args.lexemes, rng, words)
    pairs = class_pairs(lexemes, args.pairs, rng)
    sampled = time.perf_counter() - started
    versions = "pymorphy3 {}, pymorphy3-dicts-ru {}".format(*(metadata.version(p) for p in ("pymorphy3",
                                                                                         "pymorphy3-dicts-ru")))
    print(f"{versions} (OpenCorpora), seed {args.seed}; "
          f"lexemes: " + ", ".join(f"{len(v)} {k}" for k, v in lexemes.items()) + f"; sampled in {sampled:.1f} s")
    print()
    print(f"{'recall (pairs of forms of one lexeme that meet)':<50}" + "".join(f"{name:>16}" for name in ANALYZERS)
          + f"{'pairs':>9}{'target':>9}")
    for name in CLASSES:
        row = "".join(f"{100 * recall(pairs[name], terms):>15.1f}%" for terms in ANALYZERS.values())
        target = f"≥ {100 * TARGETS[name]:.0f}%" if name in TARGETS else ""
        print(f"  {name:<48}{row}{len(pairs[name]):>9}{target:>9}")
    print()
    cache: dict[str, frozenset[str]] = {}

    def lemmas_of(word: str) -> frozenset[str]:
        if word not in cache:
            cache[word] = lemma_sets(morph, [word])[word]
        return cache[word]

    known = [w for w in words if morph.word_is_known(w) and ours(w)][:FREQUENT_WORDS]
    for w in known:
        lemmas_of(w)
    print(f"{'false merges (pairs of different words that meet)':<50}" + "".join(f"{n:>16}" for n in ANALYZERS)
          + f"{'pairs':>9}{'target':>9}")
    examples: dict[str, list] = {}
    cells: list[str] = []
    different = 0
    for name, terms in ANALYZERS.items():
        wrong, different, shown = false_merges_all_pairs(known, cache, terms)
        cells.append(f"{100 * wrong / max(different, 1):>9.3f}% ({wrong:>4})")
        examples[f"{name}, frequent words"] = shown
    print(f"  {f'{len(known)} frequent words of the seed texts, all pairs':<48}" + "".join(f"{c:>16}" for c in cells)
          + f"{different:>9}{'≤ 1%':>9}")
    cells = []
    for name, terms in ANALYZERS.items():
        wrong, different, shown = false_merges_sampled(lexemes, terms, lemmas_of, random.Random(args.seed))
        cells.append(f"{100 * wrong / max(different, 1):>9.3f}% ({wrong:>4})")
        examples[f"{name}, sampled lexemes"] = shown
    print(f"  {'forms of different sampled lexemes, random pairs':<48}" + "".join(f"{c:>16}" for c in cells)
          + f"{different:>9}{'≤ 1%':>9}")
    print()
    for label, shown in examples.items():
        if shown:
            print(f"  e.g. {label}: " + ", ".join(f"{a}/{b}" for a, b in shown))
    missed = [(a, b) for a, b in pairs["verbs"] + pairs["nouns"] + pairs["adjectives"] if not ours(a) & ours(b)]
    if missed:
        print("  e.g. ours missed: " + ", ".join(f"{a}/{b}" for a, b in missed[:8]))
    print(f"\n{time.perf_counter() - started:.1f} s in all")


if __name__ == "__main__":
    main()
