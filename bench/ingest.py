"""Ingest throughput: 1,000 small PDFs through the service layer's batch filing
(dms.documents.ingest: sniff and store each file, then document + version + audit + outbox of up to 100 stored
files in one transaction, a savepoint each), on the filesystem store and over S3 (moto's server on loopback).

    .venv/bin/python bench/ingest.py [--docs 1000] [--stores fs,s3] [--database sqlite|URL]

Prints documents per second for each store, and the raw store put rate beside it as the baseline (the cost
of the archive's rules on top of bare object writes), the recording's CPU time per document (the transactions' thread:
load-independent) and the load average.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DMS_ARGON2_PROFILE", "CHEAPEST")

from dms.config import Settings  # noqa: E402
from dms.operations.demo_content import synthetic_documents  # noqa: E402
from dms.pdfrender import render_document_pdf  # noqa: E402
from dms.runtime import Runtime  # noqa: E402
from dms.documents import folders  # noqa: E402
from dms.documents import ingest  # noqa: E402
from dms.operations import setup  # noqa: E402
from dms.people import users  # noqa: E402


def make_pdfs(n: int) -> list[bytes]:
    return [render_document_pdf(spec, deterministic=True) for spec in synthetic_documents(n, seed=7)]


def bench_store(store, pdfs: list[bytes]) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    for data in pdfs:
        store.put(io.BytesIO(data))
    return len(pdfs) / (time.perf_counter() - t0)


def bench_ingest(rt: Runtime, pdfs: list[bytes]) -> tuple[float, float]:
    """Documents per second, and the recording's CPU milliseconds per document: the transactions run in this thread
    (the files are stored by ingest's helper thread), so its CPU time is theirs — a figure the machine's load does
    not change as it changes the rate."""
    with rt.db.session() as s:
        clerk = users.create_user(s, "ingester", "Xq7-archive-pass", ["Clerk"])
        folder = folders.ensure(s, "/Bench")
        clerk_id, folder_id = clerk.id, folder.id
    sources = [ingest.Source(f"doc-{i}.pdf", f"doc-{i}.pdf", f"Документ {i}", partial(io.BytesIO, data))
               for i, data in enumerate(pdfs)]
    t0, cpu0 = time.perf_counter(), time.thread_time()
    results = list(ingest.ingest_sources(rt, clerk_id, folder_id, "order", sources))
    wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    errors = [r for r in results if r.get("error")]
    assert not errors and len(results) == len(pdfs), errors[:3]
    return len(pdfs) / wall, 1000 * cpu / len(pdfs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--stores", default="fs,s3")
    ap.add_argument("--database", default="sqlite", help="sqlite or a PostgreSQL URL (an empty database)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    pdfs = make_pdfs(args.docs)
    print(f"rendered {len(pdfs)} one-page PDFs ({sum(map(len, pdfs)) / len(pdfs) / 1024:.1f} KB each) "
          f"in {time.perf_counter() - t0:.1f} s")
    for store_kind in args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            stop = None
            if store_kind == "s3":
                from tests.s3server import start_moto_s3
                url, stop = start_moto_s3("bench")
                raw_url = url.replace("/bench?", "/bench-raw?")
                from tests.s3server import MotoS3Server  # noqa: F401
                from minio import Minio  # noqa: F401
            else:
                url = (Path(tmp) / "objects").as_uri()
                raw_url = (Path(tmp) / "raw").as_uri()
            try:
                db_url = f"sqlite:///{tmp}/bench.sqlite3" if args.database == "sqlite" else args.database
                rt = Runtime(Settings(data_dir=Path(tmp), database_url=db_url, storage_url=url,
                                      index_dir=Path(tmp) / "index", secret_key="bench"))
                setup.initialise(rt)
                if store_kind == "s3":
                    rt.store._client.make_bucket("bench-raw")  # type: ignore[attr-defined]  # the baseline's own bucket on the same server
                from storage import open_store
                raw_rate = bench_store(open_store(raw_url), pdfs)
                rate, cpu_ms = bench_ingest(rt, pdfs)
                rt.close()
            finally:
                if stop:
                    stop()
        print(f"{store_kind:>3}: ingest {rate:7.1f} documents/s   (baseline: bare store.put {raw_rate:7.1f} objects/s; "
              f"archive rules cost {100 * (1 - rate / raw_rate):.0f}% of it); recording {cpu_ms:.2f} ms CPU per "
              f"document; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
