"""Search benchmark: our index (search/) beside plain Whoosh defaults and the PostgreSQL backend, in the same run.

    python bench/search.py [--docs 100000[,1000000]] [--baseline-docs N] [--repeat 3] [--seeds DIR] [--work DIR]
                           [--reindex] [--http] [--postgres [--dsn URL]] [--keep] [--reuse DIR]

Builds an index of synthetic Russian documents (~300 words each, words drawn from the seed
texts with a Zipf-like frequency), then prints for each engine: indexing rate, index size per
document, peak memory of the build (measured in a child process), the cold first phrase (a new
process), and p50/p95 latency of a fixed query mix run under three permission filters with highlights.
``--docs`` takes a comma list: each size runs in turn in the same run (100,000 and 1,000,000, say).

Plain Whoosh is built with ``--baseline-docs`` documents (the same documents, the first N of
them; default: all of them up to 100,000 — beyond that its queries take minutes each), so that
``--docs 1000000`` compares with Whoosh at the largest size it can reach in the same run.

With ``--postgres`` the PostgreSQL backend (search/pg.py, bench/search_pg.py's build and timings) indexes the
same documents and answers the same mix (its rate counts its server process's CPU).

With ``--reindex`` it also fills a SQLite archive (``dms init``, then the same documents as
rows with their extracted text already cached, as after ingestion) and runs the real
``dms reindex`` command on it, reporting its time and peak RSS (VmHWM, read while it runs); that index is then
ours for every in-process figure, so a size is built once (its rate includes reading the archive).
``--http`` then serves that archive with ``dms serve --workers 2`` (gunicorn) and asks the mix through
GET /api/v1/search as an auditor and as a reader of three subtrees: latency of one client, throughput of
four, and the server's CPU per request.

``--keep`` keeps the work directory; ``--reuse DIR`` measures the queries again over the builds kept there
(a run of several sizes keeps one subdirectory per size), without building.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is itself called search.py: the package must win over the script's directory.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

WORDS_PER_DOC = 300
BASELINE_MAX_DOCS = 100_000
FOLDERS_PER_LEVEL = (8, 6, 4)  # a tree of 8 + 48 + 192 folders under the root "0"
STATES = ("draft", "registered", "on_signing", "signed", "cancelled")
TYPES = ("order", "certificate", "agreement", "report", "application")
ORGS = tuple(f"ЦОК-{n:02d}" for n in range(20))
OWNERS = tuple(f"u{n}" for n in range(50))
FALLBACK_WORDS = [
    "приказ", "свидетельство", "квалификация", "экзамен", "центр", "оценка", "эксперт", "соискатель",
    "практика", "держатель", "соглашение", "отчет", "мониторинг", "аудит", "бланк", "реестр", "заявление",
    "протокол", "комиссия",
]


# -- synthetic documents -------------------------------------------------------------------

def vocabulary(seeds: Path | None) -> list[str]:
    words: dict[str, int] = {}
    if seeds and seeds.is_dir():
        for path in sorted(seeds.glob("*.txt")):
            for word in re.findall(r"[а-яё]{3,}", path.read_text(encoding="utf-8", errors="ignore").lower()):
                words[word] = words.get(word, 0) + 1
    ranked = sorted(words, key=lambda w: (-words[w], w)) or FALLBACK_WORDS
    return ranked


def folder_tree() -> list[tuple[str, tuple[str, ...]]]:
    """(folder id, ancestor chain from the root) of every leaf-level folder and above."""
    folders: list[tuple[str, tuple[str, ...]]] = []
    level: list[tuple[str, tuple[str, ...]]] = [("0", ("0",))]
    counter = 1
    for width in FOLDERS_PER_LEVEL:
        nxt = []
        for _, chain in level:
            for _ in range(width):
                folder = str(counter)
                counter += 1
                nxt.append((folder, chain + (folder,)))
        folders += nxt
        level = nxt
    return folders


def documents(count: int, words: list[str]):
    from search.schema import IndexedDocument

    folders = folder_tree()
    weights = [1.0 / (rank + 10) for rank in range(len(words))]
    cumulative = list(_accumulate(weights))
    rng = random.Random(20241122)
    for n in range(count):
        text = rng.choices(words, cum_weights=cumulative, k=WORDS_PER_DOC)
        folder, chain = rng.choice(folders)
        kind = rng.choice(TYPES)
        yield IndexedDocument(
            id=str(n),
            version="1",
            title=" ".join(rng.choices(words[:2000], k=6)).capitalize(),
            content=" ".join(text).capitalize() + ".",
            doc_type=kind,
            state=rng.choice(STATES),
            org=rng.choice(ORGS),
            owner=rng.choice(OWNERS),
            folder_id=folder,
            folder_path=chain,
            reg_number=registration_number(n),
            people=(rng.choice(("Иванов", "Петрова", "Сидоров", "Кузнецова")),),
            date=date(2015 + n % 10, 1 + n % 12, 1 + n % 28),
        )


def registration_number(n: int) -> str:
    return f"{n % 97:02d}-{n % 7}/{n}"


def _accumulate(values):
    total = 0.0
    for v in values:
        total += v
        yield total


# -- builds, each in its own process so that peak memory is the build's own ------------

def build_ours(directory: Path, count: int, words: list[str]) -> dict:
    from search.index import SearchIndex

    generation = generation_cost(count, words)
    index = SearchIndex.create_or_open(directory)
    cpu = time.process_time()
    stats = index.rebuild(documents(count, words))  # what `dms reindex` calls (the same defaults)
    cpu = time.process_time() - cpu
    path = directory / index.current_generation()
    return {"docs": stats.documents, "seconds": stats.seconds, **generation,
            "cpu_seconds": cpu, "bytes": _size(path)}


GENERATION_SAMPLE = 20_000


def generation_cost(count: int, words: list[str]) -> dict:
    """Wall and CPU seconds of generating the ``count`` synthetic documents (subtracted from the
    build's), measured on the first ``GENERATION_SAMPLE`` of them and scaled: each costs the same,
    and generating a million twice would add minutes to the run. CPU seconds are subtracted from
    the build's CPU seconds (wall seconds under load are longer and would inflate the rate)."""
    sample = min(count, GENERATION_SAMPLE)
    started, cpu = time.perf_counter(), time.process_time()
    generated = sum(1 for _ in documents(sample, words))
    scale = count / max(sample, 1)
    return {"generation_seconds": (time.perf_counter() - started) * scale,
            "generation_cpu_seconds": (time.process_time() - cpu) * scale, "generated": generated}


def _baseline_schema():
    from whoosh.fields import ID, TEXT, Schema

    return Schema(
        id=ID(stored=True, unique=True), title=TEXT(stored=True), content=TEXT(stored=True),
        reg_number=ID(stored=True), state=ID, owner=ID, folder_id=ID, folder_path=ID,
    )


def build_baseline(directory: Path, count: int, words: list[str]) -> dict:
    from whoosh import index as whoosh_index

    generation = generation_cost(count, words)
    directory.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    ix = whoosh_index.create_in(str(directory), _baseline_schema())
    writer = ix.writer()
    for d in documents(count, words):
        writer.add_document(
            id=d.id, title=d.title, content=d.content, reg_number=d.reg_number, state=d.state,
            owner=d.owner, folder_id=d.folder_id, folder_path=" ".join(d.folder_path),
        )
    writer.commit()
    return {"docs": count, "seconds": time.perf_counter() - started,
            **generation, "cpu_seconds": time.process_time() - cpu, "bytes": _size(directory)}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


BASE_ID = 1000


def fill_archive(data_dir: Path, count: int, words: list[str]) -> None:
    """A SQLite archive of ``count`` documents whose versions' texts are already extracted."""
    from datetime import datetime

    from sqlalchemy import insert, update

    from dms.config import Settings
    from dms.models import Document, Folder, Organisation, Version, VersionText
    from dms.runtime import Runtime

    env = _app_env(data_dir)
    subprocess.run([sys.executable, "-m", "dms", "init"], check=True, capture_output=True, env=env, cwd=ROOT)
    rt = Runtime(Settings.from_env(env))
    now = datetime(2024, 1, 1)
    with rt.db.session() as s:
        # Ids above those `dms init` creates (its root folder and agency).
        s.execute(insert(Organisation), [{"id": BASE_ID + n, "code": code, "name": code, "kind": "assessment_centre"}
                                         for n, code in enumerate(ORGS)])
        folders = [("0", ("0",))] + folder_tree()
        rows = [{"id": BASE_ID + int(f), "parent_id": BASE_ID + int(chain[-2]) if len(chain) > 1 else None,
                 "name": f"папка {f}", "path": "/" + "/".join(str(BASE_ID + int(c)) for c in chain) + "/"}
                for f, chain in folders]
        s.execute(insert(Folder), rows)
    org_ids = {code: BASE_ID + n for n, code in enumerate(ORGS)}
    batch: list = []

    def flush() -> None:
        with rt.db.session() as s:
            s.execute(insert(Document), [d for d, _, _ in batch])
            s.execute(insert(Version), [v for _, v, _ in batch])
            s.execute(insert(VersionText), [t for _, _, t in batch])
        batch.clear()

    for d in documents(count, words):
        n = int(d.id) + 1
        batch.append((
            {"id": n, "doc_type": d.doc_type, "title": d.title, "folder_id": BASE_ID + int(d.folder_id),
             "organisation_id": org_ids[d.org], "state": d.state, "reg_number": d.reg_number,
             "reg_date": d.date, "meta": {"holder": d.people[0]}, "revision": 1,
             "created_at": now, "updated_at": now},
            {"id": n, "document_id": n, "number": 1, "object_key": f"{n:064x}", "sha256": f"{n:064x}",
             "size": len(d.content.encode()), "media_type": "text/plain", "filename": f"{n}.txt",
             "created_at": now},
            {"version_id": n, "text": d.content, "method": "text", "ocr_status": "", "extracted_at": now},
        ))
        if len(batch) == 5000:
            flush()
    if batch:
        flush()
    with rt.db.session() as s:
        s.execute(update(Document).values(current_version_id=Document.id))
    rt.close()


def _app_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DMS_DATABASE_URL", "DMS_STORAGE_URL", "DMS_INDEX_DIR")}
    env["DMS_DATA_DIR"] = str(data_dir)
    return env


def measure_reindex(work: Path, count: int, words: list[str]) -> dict:
    """Runs ``dms reindex`` over a filled archive; its own peak RSS comes from ``wait4``."""
    started = time.perf_counter()
    fill_archive(work / "app", count, words)
    filled = time.perf_counter() - started
    return {**run_reindex(work / "app"), "fill_seconds": filled}


def run_reindex(data_dir: Path) -> dict:
    """`dms reindex` of an archive: seconds, CPU seconds and peak RSS of the command."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "dms", "reindex"], env=_app_env(data_dir), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    # Peak RSS is read from /proc while it runs: the rusage of a child counts the memory of the
    # forked copy of this (large, after the queries) process before the exec.
    peak_kb = 0
    while True:
        time.sleep(0.1)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak_kb = max(peak_kb, peak_rss_kb(process.pid))
    process.returncode = os.waitstatus_to_exitcode(status)
    out = process.stdout.read() if process.stdout else b""
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"dms reindex failed with status {status}")
    indexed = json.loads(out.decode().strip().splitlines()[-1])["documents"]
    return {"docs": indexed, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": peak_kb / 1024}


def peak_rss_kb(pid: int | str = "self") -> int:
    """The high-water mark of a process's resident memory since its exec (VmHWM), 0 if gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def evict_from_page_cache(directory: Path) -> int:
    """Asks the kernel to drop the cached pages of every file under ``directory`` (posix_fadvise DONTNEED: no
    privilege needed, unlike drop_caches), as after a restart of the machine or a large job that filled the page
    cache. Returns the bytes of the files."""
    total = 0
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


def cold_phrase(directory: Path, count: int, words: list[str], evict: bool = False) -> dict:
    """The phrase of the mix as the first query of a new process that opened the index (the
    dictionary loaded first and timed apart: any first query loads it). ``evict``: the index's files are
    dropped from the page cache first, so the query reads what it needs from the disk."""
    started, cpu = time.perf_counter(), time.process_time()
    from search.analysis import morphology

    morphology()
    dictionary = time.perf_counter() - started, time.process_time() - cpu
    if evict:
        evict_from_page_cache(directory)
    from search.index import SearchIndex
    from search.query import SearchRequest, search

    index = SearchIndex.open(directory)
    phrase = query_mix(words, count)[6]
    started, cpu = time.perf_counter(), time.process_time()
    total = search(index, SearchRequest(q=phrase, allowed=permission_filters()["auditor(whole tree)"],
                                        page_size=10, highlight=True)).total
    return {"phrase": phrase, "hits": total, "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu, "dictionary_seconds": dictionary[0],
            "dictionary_cpu_seconds": dictionary[1]}


def child(kind: str, directory: Path, count: int, seeds: Path | None) -> None:
    words = vocabulary(seeds)
    if kind in ("cold", "cold-evicted"):
        print(json.dumps(cold_phrase(directory, count, words, evict=kind == "cold-evicted")))
        return
    result = {"ours": build_ours, "baseline": build_baseline}[kind](directory, count, words)
    # VmHWM, not ru_maxrss: the latter also counts the parent's image forked before the exec.
    result["peak_rss_mb"] = (peak_rss_kb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
    print(json.dumps(result))


def run_child(kind: str, directory: Path, count: int, seeds: Path | None) -> dict:
    args = [sys.executable, __file__, "--child", kind, "--dir", str(directory), "--docs", str(count)]
    if seeds:
        args += ["--seeds", str(seeds)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the query mix -------------------------------------------------------------------------

def query_mix(words: list[str], count: int) -> list[str]:
    from search.analysis import STOP_WORDS

    content = [w for w in words if w not in STOP_WORDS]
    common, middle, rare = content[2], content[60], content[min(len(content) - 1, 1000)]
    second, third = content[20], content[300]
    typo_of = content[80]
    typo = typo_of[:2] + typo_of[3] + typo_of[2] + typo_of[4:]
    return [
        common,                       # a broad query: matches most documents
        middle,
        rare,
        f"{second} {third}",          # two words, AND
        f"{middle} OR {rare}",
        f"{second} NOT {middle}",
        f'"{content[0]} {content[1]}"',  # a phrase of the two most frequent words
        f"{content[10]} {content[40]} {content[200]}",
        registration_number(count // 3),  # an exact registration number
        typo,                         # few or no hits: "did you mean" runs
    ]


def permission_filters() -> dict[str, list[dict[str, set[str]]] | None]:
    # Over the archive's own index (`dms reindex` of fill_archive's rows) the folders are BASE_ID + n.
    offset = int(os.environ.get("BENCH_FOLDER_OFFSET", "0"))

    def ids(*numbers: int) -> set[str]:
        return {str(n + offset) for n in numbers}

    return {
        "clerk(3 subtrees + own)": [{"folder_path": ids(1, 9, 17)}, {"owner": {"u7"}}],
        "reader(20 folders, signed)": [
            {"folder_id": ids(*range(60, 80)), "state": {"signed", "registered"}}
        ],
        "auditor(whole tree)": [{"folder_path": ids(0)}],
    }


def _baseline_filter(allowed):
    from whoosh import query as wq

    clauses = []
    for clause in allowed:
        clauses.append(wq.And([wq.Or([wq.Term(f, v) for v in sorted(values)])
                               for f, values in sorted(clause.items())]))
    return wq.Or(clauses)


Latencies = tuple[list[float], float, list[float], dict[str, list[float]]]  # warm, cold max, CPU, per query


def latencies_ours(directory: Path, queries: list[str], repeat: int, facets: bool) -> Latencies:
    from search.index import SearchIndex
    from search.query import SearchRequest, search

    index = SearchIndex.open(directory)
    cold: list[float] = []
    times: list[float] = []
    cpu_times: list[float] = []
    by_query: dict[str, list[float]] = {q: [] for q in queries}
    for allowed in permission_filters().values():
        for round_ in range(repeat + 1):
            for q in queries:
                request = SearchRequest(q=q, allowed=allowed, page_size=10, highlight=True,
                                        facets=("doc_type", "state", "org", "year") if facets else ())
                started, cpu = time.perf_counter(), time.process_time()
                search(index, request)
                elapsed = time.perf_counter() - started
                (cold if round_ == 0 else times).append(elapsed)
                if round_:
                    cpu_times.append(time.process_time() - cpu)
                    by_query[q].append(elapsed)
    return times, max(cold), cpu_times, by_query


def latencies_baseline(directory: Path, queries: list[str], repeat: int) -> Latencies:
    from whoosh import index as whoosh_index
    from whoosh.qparser import QueryParser

    ix = whoosh_index.open_dir(str(directory))
    searcher = ix.searcher()
    parser = QueryParser("content", ix.schema)
    cold: list[float] = []
    times: list[float] = []
    cpu_times: list[float] = []
    by_query: dict[str, list[float]] = {q: [] for q in queries}
    for allowed in permission_filters().values():
        flt = _baseline_filter(allowed)
        for round_ in range(repeat + 1):
            for q in queries:
                started, cpu = time.perf_counter(), time.process_time()
                results = searcher.search(parser.parse(q), filter=flt, limit=10)
                len(results)
                for hit in results:
                    hit.highlights("content")
                elapsed = time.perf_counter() - started
                (cold if round_ == 0 else times).append(elapsed)
                if round_:
                    cpu_times.append(time.process_time() - cpu)
                    by_query[q].append(elapsed)
    return times, max(cold), cpu_times, by_query


def _ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="100000",
                        help="documents; a comma list (100000,1000000) runs each size in turn in the same run")
    parser.add_argument("--baseline-docs", type=int, default=None,
                        help="documents of the plain-Whoosh build (default: --docs, at most 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of the query mix")
    parser.add_argument("--seeds", type=Path, default=ROOT.parent / "shared" / "seeds")
    parser.add_argument("--work", type=Path, default=None, help="where to build (default: a temp dir)")
    parser.add_argument("--reindex", action="store_true",
                        help="also time `dms reindex` over the same documents in a SQLite archive")
    parser.add_argument("--http", action="store_true",
                        help="and the query mix through GET /api/v1/search of that archive served by gunicorn "
                             "(2 workers); implies --reindex")
    parser.add_argument("--postgres", action="store_true",
                        help="also the PostgreSQL backend (search/pg.py) with the same documents and queries")
    parser.add_argument("--dsn", default=os.environ.get("SEARCH_TEST_PG_URL",
                                                        "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep", action="store_true", help="keep the built indexes (the work directory)")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="a work directory kept by an earlier run (of the same sizes): its builds are reused "
                             "(ours/, baseline/, app/, and the PostgreSQL tables named in pg-prefix), only the "
                             "queries are measured again")
    parser.add_argument("--child", choices=("ours", "baseline", "cold", "cold-evicted"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(n) for n in str(args.docs).split(",") if n.strip()]
    seeds = args.seeds if args.seeds and args.seeds.is_dir() else None
    if args.child:
        child(args.child, args.dir, sizes[0], seeds)
        return
    if args.reuse and len(sizes) > 1 and not all((args.reuse / str(n)).is_dir() for n in sizes):
        raise SystemExit(f"--reuse with several sizes takes the directory of a run of those sizes "
                         f"(subdirectories {', '.join(map(str, sizes))})")
    args.reindex = args.reindex or args.http

    work = args.reuse or Path(tempfile.mkdtemp(prefix="bench-search-", dir=args.work))
    started = time.perf_counter()
    try:
        words = vocabulary(seeds)
        print(f"load average at start: {_load()}")
        print(f"synthetic documents of {WORDS_PER_DOC} words; vocabulary {len(words)} words"
              f" from {'seeds' if seeds else 'a built-in list'}; {os.cpu_count()} CPUs; sizes "
              + ", ".join(f"{n:,}" for n in sizes))
        for size in sizes:
            run_size(args, seeds, words, size, work if len(sizes) == 1 else work / str(size))
        print(f"\nthe whole run: {(time.perf_counter() - started) / 60:.1f} min; load average now: {_load()}")
    finally:
        if args.keep or args.reuse:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_size(args: argparse.Namespace, seeds: Path | None, words: list[str], size: int, work: Path) -> None:
    """Every figure of one size: builds (or reused ones), the cold phrase, the query mix on each engine, then
    `dms reindex` and the HTTP API when asked."""
    print(f"\n=== {size:,} documents ({work}) ===")
    work.mkdir(parents=True, exist_ok=True)
    baseline_docs = args.baseline_docs or min(size, BASELINE_MAX_DOCS)
    if baseline_docs != size:
        print(f"plain Whoosh is built with the first {baseline_docs} of them")
    builds: dict[str, dict] = {}
    ours_dir = work / "ours"
    reindexed = None
    if args.reindex and not ours_dir.is_dir() and not (args.reuse and (work / "app" / "index").is_dir()):
        # The product's own command builds our index: `dms reindex` over an archive of the same documents. Its
        # index stands in for ours (the same documents and analyzer), so a large size is built once, not twice.
        reindexed = measure_reindex(work, size, words)
        print_reindex(reindexed)
        ours_dir = work / "app" / "index"
        os.environ["BENCH_FOLDER_OFFSET"] = str(BASE_ID)
        builds["ours"] = {"docs": reindexed["docs"], "seconds": reindexed["seconds"], "generation_seconds": 0.0,
                          "cpu_seconds": reindexed["cpu_seconds"], "generation_cpu_seconds": 0.0,
                          "bytes": reused_build(ours_dir, "ours", size)["bytes"],
                          "peak_rss_mb": reindexed["peak_rss_mb"], "reindex": True}
        print("search/: the index `dms reindex` built is ours for the in-process figures")
    elif args.reuse and not ours_dir.is_dir() and (work / "app" / "index").is_dir():
        # The index `dms reindex` built over the archive of the same documents (an earlier run's --reindex) stands
        # in for ours: the same documents and analyzer; its folder ids are the archive's.
        ours_dir = work / "app" / "index"
        os.environ["BENCH_FOLDER_OFFSET"] = str(BASE_ID)
        print("search/: the archive's own index (dms reindex) is reused for the in-process figures")
    for kind, count, directory in (("ours", size, ours_dir), ("baseline", baseline_docs, work / "baseline")):
        if kind in builds:
            continue
        if directory.is_dir() and args.reuse:
            builds[kind] = reused_build(directory, kind, count)
        else:
            builds[kind] = run_child(kind, directory, count, seeds)
        print(f"  {kind} built or reused ({_load()})", flush=True)
    queries = query_mix(words, size)
    for kind, where in (("cold", "the index in the page cache"),
                        ("cold-evicted", "the index's files dropped from the page cache first")):
        cold = run_child(kind, ours_dir, size, seeds)
        print(f"\ncold first phrase ({cold['phrase']}, {cold['hits']} hits, auditor, highlights), a new process"
              f" that opened the index, {where}: {cold['seconds'] * 1000:.0f} ms wall,"
              f" {cold['cpu_seconds'] * 1000:.0f} ms CPU (the dictionary loaded before it:"
              f" {cold['dictionary_seconds'] * 1000:.0f} ms wall, {cold['dictionary_cpu_seconds'] * 1000:.0f} ms CPU);"
              f" load average {_load()}")
    measured = {
        "ours": latencies_ours(ours_dir, queries, args.repeat, facets=False),
        "ours+facets": latencies_ours(ours_dir, queries, args.repeat, facets=True),
        "baseline": latencies_baseline(work / "baseline", queries, args.repeat),
    }
    if args.postgres:
        measure_postgres(args, work, size, words, queries, builds, measured)
    report(size, builds, measured, len(queries))
    per_query(ours_dir, queries, measured)
    if args.reindex and reindexed is None:
        if args.reuse and (work / "app" / "index").is_dir():
            print("\ndms reindex: the archive in app/ is reused (its figures are the run's that built it)")
        else:
            print_reindex(measure_reindex(work, size, words))
        print(f"load average now: {_load()}")
    if args.http:
        measure_http(work / "app", size, queries, args.repeat)


def print_reindex(r: dict) -> None:
    print(f"\ndms reindex of {r['docs']} documents (SQLite, texts cached; filled in {r['fill_seconds']:.0f} s):"
          f" {r['seconds']:.0f} s, {r['docs'] / r['seconds']:.0f} docs/s wall,"
          f" {r['docs'] / max(r['cpu_seconds'], 1e-9):.0f} docs per CPU-second,"
          f" peak RSS {r['peak_rss_mb']:.0f} MB; load average {_load()}", flush=True)


def reused_build(directory: Path, kind: str, count: int) -> dict:
    """A build kept by an earlier run: its size is measured again; its rates are that run's (not printed)."""
    if kind == "ours":
        from search.index import SearchIndex

        directory = directory / SearchIndex.open(directory).current_generation()
    return {"docs": count, "reused": True, "bytes": _size(directory)}


def _bench(name: str):  # noqa: ANN202
    """Another script of bench/ as a module (search_pg.py: its builds and timings, it imports this file as its
    ``common``; verify.py: the server's CPU)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure_postgres(args: argparse.Namespace, work: Path, size: int, words: list[str], queries: list[str],
                     builds: dict, measured: dict) -> None:
    """The PostgreSQL backend over the same documents: its build (or the kept tables named in pg-prefix) and
    the same query mix under the same filters, with highlights, without and with the four facets."""
    from sqlalchemy import create_engine

    from search.pg import PgSearchIndex

    pg = _bench("search_pg")
    engine = create_engine(args.dsn)
    marker = work / "pg-prefix"
    if args.reuse and marker.is_file():
        prefix = marker.read_text().strip()
        index = PgSearchIndex.open(engine, prefix=prefix)
        builds["postgres"] = {"docs": size, "reused": True, "bytes": pg_bytes(engine, index)}
    else:
        prefix = f"bench{os.getpid()}n{size}_"
        b = pg.build_pg(engine, prefix, size, words)
        marker.write_text(prefix)
        index = b.pop("index")
        builds["postgres"] = {"docs": b["docs"], "seconds": b["seconds"], "generation_seconds": 0.0,
                              "cpu_seconds": b["cpu"] + b["server_cpu"], "generation_cpu_seconds": 0.0,
                              "bytes": b["bytes"], "peak_rss_mb": peak_rss_kb() / 1024}
        pg.print_build("postgres", {**b, "cpu": b["cpu"]})
    print(f"  postgres built or reused ({_load()})", flush=True)
    for facets in (False, True):
        warm, cold, by_query = pg.timings(index.search, queries, args.repeat, facets)
        measured["postgres+facets" if facets else "postgres"] = (warm, cold, [], by_query)
    if not (args.keep or args.reuse):
        index.drop()
        marker.unlink()
    engine.dispose()


def pg_bytes(engine, index) -> int:  # noqa: ANN001
    from sqlalchemy import text

    with engine.connect() as c:
        return c.execute(text("SELECT pg_total_relation_size(:d) + pg_total_relation_size(:t)"),
                         {"d": index.docs, "t": index.terms}).scalar_one()


# -- the same queries through the HTTP API (two gunicorn workers) --------------------------------------

READER_SUBTREES = ("1", "9", "17")  # the clerk's three subtrees of the in-process mix


def http_users(data_dir: Path) -> dict[str, str]:
    """API tokens of an auditor (the whole tree) and of a reader with the Reader role on three subtrees."""
    from datetime import timedelta

    from sqlalchemy import select

    from dms.config import Settings
    from dms.documents import sharing
    from dms.models import Folder
    from dms.people import sessions, users
    from dms.runtime import Runtime

    rt = Runtime(Settings.from_env(_app_env(data_dir)))
    tokens = {}
    with rt.db.session() as s:
        for login, roles in (("bench-auditor", ["Auditor"]), ("bench-reader", [])):
            user = s.scalars(select(users.User).where(users.User.login == login)).first() \
                or users.create_user(s, login, "bench-password-123", roles)
            if login == "bench-reader":
                for f in READER_SUBTREES:
                    sharing.grant(s, None, s.get(Folder, BASE_ID + int(f)), f"user:{user.id}", "Reader")
            tokens[login] = sessions.issue_token(s, user, timedelta(hours=6))[0]
    rt.close()
    return tokens


def measure_http(data_dir: Path, size: int, queries: list[str], repeat: int) -> None:
    """GET /api/v1/search (permission filter, highlights, facets and suggestions as the API always asks) of the
    archive `dms reindex` indexed, served by `dms serve --workers 2`: one client's latency per query, then four
    clients at once for the throughput, and the server's CPU per request."""
    import http.client
    import socket
    import threading
    from urllib.parse import urlencode

    tokens = http_users(data_dir)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**_app_env(data_dir), "DMS_SECRET_KEY": "bench"}
    server = subprocess.Popen([sys.executable, "-m", "dms", "serve", "--port", str(port), "--workers", "2",
                               "--no-indexer"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

        def ask(conn: http.client.HTTPConnection, token: str, q: str) -> dict:
            conn.request("GET", "/api/v1/search?" + urlencode({"q": q, "page_size": 10}),
                         headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise SystemExit(f"GET /api/v1/search?q={q} answered {resp.status}: {body[:300]!r}")
            return json.loads(body)

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        # The first pass: each user's first query of each kind (the in-process figures leave the first run out too,
        # as "cold max"). Each request goes to one of the two workers, so a worker may still meet a query or a
        # user's filter for the first time in the timed rounds: those count.
        first = time.perf_counter()
        hits: dict[str, int] = {}
        for name, token in tokens.items():
            for q in queries:
                total = ask(conn, token, q)["total"]
                if name == "bench-auditor":
                    hits[q] = total
        first = time.perf_counter() - first
        times: list[float] = []
        by_query: dict[str, list[float]] = {q: [] for q in queries}
        for _ in range(repeat):
            for token in tokens.values():
                for q in queries:
                    t = time.perf_counter()
                    ask(conn, token, q)
                    elapsed = time.perf_counter() - t
                    times.append(elapsed)
                    by_query[q].append(elapsed)
        conn.close()
        done = [0] * 4
        deadline = time.monotonic() + 20

        def client(i: int) -> None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            token = list(tokens.values())[i % 2]
            while time.monotonic() < deadline:
                ask(c, token, queries[(done[i] + i) % len(queries)])
                done[i] += 1
            c.close()

        server_cpu = _bench("verify").server_cpu_s
        cpu = server_cpu(server.pid)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.perf_counter() - t0, server_cpu(server.pid) - cpu
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"\nHTTP GET /api/v1/search, {size:,} documents, `dms serve --workers 2` (gunicorn), SQLite archive:"
          f" first pass of the mix for each user (cold workers) {first:.1f} s; one client, {len(times)} requests"
          f" (auditor + reader on 3 subtrees, facets + highlights + suggestions): p50 {_ms(times, 50):.1f} ms,"
          f" p95 {_ms(times, 95):.1f} ms, max {max(times) * 1000:.0f} ms; 4 clients: {sum(done) / wall:.1f}"
          f" requests/s, server CPU {1000 * cpu / max(sum(done), 1):.1f} ms per request; load average {_load()}")
    print("  per query p50 / p95 ms (auditor's hits): " + "; ".join(
        f"{q[:24]} {_ms(by_query[q], 50):.0f}/{_ms(by_query[q], 95):.0f} ({hits[q]})" for q in queries))


def per_query(directory: Path, queries: list[str], measured: dict) -> None:
    """p50/p95 of each query of the mix (3 permission filters x the timed rounds), both engines."""
    from search.index import SearchIndex
    from search.query import SearchRequest, search

    index = SearchIndex.open(directory)
    allowed = permission_filters()["auditor(whole tree)"]
    names = [n for n in ("ours", "baseline", "postgres") if n in measured]
    heads = {"ours": "search/", "baseline": "Whoosh", "postgres": "PostgreSQL"}
    print("\nper query (all filters, warm rounds), p50 / p95 ms:  "
          + "  ".join(f"{heads[n]:>16}" for n in names) + "   auditor's hits")
    for q in queries:
        total = search(index, SearchRequest(q=q, allowed=allowed, page_size=10)).total
        cells = "".join(f"{_ms(measured[n][3][q], 50):>9.1f} /{_ms(measured[n][3][q], 95):>7.1f}" for n in names)
        print(f"  {q[:34]:<36}{cells}{total:>10}")


def report(count: int, builds: dict, measured: dict, mix: int) -> None:
    print()
    print(f"{'engine':<26}{'docs/s':>9}{'docs/CPU-s':>12}{'KB/doc':>9}{'build RSS MB':>14}")
    names = {"ours": "search/ (rebuild)", "baseline": "Whoosh defaults", "postgres": "PostgreSQL (search/pg.py)"}
    for name, b in builds.items():
        label = names[name]
        if b["docs"] != count:
            label = f"{label} ({b['docs']})"
        if b.get("reused"):
            print(f"{label:<26}{'reused':>9}{'':>12}{b['bytes'] / b['docs'] / 1024:>9.2f}{'':>14}")
            continue
        rate = b["docs"] / max(b["seconds"] - b["generation_seconds"], 1e-9)
        cpu_rate = f"{b['docs'] / max(b['cpu_seconds'] - b['generation_cpu_seconds'], 1e-9):.0f}"
        print(f"{label:<26}{rate:>9.0f}{cpu_rate:>12}{b['bytes'] / b['docs'] / 1024:>9.2f}"
              f"{b['peak_rss_mb']:>14.0f}")
    if builds["ours"].get("reindex"):
        print("(search/ is `dms reindex`: reading the archive's rows and cached texts from SQLite included;"
              " its RSS is the command's VmHWM; PostgreSQL's rate counts its server process's CPU)")
    elif not builds["ours"].get("reused"):
        print("(docs/s and docs/CPU-s exclude generating the synthetic documents: "
              f"{builds['ours']['generation_seconds']:.1f} s wall, {builds['ours']['generation_cpu_seconds']:.1f} s"
              f" CPU for {count}, measured on {builds['ours']['generated']} and scaled; PostgreSQL's include them"
              " and count its server process's CPU; its RSS is this process's)")
    print()
    print(f"query mix: {mix} queries x 3 permission filters, page of 10 with highlights")
    print(f"{'engine':<26}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'cold max':>10}"
          f"{'CPU p50':>9}{'CPU p95':>9}")
    labels = {"ours": "search/", "ours+facets": "search/ + 4 facets", "baseline": "Whoosh defaults",
              "postgres": "PostgreSQL", "postgres+facets": "PostgreSQL + 4 facets"}
    for name, (times, cold, cpu, _) in measured.items():
        cpu_cells = f"{_ms(cpu, 50):>9.1f}{_ms(cpu, 95):>9.1f}" if cpu else f"{'':>9}{'':>9}"
        print(f"{labels[name]:<26}{_ms(times, 50):>9.1f}{_ms(times, 95):>9.1f}{max(times) * 1000:>9.1f}"
              f"{cold * 1000:>10.1f}{cpu_cells}")
    ours, base = measured["ours"][0], measured["baseline"][0]
    print(f"\np95 ratio search/ : Whoosh defaults = {percentile(ours, 95) / percentile(base, 95):.2f}")
    print(f"load average now: {_load()}")
    print("targets: p95 <= 100 ms, >= 500 docs/s, <= 6 KB/doc, rebuild RSS <= 1 GB, cold first phrase <= 200 ms")


if __name__ == "__main__":
    main()
