"""Text analysis for a rebuild in worker processes; the one index writer stays in the caller.

Analysis (tokens, stems, positions, the compressed excerpt) is about 40% of writing a
document. Workers turn ``IndexedDocument`` records into Whoosh field values whose text fields
are already analysed (``Analyzed``: Whoosh's (term bytes, frequency, weight, value) items), and
``pool.FastSegmentWriter`` pools those items directly. Only the caller's process writes the
index: workers never open it.

Documents go to the workers a window at a time and at most two windows are in flight, so
memory stays bounded however many documents the iterable yields; results come back in the
input order. A worker that raises (a bad document) or dies makes the iteration raise, and the
caller's rebuild removes its unfinished generation.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from search.schema import TEXT_FIELDS, IndexedDocument, build_schema, to_fields

WINDOW = 1000  # documents per window handed to the workers
CHUNK = 50  # documents per task
# None by default: measured on the shared 2-core machine (load average 5), one worker made a
# rebuild slower (219 against 280 documents per second; pickling the postings adds 20% CPU);
# it pays only when a core is idle. ``SearchIndex.rebuild(..., workers=N)`` asks for them.
DEFAULT_WORKERS = 0

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Analyzed:
    """A text field's value analysed in a worker: the postings Whoosh's ``field.index`` gives."""

    items: list[tuple[bytes, int, float, bytes]]


_schema = None


def analyse(doc: IndexedDocument) -> dict[str, Any]:
    """``to_fields(doc)`` with every text field analysed (the original kept for storing)."""
    global _schema
    if _schema is None:
        _schema = build_schema()
    fields = to_fields(doc)
    for name in TEXT_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        field = _schema[name]
        fields[name] = Analyzed(list(field.index(value)))
        if field.stored:
            fields[f"_stored_{name}"] = value
    return fields


def analysed_fields(documents: Iterable[IndexedDocument], workers: int = DEFAULT_WORKERS) -> Iterator[dict[str, Any]]:
    """The Whoosh field values of ``documents`` in order, analysed by ``workers`` processes
    (``to_fields`` in this process when ``workers`` is 0)."""
    if workers <= 0:
        yield from (to_fields(doc) for doc in documents)
        return
    yield from ordered_map(analyse, documents, workers)


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(function, items)`` in ``workers`` processes: results in the input order, a window of
    ``WINDOW`` items at a time and at most two windows in flight (memory stays bounded however many
    items the iterable yields). Fewer items than one window are mapped in this process.
    ``function`` must be a module-level function (it is pickled by name)."""
    if workers <= 0:
        yield from map(function, items)
        return
    iterator = iter(items)
    first = list(islice(iterator, WINDOW))
    if len(first) < WINDOW:  # all of it fits one window: not worth starting processes
        yield from map(function, first)
        return
    # fork: `python -m dms` runs its CLI on import, which a spawned worker would do again.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Iterator[R]] = deque()
        window = first
        while window:
            pending.append(pool.map(function, window, chunksize=CHUNK))
            if len(pending) > 1:
                yield from pending.popleft()
            window = list(islice(iterator, WINDOW))
        while pending:
            yield from pending.popleft()


__all__ = ["Analyzed", "DEFAULT_WORKERS", "analyse", "analysed_fields", "ordered_map"]
