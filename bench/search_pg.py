"""Search benchmark of the PostgreSQL backend (search/pg.py) beside our Whoosh index, in the same run.

    python bench/search_pg.py [--docs 100000] [--whoosh-docs N] [--repeat 3] [--seeds DIR]
                              [--dsn postgresql+psycopg://postgres@127.0.0.1:5432/test] [--keep]

The documents, the query mix and the three permission filters are bench/search.py's (imported, not
copied). Prints ``uptime`` before and after, then for each backend: the rebuild's documents per second
(wall; per CPU-second of this process and its worker processes, and for PostgreSQL also counting its server
process's CPU),
the size per document (tables and indexes), and p50/p95 of the query mix under the three filters with
highlights, without and with the four facets dms asks for; then p50/p95 per query. The tables live
under a prefix of their own and are dropped at the end (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This script sits beside bench/search.py: the search package must win over that file.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

_spec = importlib.util.spec_from_file_location("bench_search", ROOT / "bench" / "search.py")
assert _spec and _spec.loader
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)

FACETS = ("doc_type", "state", "org", "year")
Timings = tuple[list[float], float, dict[str, list[float]]]  # warm, cold max, per query


def uptime(label: str) -> None:
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime {label}: {out}", flush=True)


def server_cpu_seconds(pid: int) -> float:
    """utime + stime of a PostgreSQL server process (same machine), 0 if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children_cpu_seconds() -> float:
    """CPU of this process's ended children (the rebuild's worker processes, once it has joined them)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def build_pg(engine, prefix: str, count: int, words: list[str]) -> dict:
    from sqlalchemy import text

    from search.pg import PgSearchIndex

    index = PgSearchIndex.create_or_open(engine, prefix=prefix)
    engine.dispose()
    # The pool then holds one connection, which the rebuild reuses: its server process's CPU is read.
    with engine.connect() as c:
        pid = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
    server = server_cpu_seconds(pid)
    started, cpu = time.perf_counter(), time.process_time() + children_cpu_seconds()
    stats = index.rebuild(common.documents(count, words))  # what `dms reindex` calls (its worker processes)
    seconds, cpu = time.perf_counter() - started, time.process_time() + children_cpu_seconds() - cpu
    server = server_cpu_seconds(pid) - server
    with engine.connect() as c:
        size = c.execute(text("SELECT pg_total_relation_size(:d) + pg_total_relation_size(:t)"),
                         {"d": index.docs, "t": index.terms}).scalar_one()
    return {"index": index, "docs": stats.documents, "seconds": seconds, "cpu": cpu, "server_cpu": server,
            "bytes": size}


def build_whoosh(directory: Path, count: int, words: list[str]) -> dict:
    from search.index import SearchIndex

    index = SearchIndex.create_or_open(directory)
    started, cpu = time.perf_counter(), time.process_time()
    stats = index.rebuild(common.documents(count, words))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    path = directory / index.current_generation()
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return {"index": index, "docs": stats.documents, "seconds": seconds, "cpu": cpu, "server_cpu": 0.0,
            "bytes": size}


def timings(run: Callable[..., object], queries: list[str], repeat: int, facets: bool) -> Timings:
    from search.query import SearchRequest

    cold: list[float] = []
    warm: list[float] = []
    by_query: dict[str, list[float]] = {q: [] for q in queries}
    for allowed in common.permission_filters().values():
        for round_ in range(repeat + 1):
            for q in queries:
                request = SearchRequest(q=q, allowed=allowed, page_size=10, highlight=True,
                                        facets=FACETS if facets else ())
                started = time.perf_counter()
                run(request)
                elapsed = time.perf_counter() - started
                (cold if round_ == 0 else warm).append(elapsed)
                if round_:
                    by_query[q].append(elapsed)
    return warm, max(cold), by_query


def ms(values: list[float], p: float) -> float:
    return common.percentile(values, p) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--whoosh-docs", type=int, default=None, help="our Whoosh index's documents "
                        "(default: --docs; 0: no Whoosh build)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seeds", type=Path, default=ROOT.parent / "shared" / "seeds")
    parser.add_argument("--dsn", default=os.environ.get("SEARCH_TEST_PG_URL",
                                                        "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL tables")
    args = parser.parse_args()

    from sqlalchemy import create_engine

    from search.query import SearchRequest, search

    seeds = args.seeds if args.seeds and args.seeds.is_dir() else None
    words = common.vocabulary(seeds)
    whoosh_docs = args.docs if args.whoosh_docs is None else args.whoosh_docs
    uptime("at start")
    print(f"{args.docs} synthetic documents of {common.WORDS_PER_DOC} words (bench/search.py's); vocabulary "
          f"{len(words)} words from {'seeds' if seeds else 'a built-in list'}; {os.cpu_count()} CPUs", flush=True)
    engine = create_engine(args.dsn)
    prefix = f"bench{os.getpid()}_"
    work = Path(tempfile.mkdtemp(prefix="bench-search-pg-"))
    builds: dict[str, dict] = {}
    try:
        builds["postgres"] = build_pg(engine, prefix, args.docs, words)
        print_build("postgres", builds["postgres"])
        if whoosh_docs:
            builds["whoosh"] = build_whoosh(work / "whoosh", whoosh_docs, words)
            print_build("whoosh", builds["whoosh"])
        uptime("after the builds")
        queries = common.query_mix(words, args.docs)
        runs: dict[str, Callable[..., object]] = {"postgres": builds["postgres"]["index"].search}
        if "whoosh" in builds:
            whoosh_index = builds["whoosh"]["index"]
            runs["whoosh"] = lambda request: search(whoosh_index, request)
        measured: dict[str, Timings] = {}
        for name, run in runs.items():
            for facets in (False, True):
                label = name + (" + 4 facets" if facets else "")
                measured[label] = timings(run, queries, args.repeat, facets)
                warm, cold, _ = measured[label]
                print(f"{label:<22} p50 {ms(warm, 50):7.1f} ms  p95 {ms(warm, 95):7.1f} ms  "
                      f"max {ms(warm, 100):7.1f} ms  cold max {cold * 1000:7.1f} ms  ({len(warm)} queries)",
                      flush=True)
        auditor = common.permission_filters()["auditor(whole tree)"]
        names = list(measured)
        print("\nper query (3 filters x warm rounds), p50 / p95 ms: " + " | ".join(names) + " | auditor's hits")
        for q in queries:
            total = builds["postgres"]["index"].search(SearchRequest(q=q, allowed=auditor, page_size=10)).total
            cells = "  ".join(f"{ms(measured[n][2][q], 50):7.1f} /{ms(measured[n][2][q], 95):7.1f}" for n in names)
            print(f"  {q[:30]:<32}{cells}{total:>9}")
        uptime("at the end")
    finally:
        if "postgres" in builds and not args.keep:
            builds["postgres"]["index"].drop()
        shutil.rmtree(work, ignore_errors=True)
        engine.dispose()


def print_build(name: str, b: dict) -> None:
    line = (f"{name:<10} rebuild of {b['docs']} documents: {b['seconds']:.0f} s, {b['docs'] / b['seconds']:.0f} docs/s "
            f"wall, {b['docs'] / max(b['cpu'], 1e-9):.0f} per CPU-second of this process and its workers")
    if b["server_cpu"]:
        line += (f", {b['docs'] / (b['cpu'] + b['server_cpu']):.0f} per CPU-second with the server's "
                 f"({b['server_cpu']:.0f} s)")
    print(line + f"; {b['bytes'] / b['docs'] / 1024:.2f} KB/doc", flush=True)


if __name__ == "__main__":
    main()
